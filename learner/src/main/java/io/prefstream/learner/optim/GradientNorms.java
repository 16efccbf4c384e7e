package io.prefstream.learner.optim;

import java.util.List;

/**
 * The global gradient norm across parameters, accumulated in double so that the result does not
 * depend on float rounding of a long sum, and in a fixed order (parameters in list order, elements in
 * index order) so that it is bit-for-bit reproducible. Any NaN or infinite gradient makes the norm
 * non-finite, so one check covers both clipping and the skip-the-batch guard.
 */
public final class GradientNorms {
  private GradientNorms() {}

  /** sqrt(Σ g²) over all gradients of all parameters. */
  public static double globalNorm(List<Parameter> parameters) {
    double sumSquares = 0;
    for (Parameter p : parameters) {
      float[] g = p.grads();
      for (float x : g) {
        sumSquares += (double) x * x;
      }
    }
    return Math.sqrt(sumSquares);
  }

  /**
   * The factor PyTorch's {@code clip_grad_norm_} scales gradients by: min(1, max / (norm + 1e-6)).
   */
  public static double clipScale(double norm, double maxNorm) {
    if (Double.isInfinite(maxNorm)) {
      return 1.0;
    }
    return Math.min(1.0, maxNorm / (norm + 1e-6));
  }
}
