package io.prefstream.learner.optim;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;

/**
 * What the trainer needs of its optimiser: one update from the gradients in place, a step count,
 * and the state in the checksummed optimiser-state format ({@link AdamWStateFile}), so checkpoints
 * do not depend on where the optimiser runs. {@link AdamW} works on host arrays (the CPU backend's own
 * buffers); {@link DeviceAdamW} keeps its moments on the compute device, so a GPU step moves no
 * weights or gradients to the host.
 */
public interface Optimizer {
  /** One update; {@code applied} false (nothing touched) when a gradient is not finite. */
  StepResult step();

  long stepCount();

  /** The learning rate the next step will use. */
  double nextLearningRate();

  /** A copy of the first moment m of the named parameter. */
  float[] firstMoment(String name);

  void writeState(OutputStream out) throws IOException;

  /** Replaces the state; a corrupt or mismatched input leaves it as it was and throws. */
  void readState(InputStream in) throws IOException;

  /** Reads the state from a checkpoint file. */
  void loadState(Path file) throws IOException;
}
