package io.prefstream.model.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** RMSNorm forward/backward over rows of [n, c]: out = x · rstd · w, rstd = 1/sqrt(mean(x²)+eps). */
final class RmsNormKernel {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final int ROWS_PER_TASK = 8;

  private RmsNormKernel() {}

  static void forward(WorkerPool pool, float[] out, float[] rstd, float[] x, float[] w, int n, int c, float eps) {
    pool.forEach(tasks(n), t -> {
      for (int i = t * ROWS_PER_TASK, end = Math.min(n, i + ROWS_PER_TASK); i < end; i++) {
        int o = i * c; // row i of x and out
        float r = (float) (1.0 / Math.sqrt(sumSquares(x, o, c) / c + eps));
        rstd[i] = r;
        int j = 0;
        FloatVector rv = FloatVector.broadcast(S, r);
        for (; j <= c - L; j += L) {
          FloatVector.fromArray(S, x, o + j).mul(rv).mul(FloatVector.fromArray(S, w, j)).intoArray(out, o + j);
        }
        for (; j < c; j++) out[o + j] = x[o + j] * r * w[j];
      }
    });
  }

  /** dx += rstd·(dxhat − xhat·mean(dxhat·xhat)) with dxhat = dOut·w, xhat = x·rstd; dw += Σ dOut·xhat. */
  static void backward(WorkerPool pool, float[] dx, float[] dw, float[] dOut, float[] x, float[] w, float[] rstd, int n, int c) {
    pool.forEach(tasks(n), t -> {
      for (int i = t * ROWS_PER_TASK, end = Math.min(n, i + ROWS_PER_TASK); i < end; i++) {
        int o = i * c;
        float r = rstd[i];
        float dot = 0f; // Σ dxhat·xhat, in column order
        for (int j = 0; j < c; j++) dot += dOut[o + j] * w[j] * (x[o + j] * r);
        float mean = dot / c;
        for (int j = 0; j < c; j++) {
          float xhat = x[o + j] * r;
          dx[o + j] += r * (dOut[o + j] * w[j] - xhat * mean);
        }
      }
    });
    if (dw == null) return;
    // dw: one task per column block, rows summed in order, so the result is thread-count independent.
    int blocks = (c + L - 1) / L;
    pool.forEach(blocks, b -> {
      int j0 = b * L, j1 = Math.min(c, j0 + L);
      for (int i = 0; i < n; i++) {
        int o = i * c;
        float r = rstd[i];
        for (int j = j0; j < j1; j++) dw[j] += dOut[o + j] * (x[o + j] * r);
      }
    });
  }

  private static float sumSquares(float[] x, int o, int c) {
    FloatVector acc = FloatVector.zero(S);
    int j = 0;
    for (; j <= c - L; j += L) {
      FloatVector v = FloatVector.fromArray(S, x, o + j);
      acc = v.fma(v, acc);
    }
    float s = VecMath.sumLanes(acc);
    for (; j < c; j++) s += x[o + j] * x[o + j];
    return s;
  }

  private static int tasks(int n) {
    return (n + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
  }
}
