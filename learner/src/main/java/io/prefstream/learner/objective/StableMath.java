package io.prefstream.learner.objective;

/**
 * Numerically stable scalar functions shared by the objectives. Written so that no intermediate
 * overflows for any finite argument: {@code exp} is only ever taken of a non-positive number, which is
 * why the log-sigmoid is computed as a softplus rather than as {@code log(1 / (1 + exp(-x)))}.
 */
public final class StableMath {
  private StableMath() {}

  /** softplus(x) = log(1 + e^x), exact to double rounding for every finite x. */
  public static double softplus(double x) {
    // max(x, 0) + log1p(e^{-|x|}): the exponent is never positive, so nothing overflows.
    return Math.max(x, 0.0) + Math.log1p(Math.exp(-Math.abs(x)));
  }

  /** log σ(x) = −softplus(−x). */
  public static double logSigmoid(double x) {
    return -softplus(-x);
  }

  /** σ(x) = 1 / (1 + e^{−x}), evaluated on the side where the exponential cannot overflow. */
  public static double sigmoid(double x) {
    if (x >= 0) {
      return 1.0 / (1.0 + Math.exp(-x));
    }
    double e = Math.exp(x);
    return e / (1.0 + e);
  }
}
