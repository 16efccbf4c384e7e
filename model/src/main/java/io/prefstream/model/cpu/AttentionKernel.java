package io.prefstream.model.cpu;

import io.prefstream.model.backend.SeqLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal grouped-query attention, float32 softmax with scale 1/sqrt(hd). q[n, H·hd], k/v[n, KV·hd]
 * packed by {@link SeqLayout}; query head h reads kv head h / (H/KV). Queries go in blocks of
 * {@link #RB} rows: scores S = Q·Kᵀ, the causal softmax per row, and P·V are matrix products on
 * the {@link Gemm} kernel (only the diagonal block computes masked scores it then zeroes). Forward
 * runs one task per (sequence, head, block); backward one task per (sequence, kv head), recomputing
 * the probabilities from the saved log-sum-exp (flash-attention style). The KV-cache path for
 * generation handles a few queries at a time with vectorised dot products instead.
 */
final class AttentionKernel {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  /** Query rows per block: scores for a block are one [RB, keys] matrix product. */
  private static final int RB = 64;

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
    int[] first = new int[layout.sequences() + 1]; // first task of each sequence
    for (int s = 0; s < layout.sequences(); s++) first[s + 1] = first[s] + heads * blocks(layout.length(s));
    pool.forEach(first[layout.sequences()], task -> {
      int s = 0;
      while (first[s + 1] <= task) s++;
      int blocks = blocks(layout.length(s)), local = task - first[s];
      int h = local / blocks, kvh = h / group;
      int st = layout.start(s), i0 = (local % blocks) * RB, i1 = Math.min(layout.length(s), i0 + RB);
      int rows = i1 - i0, keys = i1, tp = roundUp(keys);
      float[] kt = transpose(0, k, st, keys, kd, kvh * hd, hd, tp);
      float[] p = scratch(1, rows * tp);
      // S = Q_block·Kᵀ [rows, keys]
      Gemm.serial(p, 0, tp, q, (st + i0) * qd + h * hd, qd, 1, kt, 0, tp, rows, keys, hd, false);
      for (int r = 0; r < rows; r++) {
        lse[(st + i0 + r) * heads + h] = softmaxRow(p, r * tp, i0 + r + 1, keys, scale);
      }
      // out_block = P·V
      Gemm.serial(out, (st + i0) * qd + h * hd, qd, p, 0, tp, 1, v, st * kd + kvh * hd, kd, rows, hd, keys, false);
    });
  }

  /**
   * Backward, one task per (sequence, kv head) so the task owns the dk/dv rows it accumulates over
   * the group's query heads and query blocks in a fixed order. Probabilities are recomputed from
   * the saved log-sum-exp; every product is a {@link Gemm} on the task's thread.
   */
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
      float[] p = scratch(1, Math.min(RB, len) * tp);
      float[] ds = scratch(3, Math.min(RB, len) * tp);
      float[] dkl = scratch(4, len * hd);
      float[] dvl = scratch(5, len * hd);
      java.util.Arrays.fill(dkl, 0, len * hd, 0f);
      java.util.Arrays.fill(dvl, 0, len * hd, 0f);
      for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        for (int i0 = 0; i0 < len; i0 += RB) {
          int i1 = Math.min(len, i0 + RB), rows = i1 - i0, keys = i1;
          int qo = (st + i0) * qd + h * hd; // first row of this block in q, out, dOut, dq
          Gemm.serial(p, 0, tp, q, qo, qd, 1, kt, 0, tp, rows, keys, hd, false);
          Gemm.serial(ds, 0, tp, dOut, qo, qd, 1, vt, 0, tp, rows, keys, hd, false); // dP = dO·Vᵀ
          for (int r = 0; r < rows; r++) {
            int valid = i0 + r + 1, o = r * tp;
            float rowLse = lse[(st + i0 + r) * heads + h];
            float dsum = 0f; // Σ_d dO·O = Σ_j p_j·dp_j
            for (int d = 0; d < hd; d++) dsum += dOut[qo + r * qd + d] * out[qo + r * qd + d];
            probabilities(p, o, valid, keys, scale, rowLse);
            for (int j = 0; j < keys; j++) ds[o + j] = p[o + j] * (ds[o + j] - dsum) * scale; // d(raw score)
          }
          // dQ_block = dS·K; dK += dSᵀ·Q_block; dV += Pᵀ·dO_block
          Gemm.serial(dq, qo, qd, ds, 0, tp, 1, k, st * kd + kvh * hd, kd, rows, hd, keys, false);
          Gemm.serial(dkl, 0, hd, ds, 0, 1, tp, q, qo, qd, keys, hd, rows, true);
          Gemm.serial(dvl, 0, hd, p, 0, 1, tp, dOut, qo, qd, keys, hd, rows, true);
        }
      }
      for (int j = 0; j < len; j++) {
        System.arraycopy(dkl, j * hd, dk, (st + j) * kd + kvh * hd, hd);
        System.arraycopy(dvl, j * hd, dv, (st + j) * kd + kvh * hd, hd);
      }
    });
  }

  /**
   * Turns raw scores x[o..o+keys) into probabilities of softmax(scale·x) over the first
   * {@code valid} keys (the causal ones), zero after; returns the log-sum-exp of scale·x.
   */
  private static float softmaxRow(float[] x, int o, int valid, int keys, float scale) {
    float max = Float.NEGATIVE_INFINITY;
    for (int j = 0; j < valid; j++) {
      x[o + j] *= scale;
      max = Math.max(max, x[o + j]);
    }
    float sum = VecMath.expAffine(x, o, x, o, valid, 1f, max);
    float inv = 1f / sum;
    for (int j = 0; j < valid; j++) x[o + j] *= inv;
    java.util.Arrays.fill(x, o + valid, o + keys, 0f);
    return max + (float) Math.log(sum);
  }

  /** p = exp(scale·x − lse) over the first {@code valid} keys, zero after (backward's recompute). */
  private static void probabilities(float[] x, int o, int valid, int keys, float scale, float lse) {
    VecMath.expAffine(x, o, x, o, valid, scale, lse);
    java.util.Arrays.fill(x, o + valid, o + keys, 0f);
  }

  private static int blocks(int len) {
    return (len + RB - 1) / RB;
  }

  /**
   * KV cache layout on the CPU: keys transposed per kv head, [kvHeads, hd, capacity], so scores
   * vectorise over cached positions without a transpose per step; values row-major [capacity,
   * kvHeads·hd].
   */
  static void append(float[] kc, float[] vc, float[] k, float[] v, int past, int n, int cap, int kvHeads, int hd) {
    append(kc, vc, k, v, 0, past, n, cap, kvHeads, hd);
  }

  /** {@link #append} of rows first..first+n-1 of k and v. */
  static void append(float[] kc, float[] vc, float[] k, float[] v, int first, int past, int n, int cap, int kvHeads, int hd) {
    int kd = kvHeads * hd;
    for (int i = 0; i < n; i++) {
      int row = (first + i) * kd; // token i in k and v
      for (int c = 0; c < kd; c++) kc[c * cap + past + i] = k[row + c]; // c = kvHead·hd + d
      System.arraycopy(v, row, vc, (past + i) * kd, kd);
    }
  }

  /** Positions 0..n-1 of one layer's caches in {@link #append}'s layout into another layer's caches. */
  static void copyPrefix(float[] dstK, float[] dstV, int dstCap, float[] srcK, float[] srcV, int srcCap, int n, int kd) {
    for (int c = 0; c < kd; c++) System.arraycopy(srcK, c * srcCap, dstK, c * dstCap, n); // keys: cap positions a channel
    System.arraycopy(srcV, 0, dstV, 0, n * kd); // values: row-major
  }

  /** Queries at absolute positions past..past+n-1 over cache positions 0..past+i. */
  static void cached(WorkerPool pool, float[] out, float[] q, float[] kc, float[] vc, int past, int n, int cap,
      int heads, int kvHeads, int hd) {
    pool.forEach(heads, h -> cachedHead(out, q, 0, kc, vc, past, n, cap, h, heads, kvHeads, hd));
  }

  /**
   * {@link #append} and {@link #cached} for several sequences in one parallel loop over (sequence,
   * head): sequence s owns rows rowStart[s]..rowStart[s+1]-1 of q, k, v and out, and its own cache.
   */
  static void appendCachedBatch(WorkerPool pool, float[] out, float[] q, float[] k, float[] v, float[][] kcs, float[][] vcs,
      int[] past, int[] cap, int[] rowStart, int heads, int kvHeads, int hd) {
    int b = kcs.length;
    for (int s = 0; s < b; s++) {
      append(kcs[s], vcs[s], k, v, rowStart[s], past[s], rowStart[s + 1] - rowStart[s], cap[s], kvHeads, hd);
    }
    int group = heads / kvHeads;
    if (b * kvHeads >= 4 * pool.threads()) {
      // Enough sequences to balance the threads: one task per (sequence, kv head) runs the query heads
      // that read that kv head one after another, so its keys and values come from memory once (the
      // caches of a batch do not stay in cache between layers) instead of once per query head, and
      // 1/group as many tasks are handed out. Each head's arithmetic is the same either way.
      pool.forEach(b * kvHeads, t -> {
        int s = t / kvHeads, g = t % kvHeads, n = rowStart[s + 1] - rowStart[s];
        for (int h = g * group; h < (g + 1) * group; h++) {
          cachedHead(out, q, rowStart[s], kcs[s], vcs[s], past[s], n, cap[s], h, heads, kvHeads, hd);
        }
      });
      return;
    }
    pool.forEach(b * heads, t -> {
      int s = t / heads;
      cachedHead(out, q, rowStart[s], kcs[s], vcs[s], past[s], rowStart[s + 1] - rowStart[s], cap[s], t % heads, heads, kvHeads, hd);
    });
  }

  /** Head h of query rows first..first+n-1 (positions past..past+n-1) over cache positions 0..past+i. */
  private static void cachedHead(float[] out, float[] q, int first, float[] kc, float[] vc, int past, int n, int cap,
      int h, int heads, int kvHeads, int hd) {
    int kvh = h / (heads / kvHeads);
    float scale = (float) (1.0 / Math.sqrt(hd));
    int qd = heads * hd, kd = kvHeads * hd;
    float[] sc = scratch(1, roundUp(past + n));
    for (int i = 0; i < n; i++) {
      int qo = (first + i) * qd + h * hd;
      int keys = past + i + 1;
      scores(sc, kc, kvh * hd * cap, cap, q, qo, hd, keys, scale);
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < keys; j++) max = Math.max(max, sc[j]);
      float inv = 1f / expInPlace(sc, keys, max);
      for (int j = 0; j < keys; j++) sc[j] *= inv;
      weightedSum(out, qo, sc, keys, vc, kvh * hd, kd, hd);
    }
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

  /**
   * dst[j] = scale · Σ_d x[xo+d]·t[tOff + d·tp + j] for j < keys (rounded up to whole vectors,
   * which t must hold), vectorised over j. Four accumulators take
   * d = 0,1,2,3 mod 4 (independent fma chains instead of one latency-bound chain), summed in a
   * fixed order at the end.
   */
  private static void scores(float[] dst, float[] t, int tOff, int tp, float[] x, int xo, int hd, int keys, float scale) {
    int d4 = hd & ~3;
    for (int jb = 0; jb < keys; jb += L) {
      FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
      int o = tOff + jb;
      int d = 0;
      for (; d < d4; d += 4, o += 4 * tp) {
        a0 = FloatVector.fromArray(S, t, o).fma(FloatVector.broadcast(S, x[xo + d]), a0);
        a1 = FloatVector.fromArray(S, t, o + tp).fma(FloatVector.broadcast(S, x[xo + d + 1]), a1);
        a2 = FloatVector.fromArray(S, t, o + 2 * tp).fma(FloatVector.broadcast(S, x[xo + d + 2]), a2);
        a3 = FloatVector.fromArray(S, t, o + 3 * tp).fma(FloatVector.broadcast(S, x[xo + d + 3]), a3);
      }
      for (; d < hd; d++, o += tp) a0 = FloatVector.fromArray(S, t, o).fma(FloatVector.broadcast(S, x[xo + d]), a0);
      a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(dst, jb);
    }
  }

  /** x[j] = exp(x[j] − max) for j < n; returns Σ x[j] in a fixed order. */
  private static float expInPlace(float[] x, int n, float max) {
    return VecMath.expAffine(x, 0, x, 0, n, 1f, max);
  }

  /**
   * dst[dOff..dOff+hd) = Σ_j w[j]·src[so + j·stride ..] for j < n, vectorised over the head dim,
   * with four accumulators over j mod 4 summed in a fixed order. Whole vectors of the head dim load
   * without a mask (a masked load cost about 7% of the batched decode attention); a last partial
   * vector, if any, with one. Both do the same arithmetic per element.
   */
  private static void weightedSum(float[] dst, int dOff, float[] w, int n, float[] src, int so, int stride, int hd) {
    int n4 = n & ~3, whole = hd - hd % L;
    for (int d = 0; d < whole; d += L) {
      FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
      int o = so + d;
      int j = 0;
      for (; j < n4; j += 4, o += 4 * stride) {
        a0 = FloatVector.fromArray(S, src, o).fma(FloatVector.broadcast(S, w[j]), a0);
        a1 = FloatVector.fromArray(S, src, o + stride).fma(FloatVector.broadcast(S, w[j + 1]), a1);
        a2 = FloatVector.fromArray(S, src, o + 2 * stride).fma(FloatVector.broadcast(S, w[j + 2]), a2);
        a3 = FloatVector.fromArray(S, src, o + 3 * stride).fma(FloatVector.broadcast(S, w[j + 3]), a3);
      }
      for (; j < n; j++, o += stride) a0 = FloatVector.fromArray(S, src, o).fma(FloatVector.broadcast(S, w[j]), a0);
      a0.add(a1).add(a2.add(a3)).intoArray(dst, dOff + d);
    }
    if (whole == hd) return;
    VectorMask<Float> m = S.indexInRange(whole, hd);
    FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
    int o = so + whole;
    int j = 0;
    for (; j < n4; j += 4, o += 4 * stride) {
      a0 = FloatVector.fromArray(S, src, o, m).fma(FloatVector.broadcast(S, w[j]), a0);
      a1 = FloatVector.fromArray(S, src, o + stride, m).fma(FloatVector.broadcast(S, w[j + 1]), a1);
      a2 = FloatVector.fromArray(S, src, o + 2 * stride, m).fma(FloatVector.broadcast(S, w[j + 2]), a2);
      a3 = FloatVector.fromArray(S, src, o + 3 * stride, m).fma(FloatVector.broadcast(S, w[j + 3]), a3);
    }
    for (; j < n; j++, o += stride) a0 = FloatVector.fromArray(S, src, o, m).fma(FloatVector.broadcast(S, w[j]), a0);
    a0.add(a1).add(a2.add(a3)).intoArray(dst, dOff + whole, m);
  }

  private static int roundUp(int n) {
    return (n + L - 1) / L * L;
  }
}
