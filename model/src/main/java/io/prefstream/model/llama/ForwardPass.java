package io.prefstream.model.llama;

import io.prefstream.model.train.GradMode;

/**
 * The result of a forward pass that keeps what its backward needs. Call {@link #backward} at most
 * once, before the model runs any other forward pass (they share the model's workspace).
 */
public final class ForwardPass {
  private final LlamaModel model;
  final LlamaModel.Packed packed;
  final GradMode mode;
  final boolean recompute;
  final long id;
  private final SequenceLogProbs result;
  private boolean done;

  ForwardPass(LlamaModel model, LlamaModel.Packed packed, GradMode mode, boolean recompute,
      long id, SequenceLogProbs result) {
    this.model = model;
    this.packed = packed;
    this.mode = mode;
    this.recompute = recompute;
    this.id = id;
    this.result = result;
  }

  public SequenceLogProbs result() {
    return result;
  }

  /**
   * Accumulates into the parameters' gradients (LoRA or all weights, per the pass's mode) the
   * gradient of a loss whose derivative with respect to sequence i's summed log-prob is
   * {@code dLossDSum[i]}.
   */
  public void backward(double[] dLossDSum) {
    if (done) throw new IllegalStateException("backward already ran for this pass");
    if (dLossDSum.length != result.size()) {
      throw new IllegalArgumentException("expected one gradient per sequence (" + result.size() + "), got " + dLossDSum.length);
    }
    model.backward(this, dLossDSum);
    done = true;
  }
}
