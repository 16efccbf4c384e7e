package io.prefstream.learner.trainer;

import io.prefstream.learner.optim.Parameter;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.cpu.CpuBackend;
import java.util.ArrayList;
import java.util.List;

/**
 * Presents the model's trainable tensors to {@link io.prefstream.learner.optim.AdamW}, which works on
 * host float arrays. On the CPU backend the optimiser gets the model's own arrays (no copy) and the
 * backend is told afterwards that they changed (it re-derives its transposed layouts). On other
 * backends the bridge keeps host copies: gradients are downloaded before the update and values
 * uploaded after it.
 */
final class ParameterBridge {
  private final List<io.prefstream.model.train.Parameter> modelParameters;
  private final List<Parameter> optimizerParameters;
  private final boolean shared;

  ParameterBridge(Backend backend, List<io.prefstream.model.train.Parameter> modelParameters) {
    this.modelParameters = List.copyOf(modelParameters);
    this.shared = backend instanceof CpuBackend;
    List<Parameter> out = new ArrayList<>();
    for (io.prefstream.model.train.Parameter p : this.modelParameters) {
      if (shared) {
        out.add(new Parameter(p.name(), CpuBackend.array(p.value()), CpuBackend.array(p.grad())));
      } else {
        out.add(new Parameter(p.name(), p.values(), new float[p.numel()]));
      }
    }
    this.optimizerParameters = List.copyOf(out);
  }

  List<Parameter> optimizerParameters() {
    return optimizerParameters;
  }

  List<io.prefstream.model.train.Parameter> modelParameters() {
    return modelParameters;
  }

  /** Makes the optimiser's gradient arrays hold the model's gradients. */
  void gradientsToHost() {
    if (shared) return;
    for (int i = 0; i < modelParameters.size(); i++) {
      io.prefstream.model.train.Parameter p = modelParameters.get(i);
      float[] g = p.grads();
      System.arraycopy(g, 0, optimizerParameters.get(i).grads(), 0, g.length);
    }
  }

  /** Makes the model use the values the optimiser wrote. */
  void valuesToModel() {
    for (int i = 0; i < modelParameters.size(); i++) {
      io.prefstream.model.train.Parameter p = modelParameters.get(i);
      if (shared) {
        p.valueChanged();
      } else {
        p.set(optimizerParameters.get(i).values());
      }
    }
  }
}
