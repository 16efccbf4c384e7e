package io.prefstream.model.cpu;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.BatchedAttention;
import io.prefstream.model.backend.BatchedLora;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.backend.OpChecks;
import io.prefstream.model.backend.SeqLayout;
import io.prefstream.model.config.Rope;
import java.util.Arrays;

/**
 * The CPU backend: float32 on the JVM heap, the Vector API in the hot loops ({@link Gemm},
 * attention, softmax), work spread over a {@link WorkerPool}. Results are bit-identical for any
 * thread count. Buffers are plain arrays; {@link #array(Buf)} exposes them to host-side code.
 */
public final class CpuBackend implements Backend, BatchedAttention, BatchedLora {
  private final WorkerPool pool;
  private final RopeKernel rope = new RopeKernel();

  /** A backend on the process-wide pool (one thread per core). */
  public CpuBackend() {
    this(WorkerPool.shared());
  }

  public CpuBackend(WorkerPool pool) {
    this.pool = pool;
    KernelWarmUp.start();
  }

  public int threads() {
    return pool.threads();
  }

  /** The host array behind a buffer of this backend (no copy). */
  public static float[] array(Buf b) {
    return cpu(b).a;
  }

  private static CpuBuf cpu(Buf b) {
    if (b instanceof CpuBuf c) return c;
    throw new IllegalArgumentException("buffer " + b + " was not allocated by a CpuBackend");
  }

  private static float[] a(Buf b) {
    return cpu(b).a;
  }

  private static CpuBuf weightOf(Buf w, int out, int in) {
    CpuBuf c = cpu(w);
    if (c.t == null) throw new IllegalArgumentException("buffer is not a weight; create it with Backend.weight()");
    if (c.out != out || c.in != in) {
      throw new IllegalArgumentException("weight is [" + c.out + ", " + c.in + "] but the op expects [" + out + ", " + in + "]");
    }
    return c;
  }

  private static void check(Buf b, long need, String what) {
    if (b.size() < need) throw new IllegalArgumentException(what + " holds " + b.size() + " floats, op needs " + need);
  }

