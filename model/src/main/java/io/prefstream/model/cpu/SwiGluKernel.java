package io.prefstream.model.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** SwiGLU gate: h = silu(g)·u with silu(g) = g·σ(g), elementwise, and its backward. */
final class SwiGluKernel {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final int CHUNK = 64 * L;
  /** e^-g for one task's chunk (outputs may alias inputs, so it cannot go in h or dg first). */
  private static final ThreadLocal<float[]> NEG_EXP = ThreadLocal.withInitial(() -> new float[CHUNK]);

  private SwiGluKernel() {}

  static void forward(WorkerPool pool, float[] h, float[] g, float[] u, int n) {
    pool.forEach((n + CHUNK - 1) / CHUNK, t -> {
      int i = t * CHUNK, end = Math.min(n, i + CHUNK);
      float[] e = NEG_EXP.get();
      VecMath.expAffine(g, i, e, 0, end - i, -1f, 0f);
      int i0 = i;
      for (; i <= end - L; i += L) {
        FloatVector gv = FloatVector.fromArray(S, g, i);
        FloatVector sig = FloatVector.broadcast(S, 1f).div(FloatVector.fromArray(S, e, i - i0).add(1f));
        gv.mul(sig).mul(FloatVector.fromArray(S, u, i)).intoArray(h, i);
      }
      for (; i < end; i++) {
        float sig = 1f / (e[i - i0] + 1f);
        h[i] = g[i] * sig * u[i];
      }
    });
  }

  /** dg = dh·u·σ(g)·(1 + g·(1 − σ(g))), du = dh·silu(g). */
  static void backward(WorkerPool pool, float[] dg, float[] du, float[] dh, float[] g, float[] u, int n) {
    pool.forEach((n + CHUNK - 1) / CHUNK, t -> {
      int i = t * CHUNK, end = Math.min(n, i + CHUNK);
      float[] e = NEG_EXP.get();
      VecMath.expAffine(g, i, e, 0, end - i, -1f, 0f);
      int i0 = i;
      FloatVector one = FloatVector.broadcast(S, 1f);
      for (; i <= end - L; i += L) {
        FloatVector gv = FloatVector.fromArray(S, g, i);
        FloatVector sig = one.div(FloatVector.fromArray(S, e, i - i0).add(1f));
        FloatVector dhv = FloatVector.fromArray(S, dh, i);
        dhv.mul(gv.mul(sig)).intoArray(du, i);
        FloatVector dsilu = sig.mul(one.add(gv.mul(one.sub(sig))));
        dhv.mul(FloatVector.fromArray(S, u, i)).mul(dsilu).intoArray(dg, i);
      }
      for (; i < end; i++) {
        float sig = 1f / (e[i - i0] + 1f);
        du[i] = dh[i] * (g[i] * sig);
        dg[i] = dh[i] * u[i] * (sig * (1f + g[i] * (1f - sig)));
      }
    });
  }
}
