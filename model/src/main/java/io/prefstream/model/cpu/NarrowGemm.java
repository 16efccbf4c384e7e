package io.prefstream.model.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * C[m, r] (+)= A[m, K]·Wᵀ for a weight W[r, K] with few rows (r ≤ {@value #MAX_OUT}: a LoRA A factor),
 * as r dot products per row of A, vectorised along K.
 *
 * <p>{@link Gemm} vectorises along the output columns, which for r = 8 fills half a 16-lane vector
 * and leaves one fma chain per row 576 (K) steps long: a decode step of one sequence waited on that
 * chain's latency for every A factor of every layer (in a profile of 8 adapters served at once, 17%
 * of the step). Here each element is the sum over its lanes, left to right, of per-lane fma chains
 * over k ≡ lane (mod L), each lane starting from 0; then added to C when accumulating. That depends
 * on K alone, never on m, r or the thread count, so a row's result is the same in any batch.
 */
final class NarrowGemm {
  static final int MAX_OUT = 32;
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final int ROWS_PER_TASK = 64;

  private NarrowGemm() {}

  /** Whether this kernel computes x·Wᵀ for weight w and an A of column stride acs. */
  static boolean applies(CpuBuf w, int acs) {
    return !w.packed && w.out <= MAX_OUT && acs == 1;
  }

  /** A(i,k) at a[aOff + i*ars + k]; C(i,j) at c[cOff + i*ldc + j]. */
  static void gemmWt(WorkerPool pool, float[] c, int cOff, int ldc, float[] a, int aOff, int ars, CpuBuf w, int m,
      boolean accumulate) {
    if (m <= ROWS_PER_TASK) {
      rows(c, cOff, ldc, a, aOff, ars, w, 0, m, accumulate);
      return;
    }
    pool.forEach((m + ROWS_PER_TASK - 1) / ROWS_PER_TASK, t -> {
      int i0 = t * ROWS_PER_TASK;
      rows(c, cOff, ldc, a, aOff, ars, w, i0, Math.min(m, i0 + ROWS_PER_TASK), accumulate);
    });
  }

  private static void rows(float[] c, int cOff, int ldc, float[] a, int aOff, int ars, CpuBuf w, int i0, int i1,
      boolean accumulate) {
    int r = w.out, k = w.in;
    for (int i = i0; i < i1; i++) {
      int xo = aOff + i * ars, co = cOff + i * ldc;
      int j = 0;
      for (; j + 4 <= r; j += 4) dot4(c, co + j, a, xo, w.a, j * k, k, accumulate);
      for (; j < r; j++) dot1(c, co + j, a, xo, w.a, j * k, k, accumulate);
    }
  }

  /** c[co..co+3] (+)= x·W[j..j+3] for the 4 weight rows starting at wo, one accumulator each. */
  private static void dot4(float[] c, int co, float[] x, int xo, float[] wt, int wo, int k, boolean accumulate) {
    FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
    int kb = 0;
    for (; kb <= k - L; kb += L) {
      FloatVector xv = FloatVector.fromArray(S, x, xo + kb);
      a0 = xv.fma(FloatVector.fromArray(S, wt, wo + kb), a0);
      a1 = xv.fma(FloatVector.fromArray(S, wt, wo + k + kb), a1);
      a2 = xv.fma(FloatVector.fromArray(S, wt, wo + 2 * k + kb), a2);
      a3 = xv.fma(FloatVector.fromArray(S, wt, wo + 3 * k + kb), a3);
    }
    if (kb < k) { // the last partial vector: masked lanes load 0 and add 0·0
      VectorMask<Float> m = S.indexInRange(kb, k);
      FloatVector xv = FloatVector.fromArray(S, x, xo + kb, m);
      a0 = xv.fma(FloatVector.fromArray(S, wt, wo + kb, m), a0);
      a1 = xv.fma(FloatVector.fromArray(S, wt, wo + k + kb, m), a1);
      a2 = xv.fma(FloatVector.fromArray(S, wt, wo + 2 * k + kb, m), a2);
      a3 = xv.fma(FloatVector.fromArray(S, wt, wo + 3 * k + kb, m), a3);
    }
    float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
    for (int l = 0; l < L; l++) {
      s0 += a0.lane(l);
      s1 += a1.lane(l);
      s2 += a2.lane(l);
      s3 += a3.lane(l);
    }
    if (accumulate) {
      c[co] += s0;
      c[co + 1] += s1;
      c[co + 2] += s2;
      c[co + 3] += s3;
    } else {
      c[co] = s0;
      c[co + 1] = s1;
      c[co + 2] = s2;
      c[co + 3] = s3;
    }
  }

  /** {@link #dot4} for one weight row: the same arithmetic for its element. */
  private static void dot1(float[] c, int co, float[] x, int xo, float[] wt, int wo, int k, boolean accumulate) {
    FloatVector a0 = FloatVector.zero(S);
    int kb = 0;
    for (; kb <= k - L; kb += L) a0 = FloatVector.fromArray(S, x, xo + kb).fma(FloatVector.fromArray(S, wt, wo + kb), a0);
    if (kb < k) {
      VectorMask<Float> m = S.indexInRange(kb, k);
      a0 = FloatVector.fromArray(S, x, xo + kb, m).fma(FloatVector.fromArray(S, wt, wo + kb, m), a0);
    }
    float s0 = 0f;
    for (int l = 0; l < L; l++) s0 += a0.lane(l);
    c[co] = accumulate ? c[co] + s0 : s0;
  }
}
