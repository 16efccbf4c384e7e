package io.prefstream.model.cuda;

import io.prefstream.model.backend.AdamWCoefficients;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.BatchedAttention;
import io.prefstream.model.backend.BatchedLora;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.backend.OpChecks;
import io.prefstream.model.backend.SeqLayout;
import io.prefstream.model.config.Rope;
import io.prefstream.model.config.RopeTable;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The {@link Backend} on an NVIDIA GPU through the CUDA driver API, NVRTC and cuBLAS, bound with
 * {@code java.lang.foreign} (no JNI; the only CUDA-specific content of the jar is the kernel
 * sources, compiled at start for the device's architecture). Buffers are float32 device memory;
 * frozen weights also keep a bf16 copy and their matrix products run bf16×bf16 with float32
 * accumulation and output; trainable weights (LoRA, {@code weight(.., true)}) and everything else
 * run in float32. Attention is permute → batched GEMM → causal softmax → batched GEMM, GQA by
 * grouping each kv head's query heads into one GEMM. The serving engine's batched ops
 * ({@link BatchedAttention}, {@link BatchedLora}) run in one launch, and one cuBLAS pair per adapter
 * group, for the whole batch ({@link CudaBatchedOps}). All GPU work happens on one owner thread: ops
 * without a result are queued to it in order and return at once (their host arguments copied), ops
 * that return data (downloads, sums, sampling) wait; an error in a queued op is thrown by the next
 * op that waits. Set {@code -Dprefstream.cuda.debug=true} (or
 * {@code PREFSTREAM_CUDA_DEBUG=1}) to run every op synchronously and check after every launch.
 */
public final class CudaBackend implements Backend, BatchedAttention, BatchedLora {
  /** Rows of the fused log-softmax per chunk: the [chunk, vocab] logits are the only vocab-wide buffer. */
  public static final int LOGSOFTMAX_CHUNK = 1024;
  static final int THREADS = 256;
  private static final int SUMSQ_BLOCKS = 256;

  private final CudaDevice dev;
  /** Whether frozen weights get a bf16 copy for their products (else every product runs in float32). */
  private final boolean bf16Frozen;
  /** Scratch device buffers by purpose, grown on demand (owner thread only). */
  private final Map<String, long[]> scratch = new HashMap<>();
  private final Map<RopeKey, DeviceRopeTable> ropeTables = new HashMap<>();
  /** The serving engine's batched ops (attention over many caches, LoRA over adapter groups). */
  private final CudaBatchedOps batched;

  private record RopeKey(Rope rope, int headDim) {}

  /** A RoPE table on the device: cos/sin pointers, [positions, hd/2] floats each. */
  private record DeviceRopeTable(long cos, long sin, int positions) {}

  private CudaBackend(CudaDevice dev, boolean bf16Frozen) {
    this.dev = dev;
    this.bf16Frozen = bf16Frozen;
    this.batched = new CudaBatchedOps(this, dev);
  }

  /** Opens device 0 with the libraries found by {@link CudaLibraries#discover()}; throws naming what is missing. */
  public static CudaBackend open() {
    CudaLibraries.Discovery d = CudaLibraries.discover();
    if (!d.found()) throw new CudaUnavailableException("the CUDA backend cannot start: " + d.reason());
    return open(d.libraries().get(), 0, KernelCache.defaultDir(), debugRequested());
  }

  public static CudaBackend open(CudaLibraries libs, int ordinal, Path kernelCache, boolean debug) {
    return open(libs, ordinal, kernelCache, debug, true);
  }

  /**
   * As {@link #open(CudaLibraries, int, Path, boolean)}; with {@code bf16FrozenWeights} false every
   * weight stays float32 only and all products run in float32 (the exact mode the float64 contract
   * tests use, at twice the weight memory traffic).
   */
  public static CudaBackend open(CudaLibraries libs, int ordinal, Path kernelCache, boolean debug, boolean bf16FrozenWeights) {
    return new CudaBackend(CudaDevice.open(libs, ordinal, kernelCache, debug), bf16FrozenWeights);
  }

  static boolean debugRequested() {
    return Boolean.getBoolean("prefstream.cuda.debug") || "1".equals(System.getenv("PREFSTREAM_CUDA_DEBUG"));
  }

  /** The device's name as the driver reports it, e.g. "NVIDIA H200". */
  public String deviceName() {
    return dev.name();
  }

  /** The architecture the kernels were compiled for, e.g. "sm_90". */
  public String arch() {
    return dev.arch();
  }

  /** Waits until all queued GPU work has finished (for timing). */
  public void synchronize() {
    dev.run(() -> dev.synchronize("synchronize()"));
  }

  /** {free, total} device memory in bytes. */
  public long[] memoryInfo() {
    return dev.call(dev::memInfo);
  }

  // ---- helpers ---------------------------------------------------------------------------------

  CudaBuf cuda(Buf b) {
    if (b instanceof CudaBuf c && c.device == dev) return c;
    throw new IllegalArgumentException("buffer " + b + " was not allocated by this CudaBackend");
  }

  private static void check(Buf b, long need, String what) {
    if (b.size() < need) throw new IllegalArgumentException(what + " holds " + b.size() + " floats, op needs " + need);
  }

  CudaBuf weightOf(Buf w, int out, int in) {
    CudaBuf c = cuda(w);
    if (!c.isWeight()) throw new IllegalArgumentException("buffer is not a weight; create it with Backend.weight()");
    if (c.out != out || c.in != in) {
      throw new IllegalArgumentException("weight is [" + c.out + ", " + c.in + "] but the op expects [" + out + ", " + in + "]");
    }
    return c;
  }

  static long grid(long n) {
    return Math.max(1, Math.min((n + THREADS - 1) / THREADS, 65_536));
  }

  /** A scratch device buffer of at least bytes, reused across ops (owner thread only). */
  long scratch(String purpose, long bytes) {
    long[] s = scratch.get(purpose);
    if (s != null && s[1] >= bytes) return s[0];
    if (s != null) {
      dev.synchronize("growing scratch " + purpose); // queued kernels may still read the old buffer
      dev.free(s[0]);
    }
    long cap = Math.max(bytes, s == null ? 0 : s[1] * 3 / 2);
    long p = dev.malloc(cap);
    scratch.put(purpose, new long[] {p, cap});
    return p;
  }

  /** Uploads a small int array into a scratch buffer of that purpose. */
  private long ints(String purpose, int[] a, int n) {
    long p = scratch(purpose, 4L * Math.max(1, n));
    try (Arena ar = Arena.ofConfined()) {
      MemorySegment s = ar.allocate(ValueLayout.JAVA_INT, Math.max(1, n));
      MemorySegment.copy(a, 0, s, ValueLayout.JAVA_INT, 0, n);
      dev.htod(p, s, 4L * n);
    }
    return p;
  }

  private void debugGemm(String what) {
    if (dev.debug()) dev.synchronize(what);
  }

  /** bf16 copy of n floats at src into a scratch buffer of that purpose. */
  private long toBf16(String purpose, long src, long n) {
    long p = scratch(purpose, 2 * n);
    dev.launch("cast_f32_bf16", grid(n), 1, THREADS, 0, p, src, n);
    return p;
  }

  /** y[rows,out] = x[rows,in]·Wᵀ (beta·y added): bf16 when W is frozen, else fp32. */
  void linear(long y, long x, CudaBuf w, int rows, int in, int out, float beta) {
    if (rows == 0) return;
    if (w.bf16 != 0) {
      long xb = toBf16("act_bf16", x, (long) rows * in);
      dev.cublas().gemm(false, true, rows, out, in, 1f, xb, in, w.bf16, in, beta, y, out, Cublas.CUDA_R_16BF);
    } else {
      dev.cublas().gemm(false, true, rows, out, in, 1f, x, in, w.ptr, in, beta, y, out, Cublas.CUDA_R_32F);
    }
    debugGemm("linear");
  }

  /** dx[rows,in] = dy[rows,out]·W (beta·dx added). */
  private void linearBackInput(long dx, long dy, CudaBuf w, int rows, int in, int out, float beta) {
    if (rows == 0) return;
    if (w.bf16 != 0) {
      long db = toBf16("act_bf16", dy, (long) rows * out);
      dev.cublas().gemm(false, false, rows, in, out, 1f, db, out, w.bf16, in, beta, dx, in, Cublas.CUDA_R_16BF);
    } else {
      dev.cublas().gemm(false, false, rows, in, out, 1f, dy, out, w.ptr, in, beta, dx, in, Cublas.CUDA_R_32F);
    }
    debugGemm("linearBackInput");
  }

  /** dW[out,in] += dy[rows,out]ᵀ·x[rows,in], fp32. */
  private void linearBackWeight(long dw, long dy, long x, int rows, int in, int out) {
    if (rows == 0) return;
    dev.cublas().gemm(true, false, out, in, rows, 1f, dy, out, x, in, 1f, dw, in, Cublas.CUDA_R_32F);
    debugGemm("linearBackWeight");
  }

  // ---- memory ----------------------------------------------------------------------------------

  @Override
  public Buf alloc(long n) {
    if (n < 0) throw new IllegalArgumentException("cannot allocate " + n + " floats");
    return dev.call(() -> {
      long p = dev.malloc(4 * n);
      dev.memsetZero(p, n);
      return new CudaBuf(dev, p, n, 0, 0, 0);
    });
  }

  @Override
  public Buf weight(float[] data, int out, int in) {
    return weight(data, out, in, false);
  }

  @Override
  public Buf weight(float[] data, int out, int in, boolean trainable) {
    if (out <= 0 || in <= 0 || (long) out * in != data.length) {
      throw new IllegalArgumentException("weight data has " + data.length + " floats, expected " + out + "×" + in);
    }
    return dev.call(() -> {
      long n = data.length;
      long p = dev.malloc(4 * n);
      long b = trainable || !bf16Frozen ? 0 : dev.malloc(2 * n);
      CudaBuf w = new CudaBuf(dev, p, n, out, in, b);
      uploadNow(w, data);
      return w;
    });
  }

  @Override
  public void refreshWeight(Buf weight) {
    CudaBuf w = cuda(weight);
    if (!w.isWeight()) throw new IllegalArgumentException("buffer is not a weight");
    dev.post(() -> refreshNow(w));
  }

  private void refreshNow(CudaBuf w) {
    if (w.bf16 != 0) dev.launch("cast_f32_bf16", grid(w.n), 1, THREADS, 0, w.bf16, w.ptr, w.n);
  }

  @Override
  public void upload(Buf dst, float[] src) {
    check(dst, src.length, "destination");
    CudaBuf d = cuda(dst);
    dev.run(() -> uploadNow(d, src));
  }

  private void uploadNow(CudaBuf d, float[] src) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment s = a.allocate(ValueLayout.JAVA_FLOAT, Math.max(1, src.length));
      MemorySegment.copy(src, 0, s, ValueLayout.JAVA_FLOAT, 0, src.length);
      dev.htod(d.ptr, s, 4L * src.length);
    }
    if (d.isWeight()) refreshNow(d);
  }

  @Override
  public void download(Buf src, float[] dst) {
    check(src, dst.length, "source");
    CudaBuf s = cuda(src);
    dev.run(() -> {
      try (Arena a = Arena.ofConfined()) {
        MemorySegment h = a.allocate(ValueLayout.JAVA_FLOAT, Math.max(1, dst.length));
        dev.dtoh(h, s.ptr, 4L * dst.length);
        MemorySegment.copy(h, ValueLayout.JAVA_FLOAT, 0, dst, 0, dst.length);
      }
    });
  }

  @Override
  public void copy(Buf dst, long dstOff, Buf src, long srcOff, long n) {
    CudaBuf d = cuda(dst), s = cuda(src);
    if (dstOff < 0 || srcOff < 0 || dstOff + n > d.n || srcOff + n > s.n) {
      throw new IllegalArgumentException("copy of " + n + " floats from " + srcOff + " of " + s.n + " to " + dstOff + " of " + d.n + " is out of range");
    }
    dev.post(() -> {
      dev.dtod(d.at(dstOff), s.at(srcOff), 4 * n);
      if (d.isWeight()) refreshNow(d);
    });
  }

  @Override
  public void zero(Buf b) {
    CudaBuf c = cuda(b);
    dev.post(() -> {
      dev.memsetZero(c.ptr, c.n);
      if (c.isWeight()) refreshNow(c);
    });
  }

  @Override
  public void scale(Buf x, long n, float s) {
    check(x, n, "x");
    CudaBuf c = cuda(x);
    dev.post(() -> dev.launch("scale_f32", grid(n), 1, THREADS, 0, c.ptr, n, s));
  }

  @Override
  public void addInPlace(Buf dst, Buf src, long n) {
    check(dst, n, "dst");
    check(src, n, "src");
    CudaBuf d = cuda(dst), s = cuda(src);
    dev.post(() -> dev.launch("add_f32", grid(n), 1, THREADS, 0, d.ptr, s.ptr, n));
  }

  // ---- linear algebra --------------------------------------------------------------------------

  @Override
  public void matmulForward(Buf y, Buf x, Buf w, Buf bias, int n, int in, int out, boolean accumulate) {
    check(y, (long) n * out, "y");
    check(x, (long) n * in, "x");
    CudaBuf yb = cuda(y), xb = cuda(x), wb = weightOf(w, out, in);
    CudaBuf bb = bias == null ? null : cuda(bias);
    if (bb != null) check(bb, out, "bias");
    dev.post(() -> {
      linear(yb.ptr, xb.ptr, wb, n, in, out, accumulate ? 1f : 0f);
      if (bb != null) dev.launch("add_bias", grid((long) n * out), 1, THREADS, 0, yb.ptr, bb.ptr, n, out);
    });
  }

  @Override
  public void matmulBackwardInput(Buf dx, Buf dy, Buf w, int n, int in, int out, boolean accumulate) {
    check(dx, (long) n * in, "dx");
    check(dy, (long) n * out, "dy");
    CudaBuf dxb = cuda(dx), dyb = cuda(dy), wb = weightOf(w, out, in);
    dev.post(() -> linearBackInput(dxb.ptr, dyb.ptr, wb, n, in, out, accumulate ? 1f : 0f));
  }

  @Override
  public void matmulBackwardWeight(Buf dw, Buf dy, Buf x, int n, int in, int out) {
    check(dw, (long) out * in, "dW");
    check(dy, (long) n * out, "dy");
    check(x, (long) n * in, "x");
    CudaBuf dwb = cuda(dw), dyb = cuda(dy), xb = cuda(x);
    dev.post(() -> linearBackWeight(dwb.ptr, dyb.ptr, xb.ptr, n, in, out));
  }

  @Override
  public void biasBackward(Buf db, Buf dy, int n, int out) {
    check(db, out, "db");
    check(dy, (long) n * out, "dy");
    CudaBuf d = cuda(db), g = cuda(dy);
    dev.post(() -> dev.launch("bias_backward", grid(out), 1, THREADS, 0, d.ptr, g.ptr, n, out));
  }

  // ---- layers ----------------------------------------------------------------------------------

  @Override
  public void embeddingForward(Buf out, Buf table, int[] tokens, int n, int c) {
    OpChecks.embeddingForward(out, table, tokens, n, c);
    CudaBuf o = cuda(out), t = cuda(table);
    int[] toks = Arrays.copyOf(tokens, n); // the op runs later on the owner thread
    dev.post(() -> {
      long tok = ints("tokens", toks, n);
      dev.launch("embedding_forward", grid((long) n * c), 1, THREADS, 0, o.ptr, t.ptr, tok, n, c);
    });
  }

  @Override
  public void embeddingBackward(Buf dTable, Buf dOut, int[] tokens, int n, int c) {
    // A token outside the table would make the kernel add past dTable: refused here, on the host.
    OpChecks.embeddingBackward(dTable, dOut, tokens, n, c);
    CudaBuf dt = cuda(dTable), d = cuda(dOut);
    // Group positions by token (stable), so each table row is summed by one thread per column in token order.
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) order[i] = i;
    Arrays.sort(order, (a, b) -> Integer.compare(tokens[a], tokens[b]));
    int[] ord = new int[n], uniq = new int[n], offs = new int[n + 1];
    int u = 0;
    for (int k = 0; k < n; k++) {
      ord[k] = order[k];
      if (k == 0 || tokens[order[k]] != tokens[order[k - 1]]) {
        uniq[u] = tokens[order[k]];
        offs[u] = k;
        u++;
      }
    }
    offs[u] = n;
    int nUniq = u;
    dev.post(() -> {
      long po = ints("emb_order", ord, n), pu = ints("emb_uniq", uniq, nUniq), pf = ints("emb_offs", offs, nUniq + 1);
      dev.launch("embedding_backward", nUniq, (c + THREADS - 1) / THREADS, THREADS, 0, dt.ptr, d.ptr, po, pu, pf, nUniq, c);
    });
  }

  @Override
  public void rmsnormForward(Buf out, Buf rstd, Buf x, Buf w, int n, int c, float eps) {
    OpChecks.rmsnormForward(out, rstd, x, w, n, c);
    CudaBuf o = cuda(out), r = cuda(rstd), xb = cuda(x), wb = cuda(w);
    dev.post(() -> dev.launch("rmsnorm_forward", n, 1, THREADS, 0, o.ptr, r.ptr, xb.ptr, wb.ptr, n, c, eps));
  }

  @Override
  public void rmsnormBackward(Buf dx, Buf dw, Buf dOut, Buf x, Buf w, Buf rstd, int n, int c) {
    OpChecks.rmsnormBackward(dx, dw, dOut, x, w, rstd, n, c);
    CudaBuf dxb = cuda(dx), dob = cuda(dOut), xb = cuda(x), wb = cuda(w), r = cuda(rstd);
    CudaBuf dwb = dw == null ? null : cuda(dw);
    dev.post(() -> {
      dev.launch("rmsnorm_backward_dx", n, 1, THREADS, 0, dxb.ptr, dob.ptr, xb.ptr, wb.ptr, r.ptr, n, c);
      if (dwb != null && n > 0) {
        int rowsPerBlock = 64, blocks = (n + rowsPerBlock - 1) / rowsPerBlock;
        long partial = scratch("rms_dw", 4L * blocks * c);
        dev.launch("rmsnorm_backward_dw_partial", (c + THREADS - 1) / THREADS, blocks, THREADS, 0, partial, dob.ptr,
            xb.ptr, r.ptr, n, c, rowsPerBlock);
        dev.launch("rmsnorm_backward_dw_reduce", (c + THREADS - 1) / THREADS, 1, THREADS, 0, dwb.ptr, partial, blocks, c);
      }
    });
  }

  @Override
  public void ropeForward(Buf x, int[] positions, int n, int heads, int headDim, Rope rope) {
    rope(x, positions, n, heads, headDim, rope, 1f);
  }

  @Override
  public void ropeBackward(Buf dx, int[] positions, int n, int heads, int headDim, Rope rope) {
    rope(dx, positions, n, heads, headDim, rope, -1f);
  }

  private void rope(Buf x, int[] positions, int n, int heads, int hd, Rope rope, float sign) {
    check(x, (long) n * heads * hd, "x");
    int maxPos = 0;
    for (int i = 0; i < n; i++) {
      if (positions[i] < 0) throw new IllegalArgumentException("position " + positions[i] + " at row " + i + " is negative");
      maxPos = Math.max(maxPos, positions[i]);
    }
    CudaBuf xb = cuda(x);
    int need = maxPos + 1;
    // contiguous positions (decode, prefill, one sequence) go as a start: no upload, which would wait for the GPU
    boolean contiguous = true;
    for (int i = 1; i < n && contiguous; i++) contiguous = positions[i] == positions[0] + i;
    int pos0 = n > 0 ? positions[0] : 0;
    int[] posCopy = contiguous ? null : Arrays.copyOf(positions, n);
    dev.post(() -> {
      DeviceRopeTable t = ropeTable(rope, hd, need);
      long pos = posCopy == null ? 0L : ints("positions", posCopy, n);
      dev.launch("rope_apply", grid((long) n * heads * (hd / 2)), 1, THREADS, 0, xb.ptr, pos, pos0, t.cos, t.sin, n, heads,
          hd, sign);
    });
  }

  /** cos/sin tables from {@link RopeTable#build}, the CPU kernel's builder, grown to the largest position seen. */
  private DeviceRopeTable ropeTable(Rope rope, int hd, int positions) {
    RopeKey key = new RopeKey(rope, hd);
    DeviceRopeTable t = ropeTables.get(key);
    if (t != null && t.positions >= positions) return t;
    RopeTable host = RopeTable.build(rope, hd, Math.max(positions, t == null ? 256 : 2 * t.positions));
    float[] cos = host.cos(), sin = host.sin();
    int cap = host.positions();
    if (t != null) {
      dev.synchronize("growing the RoPE table");
      dev.free(t.cos);
      dev.free(t.sin);
    }
    long pc = dev.malloc(4L * cos.length), ps = dev.malloc(4L * sin.length);
    try (Arena a = Arena.ofConfined()) {
      MemorySegment s = a.allocate(ValueLayout.JAVA_FLOAT, cos.length);
      MemorySegment.copy(cos, 0, s, ValueLayout.JAVA_FLOAT, 0, cos.length);
      dev.htod(pc, s, 4L * cos.length);
      MemorySegment.copy(sin, 0, s, ValueLayout.JAVA_FLOAT, 0, sin.length);
      dev.htod(ps, s, 4L * sin.length);
    }
    DeviceRopeTable fresh = new DeviceRopeTable(pc, ps, cap);
    ropeTables.put(key, fresh);
    return fresh;
  }

  // ---- attention ---------------------------------------------------------------------------------

  /** Shapes of one packed attention call, padded to the longest sequence T. */
  private record Att(int b, int t, int heads, int kv, int group, int hd, long start, long len) {
    long qElems() {
      return (long) b * heads * t * hd;
    }

    long kElems() {
      return (long) b * kv * t * hd;
    }

    long sElems() {
      return (long) b * heads * t * t;
    }
  }

  private Att att(SeqLayout layout, int heads, int kvHeads, int hd) {
    if (kvHeads <= 0 || heads % kvHeads != 0) {
      throw new IllegalArgumentException("heads " + heads + " must be a multiple of kvHeads " + kvHeads);
    }
    int t = 0;
    for (int s = 0; s < layout.sequences(); s++) t = Math.max(t, layout.length(s));
    long st = ints("att_start", layout.start(), layout.sequences());
    long ln = ints("att_len", layout.length(), layout.sequences());
    return new Att(layout.sequences(), t, heads, kvHeads, heads / kvHeads, hd, st, ln);
  }

  private void pack(long dst, long src, Att a, int heads) {
    long n = (long) a.b * heads * a.t * a.hd;
    dev.launch("attn_pack", grid(n), 1, THREADS, 0, dst, src, a.start, a.len, a.b, heads, a.t, a.hd);
  }

  private void unpack(long dst, long src, Att a, int heads) {
    long n = (long) a.b * heads * a.t * a.hd;
    dev.launch("attn_unpack", grid(n), 1, THREADS, 0, dst, src, a.start, a.len, a.b, heads, a.t, a.hd);
  }

  /** S[B·KV][g·T, T] = Qg·Kᵀ per (sequence, kv head). */
  private void scores(long s, long qg, long kg, Att a) {
    int gt = a.group * a.t;
    dev.cublas().gemmBatched(false, true, gt, a.t, a.hd, 1f, qg, a.hd, (long) gt * a.hd, kg, a.hd, (long) a.t * a.hd,
        0f, s, a.t, (long) gt * a.t, a.b * a.kv);
    debugGemm("attention scores");
  }

  @Override
  public void attentionForward(Buf out, Buf lse, Buf q, Buf k, Buf v, SeqLayout layout, int heads, int kvHeads, int headDim) {
    int n = layout.tokens();
    check(out, (long) n * heads * headDim, "out");
    check(lse, (long) n * heads, "lse");
    check(q, (long) n * heads * headDim, "q");
    check(k, (long) n * kvHeads * headDim, "k");
    check(v, (long) n * kvHeads * headDim, "v");
    CudaBuf ob = cuda(out), lb = cuda(lse), qb = cuda(q), kb = cuda(k), vb = cuda(v);
    dev.post(() -> {
      Att a = att(layout, heads, kvHeads, headDim);
      if (a.t == 0) return;
      long qg = scratch("att_q", 4 * a.qElems()), kg = scratch("att_k", 4 * a.kElems()), vg = scratch("att_v", 4 * a.kElems());
      long s = scratch("att_s", 4 * a.sElems()), og = scratch("att_o", 4 * a.qElems());
      pack(qg, qb.ptr, a, heads);
      pack(kg, kb.ptr, a, kvHeads);
      pack(vg, vb.ptr, a, kvHeads);
      scores(s, qg, kg, a);
      dev.launch("attn_softmax_forward", (long) a.b * heads * a.t, 1, 128, 0, s, lb.ptr, a.start, a.len, a.b, heads, a.t,
          (float) (1.0 / Math.sqrt(headDim)));
      int gt = a.group * a.t;
      // O = P·V
      dev.cublas().gemmBatched(false, false, gt, a.hd, a.t, 1f, s, a.t, (long) gt * a.t, vg, a.hd, (long) a.t * a.hd,
          0f, og, a.hd, (long) gt * a.hd, a.b * a.kv);
      debugGemm("attention P·V");
      unpack(ob.ptr, og, a, heads);
    });
  }

  @Override
  public void attentionBackward(Buf dq, Buf dk, Buf dv, Buf dOut, Buf out, Buf lse, Buf q, Buf k, Buf v,
      SeqLayout layout, int heads, int kvHeads, int headDim) {
    int n = layout.tokens();
    check(dq, (long) n * heads * headDim, "dq");
    check(dk, (long) n * kvHeads * headDim, "dk");
    check(dv, (long) n * kvHeads * headDim, "dv");
    CudaBuf dqb = cuda(dq), dkb = cuda(dk), dvb = cuda(dv), dob = cuda(dOut), ob = cuda(out), lb = cuda(lse);
    CudaBuf qb = cuda(q), kb = cuda(k), vb = cuda(v);
    dev.post(() -> {
      Att a = att(layout, heads, kvHeads, headDim);
      if (a.t == 0) return;
      long qg = scratch("att_q", 4 * a.qElems()), kg = scratch("att_k", 4 * a.kElems()), vg = scratch("att_v", 4 * a.kElems());
      long s = scratch("att_s", 4 * a.sElems()), dp = scratch("att_dp", 4 * a.sElems());
      long dog = scratch("att_o", 4 * a.qElems()), dqg = scratch("att_dq", 4 * a.qElems());
      long dkg = scratch("att_dk", 4 * a.kElems()), dvg = scratch("att_dv", 4 * a.kElems());
      pack(qg, qb.ptr, a, heads);
      pack(kg, kb.ptr, a, kvHeads);
      pack(vg, vb.ptr, a, kvHeads);
      pack(dog, dob.ptr, a, heads);
      scores(s, qg, kg, a);
      int gt = a.group * a.t, batch = a.b * a.kv;
      long sq = (long) gt * a.hd, sk = (long) a.t * a.hd, ss = (long) gt * a.t;
      Cublas cb = dev.cublas();
      // dP = dO·Vᵀ
      cb.gemmBatched(false, true, gt, a.t, a.hd, 1f, dog, a.hd, sq, vg, a.hd, sk, 0f, dp, a.t, ss, batch);
      dev.launch("attn_softmax_backward", (long) a.b * heads * a.t, 1, 128, 0, s, dp, lb.ptr, dob.ptr, ob.ptr, a.start,
          a.len, a.b, heads, a.t, a.hd, (float) (1.0 / Math.sqrt(headDim)));
      // dQ = dS·K; dK = dSᵀ·Q (sums the group's query heads); dV = Pᵀ·dO
      cb.gemmBatched(false, false, gt, a.hd, a.t, 1f, dp, a.t, ss, kg, a.hd, sk, 0f, dqg, a.hd, sq, batch);
      cb.gemmBatched(true, false, a.t, a.hd, gt, 1f, dp, a.t, ss, qg, a.hd, sq, 0f, dkg, a.hd, sk, batch);
      cb.gemmBatched(true, false, a.t, a.hd, gt, 1f, s, a.t, ss, dog, a.hd, sq, 0f, dvg, a.hd, sk, batch);
      debugGemm("attention backward");
      unpack(dqb.ptr, dqg, a, heads);
      unpack(dkb.ptr, dkg, a, kvHeads);
      unpack(dvb.ptr, dvg, a, kvHeads);
    });
  }

  @Override
  public void kvAppend(Buf kCache, Buf vCache, Buf k, Buf v, int past, int n, int capacity, int kvHeads, int headDim) {
    checkCache(kCache, capacity, kvHeads, headDim);
    checkCache(vCache, capacity, kvHeads, headDim);
    if (past < 0 || past + n > capacity) {
      throw new IllegalArgumentException("cannot append " + n + " tokens at " + past + " to a cache of " + capacity);
    }
    int kd = kvHeads * headDim;
    check(k, (long) n * kd, "k");
    check(v, (long) n * kd, "v");
    CudaBuf kc = cuda(kCache), vc = cuda(vCache), kb = cuda(k), vb = cuda(v);
    dev.post(() -> dev.launch("kv_append", grid((long) n * kd), 1, THREADS, 0, kc.ptr, vc.ptr, kb.ptr, vb.ptr, past, n, kd));
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
    // The device layout is row-major [capacity, kd]: the prefix is the first n·kd floats of each.
    long floats = (long) n * kvHeads * headDim;
    copy(dstK, 0, srcK, 0, floats);
    copy(dstV, 0, srcV, 0, floats);
  }

  @Override
  public void attentionCached(Buf out, Buf q, Buf kCache, Buf vCache, int past, int n, int capacity,
      int heads, int kvHeads, int headDim) {
    checkCache(kCache, capacity, kvHeads, headDim);
    checkCache(vCache, capacity, kvHeads, headDim);
    if (past < 0 || past + n > capacity) {
      throw new IllegalArgumentException(n + " queries at " + past + " exceed a cache of " + capacity);
    }
    check(out, (long) n * heads * headDim, "out");
    check(q, (long) n * heads * headDim, "q");
    CudaBuf ob = cuda(out), qb = cuda(q), kc = cuda(kCache), vc = cuda(vCache);
    int shared = 4 * (headDim + past + n);
    if (shared > 227 * 1024) throw new IllegalArgumentException("decode attention over " + (past + n) + " positions exceeds shared memory");
    dev.post(() -> dev.launch("attn_decode", heads, n, 128, shared, ob.ptr, qb.ptr, kc.ptr, vc.ptr, past, n, heads, kvHeads,
        headDim, (float) (1.0 / Math.sqrt(headDim))));
  }

  @Override
  public void appendAttendBatch(Buf out, Buf q, Buf k, Buf v, Buf[] kCaches, Buf[] vCaches, int[] past, int[] capacity,
      int[] rowStart, int heads, int kvHeads, int headDim) {
    batched.appendAttendBatch(out, q, k, v, kCaches, vCaches, past, capacity, rowStart, heads, kvHeads, headDim);
  }

  @Override
  public void loraGroups(Buf y, Buf x, int[] groupStart, Buf[] a, Buf[] b, int[] rank, float[] scaling, int in, int out, Buf scratch) {
    batched.loraGroups(y, x, groupStart, a, b, rank, scaling, in, out, scratch);
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
    CudaBuf hb = cuda(h), gb = cuda(g), ub = cuda(u);
    dev.post(() -> dev.launch("swiglu_forward", grid(n), 1, THREADS, 0, hb.ptr, gb.ptr, ub.ptr, n));
  }

  @Override
  public void swigluBackward(Buf dg, Buf du, Buf dh, Buf g, Buf u, long n) {
    OpChecks.swigluBackward(dg, du, dh, g, u, n);
    CudaBuf dgb = cuda(dg), dub = cuda(du), dhb = cuda(dh), gb = cuda(g), ub = cuda(u);
    dev.post(() -> dev.launch("swiglu_backward", grid(n), 1, THREADS, 0, dgb.ptr, dub.ptr, dhb.ptr, gb.ptr, ub.ptr, n));
  }

  @Override
  public void gatherRows(Buf dst, Buf src, int[] rows, int c) {
    check(dst, (long) rows.length * c, "dst");
    CudaBuf d = cuda(dst), s = cuda(src);
    for (int r : rows) if (r < 0 || (long) (r + 1) * c > s.n) throw new IllegalArgumentException("row " + r + " is outside the source");
    int[] rowCopy = rows.clone();
    dev.post(() -> {
      long pr = ints("rows", rowCopy, rowCopy.length);
      dev.launch("gather_rows", grid((long) rows.length * c), 1, THREADS, 0, d.ptr, s.ptr, pr, rows.length, c);
    });
  }

  @Override
  public void scatterAddRows(Buf dst, Buf src, int[] rows, int c) {
    check(src, (long) rows.length * c, "src");
    CudaBuf d = cuda(dst), s = cuda(src);
    for (int r : rows) if (r < 0 || (long) (r + 1) * c > d.n) throw new IllegalArgumentException("row " + r + " is outside the destination");
    int[] rowCopy = rows.clone();
    dev.post(() -> {
      long pr = ints("rows", rowCopy, rowCopy.length);
      dev.launch("scatter_add_rows", grid((long) rows.length * c), 1, THREADS, 0, d.ptr, s.ptr, pr, rows.length, c);
    });
  }

  // ---- fused output layer ----------------------------------------------------------------------

  private static void checkTargets(int[] targets, int m, int vocab) {
    for (int i = 0; i < m; i++) {
      if (targets[i] < 0 || targets[i] >= vocab) {
        throw new IllegalArgumentException("target token " + targets[i] + " at row " + i + " is outside [0, " + vocab + ")");
      }
    }
  }

  @Override
  public void logSoftmaxGatherForward(Buf logp, Buf lse, Buf hidden, Buf head, int[] targets, int m, int c, int vocab) {
    checkTargets(targets, m, vocab);
    check(logp, m, "logp");
    check(lse, m, "lse");
    check(hidden, (long) m * c, "hidden");
    CudaBuf lp = cuda(logp), ls = cuda(lse), h = cuda(hidden), w = weightOf(head, vocab, c);
    int[] tgt = Arrays.copyOf(targets, m);
    dev.post(() -> {
      long tg = ints("targets", tgt, m);
      long logits = scratch("logits", 4L * Math.min(m, LOGSOFTMAX_CHUNK) * vocab);
      for (int r0 = 0; r0 < m; r0 += LOGSOFTMAX_CHUNK) {
        int rows = Math.min(LOGSOFTMAX_CHUNK, m - r0);
        linear(logits, h.at((long) r0 * c), w, rows, c, vocab, 0f);
        dev.launch("lsm_forward", rows, 1, 512, 0, lp.ptr, ls.ptr, logits, tg, rows, vocab, r0);
      }
    });
  }

  @Override
  public void logSoftmaxGatherBackward(Buf dHidden, Buf dHead, Buf g, Buf hidden, Buf head, Buf lse,
      int[] targets, int m, int c, int vocab) {
    checkTargets(targets, m, vocab);
    check(dHidden, (long) m * c, "dHidden");
    CudaBuf dh = cuda(dHidden), gb = cuda(g), h = cuda(hidden), w = weightOf(head, vocab, c), ls = cuda(lse);
    CudaBuf dw = dHead == null ? null : cuda(dHead);
    int[] tgt = Arrays.copyOf(targets, m);
    dev.post(() -> {
      long tg = ints("targets", tgt, m);
      long logits = scratch("logits", 4L * Math.min(m, LOGSOFTMAX_CHUNK) * vocab);
      for (int r0 = 0; r0 < m; r0 += LOGSOFTMAX_CHUNK) {
        int rows = Math.min(LOGSOFTMAX_CHUNK, m - r0);
        linear(logits, h.at((long) r0 * c), w, rows, c, vocab, 0f);
        dev.launch("lsm_backward", rows, 1, 512, 0, logits, gb.ptr, ls.ptr, tg, rows, vocab, r0);
        linearBackInput(dh.at((long) r0 * c), logits, w, rows, c, vocab, 0f);
        if (dw != null) linearBackWeight(dw.ptr, logits, h.at((long) r0 * c), rows, c, vocab);
      }
    });
  }

  /**
   * sums[s] = Σ logp[i]·mask[i] over the rows of sequence s (the masked per-sequence log-prob sums
   * of DPO), on the device. A GPU-only helper beside the {@link Backend} ops.
   */
  public void maskedSequenceSums(Buf sums, Buf logp, Buf mask, SeqLayout layout) {
    check(sums, layout.sequences(), "sums");
    CudaBuf s = cuda(sums), lp = cuda(logp), mk = cuda(mask);
    dev.post(() -> {
      long st = ints("att_start", layout.start(), layout.sequences());
      long ln = ints("att_len", layout.length(), layout.sequences());
      dev.launch("masked_seq_sum", layout.sequences(), 1, 256, 0, s.ptr, lp.ptr, mk.ptr, st, ln, layout.sequences());
    });
  }

  /**
   * Draws one token from logits[0..vocab) on the device: argmax when temperature ≤ 0, else from
   * softmax(logits/temperature) restricted to the topK largest (0 = all) and the topP nucleus
   * (1 = all), with a counter-based generator keyed by (seed, step).
   */
  public int sampleToken(Buf logits, int vocab, float temperature, int topK, float topP, long seed, long step) {
    check(logits, vocab, "logits");
    CudaBuf l = cuda(logits);
    return dev.call(() -> {
      long out = scratch("sample_out", 4);
      dev.launch("sample_token", 1, 1, 1024, 0, out, l.ptr, vocab, temperature, topK, topP, seed, step);
      try (Arena a = Arena.ofConfined()) {
        MemorySegment h = a.allocate(ValueLayout.JAVA_INT);
        dev.dtoh(h, out, 4);
        return h.get(ValueLayout.JAVA_INT, 0);
      }
    });
  }

  // ---- optimiser -------------------------------------------------------------------------------

  @Override
  public double sumSquares(Buf x, long n) {
    check(x, n, "x");
    CudaBuf xb = cuda(x);
    return dev.call(() -> {
      long partial = scratch("sumsq", 8L * SUMSQ_BLOCKS);
      dev.launch("sumsq_partial", SUMSQ_BLOCKS, 1, THREADS, 0, partial, xb.ptr, n);
      try (Arena a = Arena.ofConfined()) {
        MemorySegment h = a.allocate(ValueLayout.JAVA_DOUBLE, SUMSQ_BLOCKS);
        dev.dtoh(h, partial, 8L * SUMSQ_BLOCKS);
        double s = 0;
        for (int i = 0; i < SUMSQ_BLOCKS; i++) s += h.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
        return s;
      }
    });
  }

  @Override
  public void adamwUpdate(Buf p, Buf g, Buf m, Buf v, long n, AdamWCoefficients c) {
    check(p, n, "p");
    check(g, n, "g");
    check(m, n, "m");
    check(v, n, "v");
    CudaBuf pb = cuda(p), gb = cuda(g), mb = cuda(m), vb = cuda(v);
    dev.post(() -> {
      dev.launch("adamw_update", grid(n), 1, THREADS, 0, pb.ptr, gb.ptr, mb.ptr, vb.ptr, n, c.gradScale(), c.beta1(),
          c.oneMinusBeta1(), c.beta2(), c.oneMinusBeta2(), c.stepSize(), c.biasCorrection2Sqrt(), c.epsilon(), c.decayFactor());
      if (pb.isWeight()) refreshNow(pb);
    });
  }

  @Override
  public void close() {
    dev.close();
  }

  @Override
  public String toString() {
    return "CudaBackend[" + dev.name() + ", " + dev.arch() + "]";
  }
}
