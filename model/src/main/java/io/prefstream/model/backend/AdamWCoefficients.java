package io.prefstream.model.backend;

/**
 * The per-step scalars of an AdamW update (PyTorch's {@code torch.optim.AdamW} arithmetic), formed
 * once in double and used as floats per element, so every backend applies the same update:
 * g ← g·gradScale; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p·decayFactor − stepSize · m / (√v / √(1−β2^t) + ε). {@link #update} is the host twin of the
 * device kernel ({@code adamw.cu}) and performs exactly the float operations of the learner's
 * optimiser, in the same order.
 */
public record AdamWCoefficients(float gradScale, float beta1, float oneMinusBeta1, float beta2,
    float oneMinusBeta2, float stepSize, float biasCorrection2Sqrt, float epsilon, float decayFactor) {

  /**
   * Scalars for update number {@code t} (1-based) at learning rate lr; clipScale multiplies every
   * gradient (1 when the global norm is under the limit); decay says whether this parameter takes
   * weight decay.
   */
  public static AdamWCoefficients of(double lr, double beta1, double beta2, double epsilon,
      double weightDecay, long t, double clipScale, boolean decay) {
    if (t < 1) throw new IllegalArgumentException("AdamW step t is " + t + ", expected >= 1");
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
      throw new IllegalArgumentException("AdamW betas must lie in [0, 1), got " + beta1 + ", " + beta2);
    }
    double bc1 = 1 - Math.pow(beta1, t), bc2 = 1 - Math.pow(beta2, t);
    return new AdamWCoefficients((float) clipScale, (float) beta1, (float) (1 - beta1), (float) beta2,
        (float) (1 - beta2), (float) (lr / bc1), (float) Math.sqrt(bc2), (float) epsilon,
        decay ? (float) (1 - lr * weightDecay) : 1.0f);
  }

  /** The clip factor for a global gradient norm, as the learner forms it: min(1, maxNorm / (norm + 1e-6)). */
  public static double clipScale(double norm, double maxNorm) {
    if (Double.isInfinite(maxNorm)) return 1.0;
    return Math.min(1.0, maxNorm / (norm + 1e-6));
  }

  /** Host twin of the device update: the learner's per-element float arithmetic. */
  public void update(float[] p, float[] g, float[] m, float[] v, int n) {
    for (int k = 0; k < n; k++) {
      float gk = g[k] * gradScale;
      float mk = beta1 * m[k] + oneMinusBeta1 * gk;
      float vk = beta2 * v[k] + oneMinusBeta2 * gk * gk;
      m[k] = mk;
      v[k] = vk;
      float denom = (float) Math.sqrt(vk) / biasCorrection2Sqrt + epsilon;
      p[k] = p[k] * decayFactor - stepSize * mk / denom;
    }
  }

  /** Σ x[i]² for i &lt; n in double, in index order. */
  public static double sumSquares(float[] x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double) x[i] * x[i];
    return s;
  }
}
