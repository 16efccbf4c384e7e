package io.prefstream.learner.optim;

import io.prefstream.model.backend.AdamWCoefficients;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.Buf;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * AdamW with the moments on the compute device: the global gradient norm from the backend's
 * {@code sumSquares}, then one {@code adamwUpdate} per parameter with {@link AdamWCoefficients}, the
 * same scalars and per-element float arithmetic as {@link AdamW}. Nothing crosses to the host during a
 * step (one double per parameter for the norm); the moments are downloaded only when the state is
 * written. The state format is {@link AdamW}'s, so a checkpoint written here loads into either.
 *
 * <p>Checked in {@code DeviceAdamWTest} on the CPU backend's twin ops against {@link AdamW}: bit for bit
 * while no clipping happens (the norm's double sum is grouped per parameter here, in one run there, so
 * a clip factor may differ in its last bit), and the state round-trips between the two.
 */
public final class DeviceAdamW implements Optimizer {
  private final AdamWConfig config;
  private final LrSchedule schedule;
  private final Backend backend;
  private final List<io.prefstream.model.train.Parameter> parameters;
  /** Names and sizes for the state file. */
  private final List<AdamWStateFile.Entry> entries;
  private final boolean[] decay;
  private final List<Buf> firstMoments = new ArrayList<>();
  private final List<Buf> secondMoments = new ArrayList<>();
  private long step;

  public DeviceAdamW(AdamWConfig config, LrSchedule schedule, Backend backend,
      List<io.prefstream.model.train.Parameter> parameters) {
    if (parameters.isEmpty()) throw new IllegalArgumentException("AdamW needs at least one parameter, got none");
    this.config = config;
    this.schedule = schedule;
    this.backend = backend;
    this.parameters = List.copyOf(parameters);
    List<AdamWStateFile.Entry> e = new ArrayList<>();
    this.decay = new boolean[this.parameters.size()];
    for (int i = 0; i < this.parameters.size(); i++) {
      io.prefstream.model.train.Parameter p = this.parameters.get(i);
      e.add(new AdamWStateFile.Entry(p.name(), p.numel()));
      decay[i] = Parameter.decaysByDefault(p.name()); // the rule the trainer's host parameters use
      firstMoments.add(backend.alloc(p.numel()));
      secondMoments.add(backend.alloc(p.numel()));
    }
    this.entries = List.copyOf(e);
  }

  @Override
  public StepResult step() {
    double sumSquares = 0;
    for (io.prefstream.model.train.Parameter p : parameters) sumSquares += backend.sumSquares(p.grad(), p.numel());
    double norm = Math.sqrt(sumSquares);
    if (!Double.isFinite(norm)) return new StepResult(false, step, norm, 0.0, 0.0);
    double scale = GradientNorms.clipScale(norm, config.maxGradNorm());
    double lr = schedule.learningRate(step);
    long t = step + 1;
    for (int i = 0; i < parameters.size(); i++) {
      io.prefstream.model.train.Parameter p = parameters.get(i);
      AdamWCoefficients c = AdamWCoefficients.of(lr, config.beta1(), config.beta2(), config.epsilon(),
          config.weightDecay(), t, scale, decay[i]);
      backend.adamwUpdate(p.value(), p.grad(), firstMoments.get(i), secondMoments.get(i), p.numel(), c);
      p.valueChanged();
    }
    step = t;
    return new StepResult(true, step, norm, scale, lr);
  }

  @Override
  public long stepCount() {
    return step;
  }

  @Override
  public double nextLearningRate() {
    return schedule.learningRate(step);
  }

  @Override
  public float[] firstMoment(String name) {
    return host(firstMoments.get(indexOf(name)), parameters.get(indexOf(name)).numel());
  }

  private float[] host(Buf b, int n) {
    float[] out = new float[n];
    backend.download(b, out);
    return out;
  }

  private int indexOf(String name) {
    for (int i = 0; i < parameters.size(); i++) if (parameters.get(i).name().equals(name)) return i;
    throw new IllegalArgumentException("no parameter named '" + name + "'");
  }

  @Override
  public void writeState(OutputStream out) throws IOException {
    float[][] m = new float[parameters.size()][];
    float[][] v = new float[parameters.size()][];
    for (int i = 0; i < parameters.size(); i++) {
      m[i] = host(firstMoments.get(i), parameters.get(i).numel());
      v[i] = host(secondMoments.get(i), parameters.get(i).numel());
    }
    AdamWStateFile.write(out, step, entries, m, v);
  }

  @Override
  public void readState(InputStream in) throws IOException {
    float[][] m = new float[parameters.size()][];
    float[][] v = new float[parameters.size()][];
    for (int i = 0; i < parameters.size(); i++) {
      m[i] = new float[parameters.get(i).numel()];
      v[i] = new float[parameters.get(i).numel()];
    }
    long loaded = AdamWStateFile.read(in, entries, m, v); // checksum verified before anything changes
    for (int i = 0; i < parameters.size(); i++) {
      backend.upload(firstMoments.get(i), m[i]);
      backend.upload(secondMoments.get(i), v[i]);
    }
    step = loaded;
  }

  @Override
  public void loadState(Path file) throws IOException {
    try (InputStream in = Channels.newInputStream(FileChannel.open(file, StandardOpenOption.READ))) {
      readState(in);
    }
  }
}
