package io.prefstream.model.cpu;

import io.prefstream.model.backend.SeqLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal grouped-query attention, float32 softmax with scale 1/sqrt(hd). q[n, H·hd], k/v[n, KV·hd]
 * packed by {@link SeqLayout}; query head h reads kv head h / (H/KV). Forward runs one task per
 * (sequence, query head); backward one task per (sequence, kv head) so that each task owns the dk/dv
 * rows it accumulates and sums the group's heads in a fixed order. Scores are vectorised over keys
 * against a transposed copy of K, so every score is one in-order fma chain over the head dimension.
 * Backward recomputes the probabilities from the saved log-sum-exp (flash-attention style).
 */
final class AttentionKernel {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  /** Per-thread scratch, grown on demand, so the hot loops never allocate. */
  private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[6][0]);

  private AttentionKernel() {}

  private static float[] scratch(int slot, int size) {
    float[][] s = SCRATCH.get();
    if (s[slot].length < size) s[slot] = new float[Math.max(size, s[slot].length * 2)];
    return s[slot];
  }

  static void forward(WorkerPool pool, float[] out, float[] lse, float[] q, float[] k, float[] v,
      SeqLayout layout, int heads, int kvHeads, int hd) {
    int group = heads / kvHeads;
    float scale = (float) (1.0 / Math.sqrt(hd));
    int qd = heads * hd, kd = kvHeads * hd;
    pool.forEach(layout.sequences() * heads, task -> {
      int s = task / heads, h = task % heads, kvh = h / group;
      int st = layout.start(s), len = layout.length(s);
      int tp = roundUp(len);
      float[] kt = transpose(0, k, st, len, kd, kvh * hd, hd, tp);
      float[] sc = scratch(1, tp);
      for (int i = 0; i < len; i++) {
        int qo = (st + i) * qd + h * hd; // query row i, head h
        int keys = i + 1;
        scores(sc, kt, tp, q, qo, hd, keys, scale);
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < keys; j++) max = Math.max(max, sc[j]);
        float sum = expInPlace(sc, keys, max);
        lse[(st + i) * heads + h] = max + (float) Math.log(sum);
        float inv = 1f / sum;
        for (int j = 0; j < keys; j++) sc[j] *= inv;
        weightedSum(out, (st + i) * qd + h * hd, sc, keys, v, st * kd + kvh * hd, kd, hd);
      }
    });
  }

  static void backward(WorkerPool pool, float[] dq, float[] dk, float[] dv, float[] dOut, float[] out, float[] lse,
      float[] q, float[] k, float[] v, SeqLayout layout, int heads, int kvHeads, int hd) {
    int group = heads / kvHeads;
    float scale = (float) (1.0 / Math.sqrt(hd));
    int qd = heads * hd, kd = kvHeads * hd;
    pool.forEach(layout.sequences() * kvHeads, task -> {
      int s = task / kvHeads, kvh = task % kvHeads;
      int st = layout.start(s), len = layout.length(s);
      int tp = roundUp(len);
      float[] kt = transpose(0, k, st, len, kd, kvh * hd, hd, tp);
      float[] vt = transpose(2, v, st, len, kd, kvh * hd, hd, tp);
      float[] p = scratch(1, tp);
      float[] dp = scratch(3, tp);
      float[] dkl = scratch(4, len * hd);
      float[] dvl = scratch(5, len * hd);
      java.util.Arrays.fill(dkl, 0, len * hd, 0f);
      java.util.Arrays.fill(dvl, 0, len * hd, 0f);
      for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        for (int i = 0; i < len; i++) {
          int qo = (st + i) * qd + h * hd; // row i, head h in q, out, dOut, dq
          int keys = i + 1;
          scores(p, kt, tp, q, qo, hd, keys, scale);
          float rowLse = lse[(st + i) * heads + h];
          for (int j = 0; j < keys; j++) p[j] = VecMath.exp(p[j] - rowLse);
          scores(dp, vt, tp, dOut, qo, hd, keys, 1f);
          float dsum = 0f; // Σ_d dO·O = Σ_j p_j·dp_j
          for (int d = 0; d < hd; d++) dsum += dOut[qo + d] * out[qo + d];
          for (int j = 0; j < keys; j++) dp[j] = p[j] * (dp[j] - dsum) * scale; // dp now holds d(score)
          weightedSum(dq, qo, dp, keys, k, st * kd + kvh * hd, kd, hd);
          for (int j = 0; j < keys; j++) {
            axpy(dkl, j * hd, dp[j], q, qo, hd);
            axpy(dvl, j * hd, p[j], dOut, qo, hd);
          }
        }
      }
      for (int j = 0; j < len; j++) {
        System.arraycopy(dkl, j * hd, dk, (st + j) * kd + kvh * hd, hd);
        System.arraycopy(dvl, j * hd, dv, (st + j) * kd + kvh * hd, hd);
      }
    });
  }

  /** Queries at absolute positions past..past+n-1 over cache rows 0..past+i. */
  static void cached(WorkerPool pool, float[] out, float[] q, float[] kc, float[] vc, int past, int n,
      int heads, int kvHeads, int hd) {
    int group = heads / kvHeads;
    float scale = (float) (1.0 / Math.sqrt(hd));
    int qd = heads * hd, kd = kvHeads * hd;
    int total = past + n;
    pool.forEach(heads, h -> {
      int kvh = h / group;
      int tp = roundUp(total);
      float[] kt = transpose(0, kc, 0, total, kd, kvh * hd, hd, tp);
      float[] sc = scratch(1, tp);
      for (int i = 0; i < n; i++) {
        int qo = i * qd + h * hd;
        int keys = past + i + 1;
        scores(sc, kt, tp, q, qo, hd, keys, scale);
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < keys; j++) max = Math.max(max, sc[j]);
        float inv = 1f / expInPlace(sc, keys, max);
        for (int j = 0; j < keys; j++) sc[j] *= inv;
        weightedSum(out, qo, sc, keys, vc, kvh * hd, kd, hd);
      }
    });
  }

  /** Copies rows st..st+len of one head ([len, hd] at stride rowStride) into [hd, tp], zero-padded. */
  private static float[] transpose(int slot, float[] src, int st, int len, int rowStride, int headOff, int hd, int tp) {
    float[] t = scratch(slot, hd * tp);
    for (int j = 0; j < len; j++) {
      int o = (st + j) * rowStride + headOff; // row j of this head
      for (int d = 0; d < hd; d++) t[d * tp + j] = src[o + d];
    }
    for (int d = 0; d < hd; d++) java.util.Arrays.fill(t, d * tp + len, d * tp + tp, 0f);
    return t;
  }

  /** dst[j] = scale · Σ_d x[xo+d]·t[d, j] for j < keys (vectorised over j, in-order over d). */
  private static void scores(float[] dst, float[] t, int tp, float[] x, int xo, int hd, int keys, float scale) {
    for (int jb = 0; jb < keys; jb += L) {
      FloatVector acc = FloatVector.zero(S);
      for (int d = 0; d < hd; d++) {
        acc = FloatVector.fromArray(S, t, d * tp + jb).fma(FloatVector.broadcast(S, x[xo + d]), acc);
      }
      acc.mul(scale).intoArray(dst, jb);
    }
  }

  /** x[j] = exp(x[j] − max) for j < n; returns Σ x[j] in a fixed order. */
  private static float expInPlace(float[] x, int n, float max) {
    FloatVector acc = FloatVector.zero(S);
    int j = 0;
    for (; j <= n - L; j += L) {
      FloatVector e = VecMath.exp(FloatVector.fromArray(S, x, j).sub(max));
      e.intoArray(x, j);
      acc = acc.add(e);
    }
    float sum = VecMath.sumLanes(acc);
    for (; j < n; j++) {
      x[j] = VecMath.exp(x[j] - max);
      sum += x[j];
    }
    return sum;
  }

  /** dst[do..do+hd) = Σ_j w[j]·src[so + j·stride ..] for j < n (vectorised over the head dim). */
  private static void weightedSum(float[] dst, int dOff, float[] w, int n, float[] src, int so, int stride, int hd) {
    for (int d = 0; d < hd; d += L) {
      VectorMask<Float> m = S.indexInRange(d, hd);
      FloatVector acc = FloatVector.zero(S);
      int o = so + d;
      for (int j = 0; j < n; j++, o += stride) {
        acc = FloatVector.fromArray(S, src, o, m).fma(FloatVector.broadcast(S, w[j]), acc);
      }
      acc.intoArray(dst, dOff + d, m);
    }
  }

  /** y[yo..yo+hd) += a·x[xo..xo+hd). */
  private static void axpy(float[] y, int yo, float a, float[] x, int xo, int hd) {
    FloatVector av = FloatVector.broadcast(S, a);
    for (int d = 0; d < hd; d += L) {
      VectorMask<Float> m = S.indexInRange(d, hd);
      FloatVector.fromArray(S, x, xo + d, m).fma(av, FloatVector.fromArray(S, y, yo + d, m)).intoArray(y, yo + d, m);
    }
  }

  private static int roundUp(int n) {
    return (n + L - 1) / L * L;
  }
}
