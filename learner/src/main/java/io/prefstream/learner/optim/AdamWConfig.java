package io.prefstream.learner.optim;

/**
 * AdamW's hyper-parameters other than the learning rate (which comes from an {@link LrSchedule}):
 * moment decay rates β1 and β2, ε added to the denominator, decoupled weight decay λ (each step
 * multiplies decayed parameters by 1 − lr·λ, as PyTorch's AdamW), and the global gradient-norm clip
 * threshold ({@code Double.POSITIVE_INFINITY} turns clipping off).
 */
public record AdamWConfig(double beta1, double beta2, double epsilon, double weightDecay,
    double maxGradNorm) {
  public AdamWConfig {
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
      throw new IllegalArgumentException("betas = (" + beta1 + ", " + beta2
          + "): expected each in [0, 1)");
    }
    if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
      throw new IllegalArgumentException("epsilon = " + epsilon + ": expected a finite number > 0");
    }
    if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
      throw new IllegalArgumentException("weight decay = " + weightDecay
          + ": expected a finite number >= 0");
    }
    if (!(maxGradNorm > 0)) {
      throw new IllegalArgumentException("max grad norm = " + maxGradNorm
          + ": expected a number > 0 (infinity disables clipping)");
    }
  }

  /** Hugging Face Trainer's defaults: β = (0.9, 0.999), ε = 1e-8, no weight decay, clip at 1.0. */
  public static AdamWConfig defaults() {
    return new AdamWConfig(0.9, 0.999, 1e-8, 0.0, 1.0);
  }

  public AdamWConfig withWeightDecay(double weightDecay) {
    return new AdamWConfig(beta1, beta2, epsilon, weightDecay, maxGradNorm);
  }

  public AdamWConfig withMaxGradNorm(double maxGradNorm) {
    return new AdamWConfig(beta1, beta2, epsilon, weightDecay, maxGradNorm);
  }
}
