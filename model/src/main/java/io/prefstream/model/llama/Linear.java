package io.prefstream.model.llama;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.lora.LoraLinear;
import io.prefstream.model.train.GradMode;

/**
 * A projection y = x·Wᵀ (+ b) (+ scaling·(x·Aᵀ)·Bᵀ when a LoRA update is attached), forward and
 * backward. The LoRA intermediate x·Aᵀ is recomputed in backward rather than stored: it is r wide,
 * so recomputing costs a few percent of the base matmul and saves one buffer per projection.
 */
final class Linear {
  final String module;
  final int in;
  final int out;
  final Weight w;
  final Weight bias;
  LoraLinear lora;

  Linear(String module, int in, int out, Weight w, Weight bias) {
    this.module = module;
    this.in = in;
    this.out = out;
    this.w = w;
    this.bias = bias;
  }

  /** y[n,out] (+)= x[n,in]·Wᵀ + b + LoRA; su is an [n, r] scratch. */
  void forward(Backend be, Buf y, Buf x, int n, boolean accumulate, Buf su) {
    be.matmulForward(y, x, w.value, bias == null ? null : bias.value, n, in, out, accumulate);
    if (lora != null) {
      int r = lora.rank();
      be.matmulForward(su, x, lora.a().value(), null, n, in, r, false);
      be.scale(su, (long) n * r, lora.scaling());
      be.matmulForward(y, su, lora.b().value(), null, n, r, out, true);
    }
  }

  /**
   * dx[n,in] (+)= dy·W (+ the LoRA path); parameter gradients per mode. su, sdu are [n, r] scratch.
   */
  void backward(Backend be, Buf dx, Buf dy, Buf x, int n, boolean accumulateDx, GradMode mode, Buf su, Buf sdu) {
    be.matmulBackwardInput(dx, dy, w.value, n, in, out, accumulateDx);
    if (mode == GradMode.FULL) {
      be.matmulBackwardWeight(w.grad, dy, x, n, in, out);
      if (bias != null) be.biasBackward(bias.grad, dy, n, out);
    }
    if (lora != null) {
      int r = lora.rank();
      // dt = scaling·dy·B, the gradient at x·Aᵀ
      be.matmulBackwardInput(sdu, dy, lora.b().value(), n, r, out, false);
      be.scale(sdu, (long) n * r, lora.scaling());
      be.matmulBackwardInput(dx, sdu, lora.a().value(), n, in, r, true);
      if (mode == GradMode.LORA) {
        be.matmulForward(su, x, lora.a().value(), null, n, in, r, false);
        be.scale(su, (long) n * r, lora.scaling());
        be.matmulBackwardWeight(lora.b().grad(), dy, su, n, r, out);
        be.matmulBackwardWeight(lora.a().grad(), sdu, x, n, in, r);
      }
    }
  }
}
