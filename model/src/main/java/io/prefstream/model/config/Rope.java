package io.prefstream.model.config;

/**
 * Rotary position embedding of a decoder: base {@code rope_theta} and the scaling variant. The
 * inverse frequency of pair j in a head of size d is {@code scaling.scale(θ^(−2j/d))}, computed in
 * float64 by {@link #inverseFrequencies}, the only place it is computed; {@link RopeTable} turns it
 * into the float32 cos/sin tables both backends use, so CPU and CUDA rotate by identical numbers.
 *
 * @param theta   {@code rope_theta}
 * @param scaling {@code rope_scaling} (or transformers 5's {@code rope_parameters})
 */
public record Rope(double theta, RopeScaling scaling) {
  public Rope {
    if (!(theta > 0) || Double.isInfinite(theta)) throw new IllegalArgumentException("rope_theta must be > 0, got " + theta);
    if (scaling == null) throw new IllegalArgumentException("rope scaling must not be null; use RopeScaling.NONE");
  }

  /** Unscaled RoPE with base {@code theta}. */
  public static Rope unscaled(double theta) {
    return new Rope(theta, RopeScaling.NONE);
  }

  /** Inverse frequencies (radians per position) of the headDim/2 rotated pairs, in float64. */
  public double[] inverseFrequencies(int headDim) {
    if (headDim <= 0 || headDim % 2 != 0) throw new IllegalArgumentException("head_dim must be even and > 0, got " + headDim);
    double[] f = new double[headDim / 2];
    for (int j = 0; j < f.length; j++) f[j] = scaling.scale(Math.pow(theta, -2.0 * j / headDim));
    return f;
  }
}
