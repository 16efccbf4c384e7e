package io.prefstream.model.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The output layer fused with log-softmax and the target gather. Logits exist only for a chunk of
 * {@link #CHUNK} rows at a time (a [CHUNK, vocab] scratch per calling thread); forward keeps the
 * log-sum-exp per row, backward recomputes the chunk's logits and turns them in place into
 * dlogits = g·(onehot − softmax) before the two matmuls that carry the gradient to the hidden
 * state and, in full fine-tuning, to the head weight.
 */
final class LogSoftmaxKernel {
  static final int CHUNK = 128;
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ThreadLocal<float[]> LOGITS = ThreadLocal.withInitial(() -> new float[0]);

  private LogSoftmaxKernel() {}

  private static float[] logits(int size) {
    float[] a = LOGITS.get();
    if (a.length < size) {
      a = new float[size];
      LOGITS.set(a);
    }
    return a;
  }

  /** head is the [vocab, c] weight with its derived transposed layout. */
  static void forward(WorkerPool pool, float[] logp, float[] lse, float[] hidden, CpuBuf head,
      int[] targets, int m, int c, int vocab) {
    float[] lg = logits(Math.min(m, CHUNK) * vocab);
    for (int r0 = 0; r0 < m; r0 += CHUNK) {
      int rows = Math.min(CHUNK, m - r0);
      Gemm.gemmWt(pool, lg, 0, vocab, hidden, r0 * c, c, 1, head, rows, false);
      int base = r0;
      pool.forEach(rows, r -> {
        int o = r * vocab; // row r of the logits chunk
        float rowLse = logSumExp(lg, o, vocab);
        lse[base + r] = rowLse;
        logp[base + r] = lg[o + targets[base + r]] - rowLse;
      });
    }
  }

  static void backward(WorkerPool pool, float[] dHidden, float[] dHead, float[] g, float[] hidden,
      CpuBuf head, float[] lse, int[] targets, int m, int c, int vocab) {
    float[] lg = logits(Math.min(m, CHUNK) * vocab);
    for (int r0 = 0; r0 < m; r0 += CHUNK) {
      int rows = Math.min(CHUNK, m - r0);
      Gemm.gemmWt(pool, lg, 0, vocab, hidden, r0 * c, c, 1, head, rows, false);
      int base = r0;
      pool.forEach(rows, r -> {
        int o = r * vocab;
        float gi = g[base + r], rowLse = lse[base + r];
        VecMath.expAffine(lg, o, lg, o, vocab, 1f, rowLse);
        float ng = -gi;
        for (int j = 0; j < vocab; j++) lg[o + j] *= ng;
        lg[o + targets[base + r]] += gi;
      });
      // dHidden[rows, c] = dlogits[rows, vocab]·head[vocab, c]
      Gemm.gemm(pool, dHidden, r0 * c, c, lg, 0, vocab, 1, head.a, 0, c, rows, c, vocab, false);
      if (dHead != null) {
        // dHead[vocab, c] += dlogitsᵀ·hidden[rows, c]
        Gemm.gemm(pool, dHead, 0, c, lg, 0, 1, vocab, hidden, r0 * c, c, vocab, c, rows, true);
      }
    }
  }

  private static float logSumExp(float[] x, int o, int n) {
    FloatVector mv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
    int j = 0;
    for (; j <= n - L; j += L) mv = mv.max(FloatVector.fromArray(S, x, o + j));
    float max = mv.reduceLanes(VectorOperators.MAX); // max is exact in any order
    for (; j < n; j++) max = Math.max(max, x[o + j]);
    float sum = VecMath.expAffine(x, o, null, 0, n, 1f, max);
    return max + (float) Math.log(sum);
  }
}