  @Override
  public Buf alloc(long n) {
    if (n < 0 || n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("cannot allocate " + n + " floats on the CPU backend");
    return new CpuBuf(new float[(int) n]);
  }

  @Override
  public Buf weight(float[] data, int out, int in) {
    if ((long) out * in != data.length) {
      throw new IllegalArgumentException("weight data has " + data.length + " floats, expected " + out + "×" + in);
    }
    CpuBuf b = new CpuBuf(data.clone(), out, in);
    b.t = new float[data.length];
    refreshWeight(b);
    return b;
  }

  @Override
  public void refreshWeight(Buf weight) {
    CpuBuf w = cpu(weight);
    if (w.t == null) throw new IllegalArgumentException("buffer is not a weight");
    float[] src = w.a, dst = w.t;
    int out = w.out, in = w.in;
    if (w.packed) {
      Gemm.pack(pool, dst, src, out, in);
      return;
    }
    int block = 64;
    // Blocked transpose so both sides stay in cache.
    pool.forEach((out + block - 1) / block, bo -> {
      int o0 = bo * block, o1 = Math.min(out, o0 + block);
      for (int i0 = 0; i0 < in; i0 += block) {
        int i1 = Math.min(in, i0 + block);
        for (int o = o0; o < o1; o++) {
          for (int i = i0; i < i1; i++) dst[i * out + o] = src[o * in + i];
        }
      }
    });
  }

  @Override
  public void upload(Buf dst, float[] src) {
    check(dst, src.length, "destination");
    System.arraycopy(src, 0, a(dst), 0, src.length);
    if (cpu(dst).isWeight()) refreshWeight(dst);
  }

  @Override
  public void download(Buf src, float[] dst) {
    check(src, dst.length, "source");
    System.arraycopy(a(src), 0, dst, 0, dst.length);
  }

  @Override
  public void copy(Buf dst, long dstOff, Buf src, long srcOff, long n) {
    System.arraycopy(a(src), (int) srcOff, a(dst), (int) dstOff, (int) n);
  }

  @Override
  public void zero(Buf b) {
    Arrays.fill(a(b), 0f);
  }

  @Override
  public void scale(Buf x, long n, float s) {
    float[] xa = a(x);
    for (int i = 0; i < n; i++) xa[i] *= s;
  }

  @Override
  public void addInPlace(Buf dst, Buf src, long n) {
    float[] d = a(dst), s = a(src);
    for (int i = 0; i < n; i++) d[i] += s[i];
  }

  @Override
  public void matmulForward(Buf y, Buf x, Buf w, Buf bias, int n, int in, int out, boolean accumulate) {
    check(y, (long) n * out, "y");
    check(x, (long) n * in, "x");
    float[] ya = a(y);
    Gemm.gemmWt(pool, ya, 0, out, a(x), 0, in, 1, weightOf(w, out, in), n, accumulate);
    if (bias != null) addBias(ya, a(bias), n, out);
  }

  /** y[i, j] += b[j] for every row i of y[n, out]. */
  private static void addBias(float[] y, float[] b, int n, int out) {
    for (int i = 0; i < n; i++) {
      int o = i * out;
      for (int j = 0; j < out; j++) y[o + j] += b[j];
    }
  }

  @Override
  public void matmulForwardShared(Buf[] ys, Buf x, Buf[] ws, Buf[] biases, int n, int in, int[] outs) {
    int count = ws.length;
    if (ys.length != count || biases.length != count || outs.length != count) {
      throw new IllegalArgumentException("ys, ws, biases and outs must have one entry per product, got " + ys.length
          + ", " + count + ", " + biases.length + ", " + outs.length);
    }
    check(x, (long) n * in, "x");
    CpuBuf[] w = new CpuBuf[count];
    float[][] y = new float[count][];
    boolean allPacked = true;
    for (int p = 0; p < count; p++) {
      check(ys[p], (long) n * outs[p], "y");
      w[p] = weightOf(ws[p], outs[p], in);
      y[p] = a(ys[p]);
      allPacked &= w[p].packed;
    }
    if (!allPacked) { // narrow or unpacked weights have their own kernels
      Backend.super.matmulForwardShared(ys, x, ws, biases, n, in, outs);
      return;
    }
    Gemm.gemmPackedShared(pool, y, a(x), in, w, n);
    for (int p = 0; p < count; p++) {
      if (biases[p] != null) addBias(y[p], a(biases[p]), n, outs[p]);
    }
  }

  @Override
  public void matmulBackwardInput(Buf dx, Buf dy, Buf w, int n, int in, int out, boolean accumulate) {
    check(dx, (long) n * in, "dx");
    check(dy, (long) n * out, "dy");
    Gemm.gemm(pool, a(dx), 0, in, a(dy), 0, out, 1, a(w), 0, in, n, in, out, accumulate);
  }

  @Override
  public void matmulBackwardWeight(Buf dw, Buf dy, Buf x, int n, int in, int out) {
    check(dw, (long) out * in, "dW");
    // A = dyᵀ: element (o, t) sits at dy[t*out + o].
    Gemm.gemm(pool, a(dw), 0, in, a(dy), 0, 1, out, a(x), 0, in, out, in, n, true);
  }

  @Override
  public void biasBackward(Buf db, Buf dy, int n, int out) {
    float[] d = a(db), g = a(dy);
    for (int i = 0; i < n; i++) {
      int o = i * out;
      for (int j = 0; j < out; j++) d[j] += g[o + j];
    }
  }

  @Override
  public void embeddingForward(Buf out, Buf table, int[] tokens, int n, int c) {
    OpChecks.embeddingForward(out, table, tokens, n, c);
    EmbeddingKernel.forward(a(out), a(table), tokens, n, c, (int) (table.size() / c));
  }

  @Override
  public void embeddingBackward(Buf dTable, Buf dOut, int[] tokens, int n, int c) {
    OpChecks.embeddingBackward(dTable, dOut, tokens, n, c);
    EmbeddingKernel.backward(pool, a(dTable), a(dOut), tokens, n, c);
  }

  @Override
  public void rmsnormForward(Buf out, Buf rstd, Buf x, Buf w, int n, int c, float eps) {
    OpChecks.rmsnormForward(out, rstd, x, w, n, c);
    RmsNormKernel.forward(pool, a(out), a(rstd), a(x), a(w), n, c, eps);
  }

  @Override
  public void rmsnormBackward(Buf dx, Buf dw, Buf dOut, Buf x, Buf w, Buf rstd, int n, int c) {
    OpChecks.rmsnormBackward(dx, dw, dOut, x, w, rstd, n, c);
    RmsNormKernel.backward(pool, a(dx), dw == null ? null : a(dw), a(dOut), a(x), a(w), a(rstd), n, c);
  }

  @Override
  public void ropeForward(Buf x, int[] positions, int n, int heads, int headDim, Rope r) {
    rope.apply(pool, a(x), positions, n, heads, headDim, r, false);
  }

  @Override
  public void ropeBackward(Buf dx, int[] positions, int n, int heads, int headDim, Rope r) {
    rope.apply(pool, a(dx), positions, n, heads, headDim, r, true);
  }

  @Override
  public void attentionForward(Buf out, Buf lse, Buf q, Buf k, Buf v, SeqLayout layout, int heads, int kvHeads, int headDim) {
    AttentionKernel.forward(pool, a(out), a(lse), a(q), a(k), a(v), layout, heads, kvHeads, headDim);
  }

  @Override
  public void attentionBackward(Buf dq, Buf dk, Buf dv, Buf dOut, Buf out, Buf lse, Buf q, Buf k, Buf v,
      SeqLayout layout, int heads, int kvHeads, int headDim) {
    AttentionKernel.backward(pool, a(dq), a(dk), a(dv), a(dOut), a(out), a(lse), a(q), a(k), a(v), layout, heads, kvHeads, headDim);
  }

  @Override
  public void kvAppend(Buf kCache, Buf vCache, Buf k, Buf v, int past, int n, int capacity, int kvHeads, int headDim) {
    checkCache(kCache, capacity, kvHeads, headDim);
    checkCache(vCache, capacity, kvHeads, headDim);
    if (past < 0 || past + n > capacity) {
      throw new IllegalArgumentException("cannot append " + n + " tokens at " + past + " to a cache of " + capacity);
    }
    AttentionKernel.append(a(kCache), a(vCache), a(k), a(v), past, n, capacity, kvHeads, headDim);
  }

  @Override
  public void kvCopyPrefix(Buf dstK, Buf dstV, int dstCapacity, Buf srcK, Buf srcV, int srcCapacity, int n, int kvHeads,
      int headDim) {
    checkCache(dstK, dstCapacity, kvHeads, headDim);
    checkCache(dstV, dstCapacity, kvHeads, headDim);
    checkCache(srcK, srcCapacity, kvHeads, headDim);
    checkCache(srcV, srcCapacity, kvHeads, headDim);
    if (n < 0 || n > Math.min(srcCapacity, dstCapacity)) {
      throw new IllegalArgumentException("cannot copy " + n + " positions between caches of " + srcCapacity + " and " + dstCapacity);
    }
    AttentionKernel.copyPrefix(a(dstK), a(dstV), dstCapacity, a(srcK), a(srcV), srcCapacity, n, kvHeads * headDim);
  }

  @Override
  public void attentionCached(Buf out, Buf q, Buf kCache, Buf vCache, int past, int n, int capacity,
      int heads, int kvHeads, int headDim) {
    checkCache(kCache, capacity, kvHeads, headDim);
    AttentionKernel.cached(pool, a(out), a(q), a(kCache), a(vCache), past, n, capacity, heads, kvHeads, headDim);
  }

  @Override
  public void appendAttendBatch(Buf out, Buf q, Buf k, Buf v, Buf[] kCaches, Buf[] vCaches, int[] past, int[] capacity,
      int[] rowStart, int heads, int kvHeads, int headDim) {
    OpChecks.appendAttendBatch(out, q, k, v, kCaches, vCaches, past, capacity, rowStart, heads, kvHeads, headDim);
    int b = kCaches.length;
    float[][] kcs = new float[b][], vcs = new float[b][];
    for (int s = 0; s < b; s++) {
      kcs[s] = a(kCaches[s]);
      vcs[s] = a(vCaches[s]);
    }
    AttentionKernel.appendCachedBatch(pool, a(out), a(q), a(k), a(v), kcs, vcs, past, capacity, rowStart, heads, kvHeads, headDim);
  }

  @Override
  public void loraGroups(Buf y, Buf x, int[] groupStart, Buf[] a, Buf[] b, int[] rank, float[] scaling, int in, int out, Buf scratch) {
    int maxRank = OpChecks.loraGroups(y, x, groupStart, a, b, rank, scaling, in, out, scratch);
    int groups = a.length;
    CpuBuf[] wa = new CpuBuf[groups], wb = new CpuBuf[groups];
    for (int g = 0; g < groups; g++) {
      if (a[g] == null) continue;
      wa[g] = weightOf(a[g], rank[g], in);
      wb[g] = weightOf(b[g], out, rank[g]);
    }
    float[] ya = a(y), xa = a(x), su = a(scratch);
    int stride = maxRank;
    pool.forEach(groups, g -> {
      int r0 = groupStart[g], n = groupStart[g + 1] - r0, r = rank[g];
      if (wa[g] == null || n == 0) return;
      int so = r0 * stride; // this group's [n, r] block of the scratch
      Gemm.gemmWt(WorkerPool.INLINE, su, so, r, xa, r0 * in, in, 1, wa[g], n, false);
      for (int i = so; i < so + n * r; i++) su[i] *= scaling[g];
      Gemm.gemmWt(WorkerPool.INLINE, ya, r0 * out, out, su, so, r, 1, wb[g], n, true);
    });
  }

  private static void checkCache(Buf cache, int capacity, int kvHeads, int headDim) {
    if (capacity % KV_CACHE_ALIGN != 0) {
      throw new IllegalArgumentException("KV cache capacity " + capacity + " is not a multiple of " + KV_CACHE_ALIGN);
    }
    check(cache, (long) capacity * kvHeads * headDim, "KV cache");
  }

  @Override
  public void swigluForward(Buf h, Buf g, Buf u, long n) {
    OpChecks.swigluForward(h, g, u, n);
    SwiGluKernel.forward(pool, a(h), a(g), a(u), (int) n);
  }

  @Override
  public void swigluBackward(Buf dg, Buf du, Buf dh, Buf g, Buf u, long n) {
    OpChecks.swigluBackward(dg, du, dh, g, u, n);
    SwiGluKernel.backward(pool, a(dg), a(du), a(dh), a(g), a(u), (int) n);
  }

  @Override
  public void gatherRows(Buf dst, Buf src, int[] rows, int c) {
    float[] d = a(dst), s = a(src);
    for (int i = 0; i < rows.length; i++) System.arraycopy(s, rows[i] * c, d, i * c, c);
  }

  @Override
  public void scatterAddRows(Buf dst, Buf src, int[] rows, int c) {
    float[] d = a(dst), s = a(src);
    for (int i = 0; i < rows.length; i++) {
      int o = rows[i] * c, so = i * c;
      for (int j = 0; j < c; j++) d[o + j] += s[so + j];
    }
  }

  @Override
  public void logSoftmaxGatherForward(Buf logp, Buf lse, Buf hidden, Buf head, int[] targets, int m, int c, int vocab) {
    checkTargets(targets, m, vocab);
    LogSoftmaxKernel.forward(pool, a(logp), a(lse), a(hidden), weightOf(head, vocab, c), targets, m, c, vocab);
  }

  @Override
  public void logSoftmaxGatherBackward(Buf dHidden, Buf dHead, Buf g, Buf hidden, Buf head, Buf lse,
      int[] targets, int m, int c, int vocab) {
    checkTargets(targets, m, vocab);
    LogSoftmaxKernel.backward(pool, a(dHidden), dHead == null ? null : a(dHead), a(g), a(hidden),
        weightOf(head, vocab, c), a(lse), targets, m, c, vocab);
  }

  private static void checkTargets(int[] targets, int m, int vocab) {
    for (int i = 0; i < m; i++) {
      if (targets[i] < 0 || targets[i] >= vocab) {
        throw new IllegalArgumentException("target token " + targets[i] + " at row " + i + " is outside [0, " + vocab + ")");
      }
    }
  }

  @Override
  public void close() {
    pool.close();
  }
}
