package io.prefstream.model.config;

/**
 * The cos/sin table of a {@link Rope} for positions [0, positions): entry [p, j] (row-major,
 * headDim/2 per row) is cos/sin of p · f_j with f_j from {@link Rope#inverseFrequencies}, the angle
 * taken in float64 and rounded once to float32. Both the CPU kernel and the CUDA backend build
 * their tables here, so their rotations are bit-identical.
 */
public record RopeTable(float[] cos, float[] sin, int positions, int half) {
  /** Builds the table for heads of {@code headDim} at positions 0 … positions − 1. */
  public static RopeTable build(Rope rope, int headDim, int positions) {
    if (positions <= 0) throw new IllegalArgumentException("positions must be > 0, got " + positions);
    double[] invFreq = rope.inverseFrequencies(headDim);
    int half = invFreq.length;
    float[] cos = new float[positions * half], sin = new float[positions * half];
    for (int p = 0; p < positions; p++) {
      for (int j = 0; j < half; j++) {
        double angle = p * invFreq[j];
        cos[p * half + j] = (float) Math.cos(angle);
        sin[p * half + j] = (float) Math.sin(angle);
      }
    }
    return new RopeTable(cos, sin, positions, half);
  }
}
