package io.prefstream.model.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.model.backend.AdamWCoefficients;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.backend.SeqLayout;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.config.Rope;
import io.prefstream.model.config.RopeScaling;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.cpu.WorkerPool;
import io.prefstream.model.llama.BatchDecoder;
import io.prefstream.model.llama.ForwardPass;
import io.prefstream.model.llama.KvCache;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.llama.Tiny;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.train.GradMode;
import io.prefstream.model.train.Parameter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every op of the CUDA backend against its CPU twin on fresh random inputs, with the device's
 * outputs poisoned (NaN) before each run so an op that skips elements cannot pass; relative error
 * ‖gpu − cpu‖/‖cpu‖ below 1e-5 for float32 paths and 1e-2 for bf16 ones (frozen weights). The
 * serving engine's batched ops are also checked against the GPU's own single ops, and BatchDecoder
 * steps against the CPU and against its per-sequence path on the GPU. Ends with a whole DPO-style
 * step on a small Llama with LoRA: log-probs, backward to the adapter, AdamW. Skipped, with the reason, where no CUDA device and libraries are found.
 */
class CudaBackendConformanceTest {
  private static final double FP32 = 1e-5;
  private static final double BF16 = 1e-2;
  private static CudaBackend gpu;
  private static CpuBackend cpu;
  private static String unavailable;
  /**
   * Inputs are random; the seed is printed so that a failure can be replayed
   * ({@code -Dprefstream.conformance.seed=N}, or {@code CONFORMANCE_SEED=N bash bench/gpu-check.sh}).
   */
  static final long SEED = Long.getLong("prefstream.conformance.seed", System.nanoTime());
  private final SplittableRandom rnd = new SplittableRandom(SEED);

  @BeforeAll
  static void open(@org.junit.jupiter.api.io.TempDir Path cache) {
    System.out.println("conformance seed: " + SEED + " (replay with -Dprefstream.conformance.seed=" + SEED + ")");
    CudaLibraries.Discovery d = CudaLibraries.discover();
    if (!d.found()) {
      unavailable = "no CUDA device: " + d.reason();
      return;
    }
    try {
      // the production mode (ops queued to the owner thread); CudaBackendContractTest runs in debug mode
      gpu = CudaBackend.open(d.libraries().get(), 0, cache, false);
    } catch (CudaUnavailableException e) {
      unavailable = "no CUDA device: " + e.getMessage();
      return;
    }
    cpu = new CpuBackend(new WorkerPool(2));
  }

  @org.junit.jupiter.api.BeforeEach
  void requireGpu() {
    Assumptions.assumeTrue(gpu != null, unavailable);
  }

  @AfterAll
  static void close() {
    if (gpu != null) gpu.close();
    if (cpu != null) cpu.close();
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private float[] random(int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextDouble() * 2 - 1);
    return a;
  }

  private static Buf up(Backend be, float[] a) {
    Buf b = be.alloc(a.length);
    be.upload(b, a);
    return b;
  }

  /** A device buffer of n NaNs: an output the op must overwrite completely. */
  private static Buf poisoned(long n) {
    float[] nan = new float[(int) n];
    Arrays.fill(nan, Float.NaN);
    return up(gpu, nan);
  }

  private static float[] host(Backend be, Buf b) {
    float[] a = new float[(int) b.size()];
    be.download(b, a);
    return a;
  }

  static double relErr(float[] got, float[] ref) {
    double num = 0, den = 0;
    for (int i = 0; i < ref.length; i++) {
      double d = (double) got[i] - ref[i];
      num += d * d;
      den += (double) ref[i] * ref[i];
    }
    if (Double.isNaN(num)) return Double.POSITIVE_INFINITY;
    return Math.sqrt(num / Math.max(den, 1e-30));
  }

  private static void close(String what, Buf g, Buf c, double tol) {
    float[] a = host(gpu, g), b = host(cpu, c);
    assertThat(relErr(a, b)).as(what).isLessThan(tol);
  }

  // ---- ops ---------------------------------------------------------------------------------------

  @Test
  void matmulsMatchInFp32ForTrainableAndBf16ForFrozenWeights() {
    int[][] shapes = {{1, 576, 192}, {37, 64, 100}, {300, 576, 1536}, {513, 1536, 576}};
    for (int[] s : shapes) {
      int n = s[0], in = s[1], out = s[2];
      float[] x = random(n * in), w = random(out * in), b = random(out), dy = random(n * out), y0 = random(n * out);
      for (boolean trainable : new boolean[] {true, false}) {
        double tol = trainable ? FP32 : BF16;
        String tag = Arrays.toString(s) + (trainable ? " fp32" : " bf16");
        Buf wg = gpu.weight(w, out, in, trainable), wc = cpu.weight(w, out, in, trainable);
        Buf yg = up(gpu, y0), yc = up(cpu, y0);
        gpu.matmulForward(yg, up(gpu, x), wg, up(gpu, b), n, in, out, true);
        cpu.matmulForward(yc, up(cpu, x), wc, up(cpu, b), n, in, out, true);
        close("forward accumulate " + tag, yg, yc, tol);
        Buf yg2 = poisoned((long) n * out), yc2 = cpu.alloc((long) n * out);
        gpu.matmulForward(yg2, up(gpu, x), wg, null, n, in, out, false);
        cpu.matmulForward(yc2, up(cpu, x), wc, null, n, in, out, false);
        close("forward " + tag, yg2, yc2, tol);
        Buf dxg = poisoned((long) n * in), dxc = cpu.alloc((long) n * in);
        gpu.matmulBackwardInput(dxg, up(gpu, dy), wg, n, in, out, false);
        cpu.matmulBackwardInput(dxc, up(cpu, dy), wc, n, in, out, false);
        close("dx " + tag, dxg, dxc, tol);
      }
      float[] dw0 = random(out * in);
      Buf dwg = up(gpu, dw0), dwc = up(cpu, dw0);
      gpu.matmulBackwardWeight(dwg, up(gpu, dy), up(gpu, x), n, in, out);
      cpu.matmulBackwardWeight(dwc, up(cpu, dy), up(cpu, x), n, in, out);
      close("dW " + Arrays.toString(s), dwg, dwc, FP32);
      float[] db0 = random(out);
      Buf dbg = up(gpu, db0), dbc = up(cpu, db0);
      gpu.biasBackward(dbg, up(gpu, dy), n, out);
      cpu.biasBackward(dbc, up(cpu, dy), n, out);
      close("db " + Arrays.toString(s), dbg, dbc, FP32);
    }
  }

  @Test
  void embeddingGatherAndScatterAddWithRepeatedTokens() {
    int vocab = 500, c = 96, n = 777;
    int[] tokens = new int[n];
    for (int i = 0; i < n; i++) tokens[i] = rnd.nextInt(40); // many repeats
    float[] table = random(vocab * c), dOut = random(n * c), dt0 = random(vocab * c);
    Buf og = poisoned((long) n * c), oc = cpu.alloc((long) n * c);
    gpu.embeddingForward(og, up(gpu, table), tokens, n, c);
    cpu.embeddingForward(oc, up(cpu, table), tokens, n, c);
    close("embedding forward", og, oc, 1e-12);
    Buf dg = up(gpu, dt0), dc = up(cpu, dt0);
    gpu.embeddingBackward(dg, up(gpu, dOut), tokens, n, c);
    cpu.embeddingBackward(dc, up(cpu, dOut), tokens, n, c);
    close("embedding backward", dg, dc, FP32);
  }

  @Test
  void rmsnormForwardAndBackward() {
    int n = 301, c = 576;
    float eps = 1e-5f;
    float[] x = random(n * c), w = random(c), dOut = random(n * c), dx0 = random(n * c), dw0 = random(c);
    Buf outG = poisoned((long) n * c), rG = poisoned(n), outC = cpu.alloc((long) n * c), rC = cpu.alloc(n);
    Buf xg = up(gpu, x), wg = up(gpu, w), xc = up(cpu, x), wc = up(cpu, w);
    gpu.rmsnormForward(outG, rG, xg, wg, n, c, eps);
    cpu.rmsnormForward(outC, rC, xc, wc, n, c, eps);
    close("rmsnorm out", outG, outC, FP32);
    close("rmsnorm rstd", rG, rC, FP32);
    Buf dxg = up(gpu, dx0), dwg = up(gpu, dw0), dxc = up(cpu, dx0), dwc = up(cpu, dw0);
    gpu.rmsnormBackward(dxg, dwg, up(gpu, dOut), xg, wg, rG, n, c);
    cpu.rmsnormBackward(dxc, dwc, up(cpu, dOut), xc, wc, rC, n, c);
    close("rmsnorm dx", dxg, dxc, FP32);
    close("rmsnorm dw", dwg, dwc, FP32);
  }

  @Test
  void ropeForwardAndBackward() {
    int n = 200, heads = 9, hd = 64;
    int[] scattered = new int[n], contiguous = new int[n];
    for (int i = 0; i < n; i++) {
      scattered[i] = rnd.nextInt(4000);
      contiguous[i] = 300 + i; // the no-upload path
    }
    float[] x = random(n * heads * hd);
    List<Rope> ropes = List.of(Rope.unscaled(100000), new Rope(500000, new RopeScaling.Llama3(8, 1, 4, 8192)));
    for (Rope rope : ropes) for (int[] pos : List.of(scattered, contiguous)) for (boolean back : new boolean[] {false, true}) {
      Buf g = up(gpu, x), c = up(cpu, x);
      if (back) {
        gpu.ropeBackward(g, pos, n, heads, hd, rope);
        cpu.ropeBackward(c, pos, n, heads, hd, rope);
      } else {
        gpu.ropeForward(g, pos, n, heads, hd, rope);
        cpu.ropeForward(c, pos, n, heads, hd, rope);
      }
      close("rope " + rope.scaling().type() + (back ? " backward" : " forward"), g, c, FP32);
    }
  }

  @Test
  void packedCausalGqaAttentionForwardAndBackward() {
    int heads = 9, kv = 3, hd = 64;
    int[] lens = {130, 37, 1, 64, 257};
    SeqLayout layout = SeqLayout.of(lens);
    int n = layout.tokens(), qd = heads * hd, kd = kv * hd;
    float[] q = random(n * qd), k = random(n * kd), v = random(n * kd), dOut = random(n * qd);
    Buf qg = up(gpu, q), kg = up(gpu, k), vg = up(gpu, v), qc = up(cpu, q), kc = up(cpu, k), vc = up(cpu, v);
    Buf og = poisoned((long) n * qd), lg = poisoned((long) n * heads), oc = cpu.alloc((long) n * qd), lc = cpu.alloc((long) n * heads);
    gpu.attentionForward(og, lg, qg, kg, vg, layout, heads, kv, hd);
    cpu.attentionForward(oc, lc, qc, kc, vc, layout, heads, kv, hd);
    close("attention out", og, oc, FP32);
    close("attention lse", lg, lc, FP32);
    Buf dqg = poisoned((long) n * qd), dkg = poisoned((long) n * kd), dvg = poisoned((long) n * kd);
    Buf dqc = cpu.alloc((long) n * qd), dkc = cpu.alloc((long) n * kd), dvc = cpu.alloc((long) n * kd);
    gpu.attentionBackward(dqg, dkg, dvg, up(gpu, dOut), og, lg, qg, kg, vg, layout, heads, kv, hd);
    cpu.attentionBackward(dqc, dkc, dvc, up(cpu, dOut), oc, lc, qc, kc, vc, layout, heads, kv, hd);
    close("attention dq", dqg, dqc, FP32);
    close("attention dk", dkg, dkc, FP32);
    close("attention dv", dvg, dvc, FP32);
  }

  @Test
  void kvCacheAppendAndDecodeAttention() {
    int heads = 9, kv = 3, hd = 64, cap = 2 * Backend.KV_CACHE_ALIGN, kd = kv * hd, qd = heads * hd;
    int prefill = 70;
    float[] k = random(prefill * kd), v = random(prefill * kd);
    Buf kcg = gpu.alloc((long) cap * kd), vcg = gpu.alloc((long) cap * kd);
    Buf kcc = cpu.alloc((long) cap * kd), vcc = cpu.alloc((long) cap * kd);
    gpu.kvAppend(kcg, vcg, up(gpu, k), up(gpu, v), 0, prefill, cap, kv, hd);
    cpu.kvAppend(kcc, vcc, up(cpu, k), up(cpu, v), 0, prefill, cap, kv, hd);
    int past = prefill;
    for (int step = 0; step < 3; step++) {
      float[] k1 = random(kd), v1 = random(kd), q1 = random(qd);
      gpu.kvAppend(kcg, vcg, up(gpu, k1), up(gpu, v1), past, 1, cap, kv, hd);
      cpu.kvAppend(kcc, vcc, up(cpu, k1), up(cpu, v1), past, 1, cap, kv, hd);
      Buf og = poisoned(qd), oc = cpu.alloc(qd);
      gpu.attentionCached(og, up(gpu, q1), kcg, vcg, past, 1, cap, heads, kv, hd);
      cpu.attentionCached(oc, up(cpu, q1), kcc, vcc, past, 1, cap, heads, kv, hd);
      close("decode attention step " + step, og, oc, FP32);
      past++;
    }
  }

  /** Per-sequence caches on one backend, each filled with its prefix. */
  private static Buf[][] caches(Backend be, float[][] prefixK, float[][] prefixV, int[] past, int[] cap, int kv, int hd) {
    int b = past.length, kd = kv * hd;
    Buf[][] c = new Buf[2][b];
    for (int s = 0; s < b; s++) {
      c[0][s] = be.alloc((long) cap[s] * kd);
      c[1][s] = be.alloc((long) cap[s] * kd);
      if (past[s] > 0) be.kvAppend(c[0][s], c[1][s], up(be, prefixK[s]), up(be, prefixV[s]), 0, past[s], cap[s], kv, hd);
    }
    return c;
  }

  @Test
  void batchedAppendAndAttendMatchTheCpuTwinAndTheGpuSingleOps() {
    int heads = 9, kv = 3, hd = 64, qd = heads * hd, kd = kv * hd, align = Backend.KV_CACHE_ALIGN;
    // a long prompt chunk from 0, decode rows, an idle sequence, a chunk after a prefix, one filling its cache
    int[] past = {0, 300, 17, 0, 1000, align - 1};
    int[] len = {130, 1, 1, 0, 7, 1};
    int b = len.length;
    int[] cap = new int[b], start = new int[b + 1];
    for (int s = 0; s < b; s++) {
      cap[s] = (past[s] + len[s] + 1 + align - 1) / align * align; // room for one more step
      start[s + 1] = start[s] + len[s];
    }
    cap[5] = align; // ... except this one, which the first step fills
    float[][] pk = new float[b][], pv = new float[b][];
    for (int s = 0; s < b; s++) {
      pk[s] = random(past[s] * kd);
      pv[s] = random(past[s] * kd);
    }
    Buf[][] g = caches(gpu, pk, pv, past, cap, kv, hd), c = caches(cpu, pk, pv, past, cap, kv, hd);
    Buf[][] g1 = caches(gpu, pk, pv, past, cap, kv, hd); // for the GPU's single ops
    int rows = start[b];
    float[] q = random(rows * qd), k = random(rows * kd), v = random(rows * kd);
    Buf og = poisoned((long) rows * qd), oc = cpu.alloc((long) rows * qd);
    gpu.appendAttendBatch(og, up(gpu, q), up(gpu, k), up(gpu, v), g[0], g[1], past, cap, start, heads, kv, hd);
    cpu.appendAttendBatch(oc, up(cpu, q), up(cpu, k), up(cpu, v), c[0], c[1], past, cap, start, heads, kv, hd);
    close("batched attention, first step", og, oc, FP32);
    // the same rows one sequence at a time through kvAppend + attentionCached on the GPU: the same arithmetic
    float[] batched = host(gpu, og), single = new float[rows * qd];
    for (int s = 0; s < b; s++) {
      if (len[s] == 0) continue;
      Buf o1 = poisoned((long) len[s] * qd);
      gpu.kvAppend(g1[0][s], g1[1][s], up(gpu, Arrays.copyOfRange(k, start[s] * kd, start[s + 1] * kd)),
          up(gpu, Arrays.copyOfRange(v, start[s] * kd, start[s + 1] * kd)), past[s], len[s], cap[s], kv, hd);
      gpu.attentionCached(o1, up(gpu, Arrays.copyOfRange(q, start[s] * qd, start[s + 1] * qd)), g1[0][s], g1[1][s], past[s],
          len[s], cap[s], heads, kv, hd);
      System.arraycopy(host(gpu, o1), 0, single, start[s] * qd, len[s] * qd);
    }
    assertThat(batched).as("batched attention against the GPU's single ops").containsExactly(single);
    for (int s = 0; s < b; s++) {
      assertThat(host(gpu, g[0][s])).as("key cache %d", s).containsExactly(host(gpu, g1[0][s]));
      assertThat(host(gpu, g[1][s])).as("value cache %d", s).containsExactly(host(gpu, g1[1][s]));
    }
    // a second step, one decode row for every sequence with room, reads what the first one appended
    int[] past2 = new int[b], len2 = new int[b], start2 = new int[b + 1];
    for (int s = 0; s < b; s++) {
      past2[s] = past[s] + len[s];
      len2[s] = past2[s] < cap[s] ? 1 : 0;
      start2[s + 1] = start2[s] + len2[s];
    }
    int rows2 = start2[b];
    float[] q2 = random(rows2 * qd), k2 = random(rows2 * kd), v2 = random(rows2 * kd);
    Buf og2 = poisoned((long) rows2 * qd), oc2 = cpu.alloc((long) rows2 * qd);
    gpu.appendAttendBatch(og2, up(gpu, q2), up(gpu, k2), up(gpu, v2), g[0], g[1], past2, cap, start2, heads, kv, hd);
    cpu.appendAttendBatch(oc2, up(cpu, q2), up(cpu, k2), up(cpu, v2), c[0], c[1], past2, cap, start2, heads, kv, hd);
    close("batched attention, second step", og2, oc2, FP32);
  }

  @Test
  void groupedLoraDeltasMatchTheCpuTwinInFp32ForTrainableAndBf16ForFrozenAdapters() {
    int in = 576, out = 1536;
    int[] len = {1, 3, 0, 130, 1, 2};
    int[] rank = {8, 0, 16, 64, 8, 16}; // group 1 has no adapter
    float[] scaling = {2f, 0f, 1f, 0.25f, -1.5f, 0.5f};
    int groups = len.length, maxRank = 64;
    int[] start = new int[groups + 1];
    for (int gi = 0; gi < groups; gi++) start[gi + 1] = start[gi] + len[gi];
    int rows = start[groups];
    float[] x = random(rows * in), y0 = random(rows * out);
    float[][] fa = new float[groups][], fb = new float[groups][];
    for (int gi = 0; gi < groups; gi++) {
      if (rank[gi] == 0) continue;
      fa[gi] = random(rank[gi] * in);
      fb[gi] = random(out * rank[gi]);
    }
    for (boolean trainable : new boolean[] {true, false}) {
      Buf[] ag = new Buf[groups], bg = new Buf[groups], ac = new Buf[groups], bc = new Buf[groups];
      for (int gi = 0; gi < groups; gi++) {
        if (rank[gi] == 0) continue;
        ag[gi] = gpu.weight(fa[gi], rank[gi], in, trainable);
        bg[gi] = gpu.weight(fb[gi], out, rank[gi], trainable);
        ac[gi] = cpu.weight(fa[gi], rank[gi], in, trainable);
        bc[gi] = cpu.weight(fb[gi], out, rank[gi], trainable);
      }
      Buf yg = up(gpu, y0), yc = up(cpu, y0);
      gpu.loraGroups(yg, up(gpu, x), start, ag, bg, rank, scaling, in, out, poisoned((long) rows * maxRank));
      cpu.loraGroups(yc, up(cpu, x), start, ac, bc, rank, scaling, in, out, cpu.alloc((long) rows * maxRank));
      String tag = trainable ? "fp32" : "bf16";
      // the deltas, not y, so that y0 does not hide their error
      float[] dg = host(gpu, yg), dc = host(cpu, yc);
      for (int i = 0; i < dg.length; i++) {
        dg[i] -= y0[i];
        dc[i] -= y0[i];
      }
      assertThat(relErr(dg, dc)).as("LoRA deltas " + tag).isLessThan(trainable ? FP32 : BF16);
      assertThat(Arrays.copyOfRange(dg, start[1] * out, start[2] * out)).as("rows without an adapter " + tag).containsOnly(0f);
    }
  }

  @Test
  void swigluForwardAndBackward() {
    int n = 100_003;
    float[] g = random(n), u = random(n), dh = random(n);
    for (int i = 0; i < n; i++) g[i] *= 8;
    Buf hg = poisoned(n), hc = cpu.alloc(n);
    Buf gg = up(gpu, g), ug = up(gpu, u), gc = up(cpu, g), uc = up(cpu, u);
    gpu.swigluForward(hg, gg, ug, n);
    cpu.swigluForward(hc, gc, uc, n);
    close("swiglu", hg, hc, FP32);
    Buf dgg = poisoned(n), dug = poisoned(n), dgc = cpu.alloc(n), duc = cpu.alloc(n);
    gpu.swigluBackward(dgg, dug, up(gpu, dh), gg, ug, n);
    cpu.swigluBackward(dgc, duc, up(cpu, dh), gc, uc, n);
    close("swiglu dg", dgg, dgc, FP32);
    close("swiglu du", dug, duc, FP32);
  }

  @Test
  void rowGatherScatterAndElementwiseOps() {
    int rows = 50, c = 33;
    float[] src = random(rows * c), small = random(10 * c), base = random(rows * c);
    int[] pick = {3, 0, 49, 17, 18, 2, 40, 41, 5, 9};
    Buf gg = poisoned(10L * c), gc = cpu.alloc(10L * c);
    gpu.gatherRows(gg, up(gpu, src), pick, c);
    cpu.gatherRows(gc, up(cpu, src), pick, c);
    close("gather", gg, gc, 1e-12);
    Buf sg = up(gpu, base), sc = up(cpu, base);
    gpu.scatterAddRows(sg, up(gpu, small), pick, c);
    cpu.scatterAddRows(sc, up(cpu, small), pick, c);
    close("scatter-add", sg, sc, 1e-12);
    gpu.scale(sg, 100, 0.37f);
    cpu.scale(sc, 100, 0.37f);
    gpu.addInPlace(sg, up(gpu, src), 1000);
    cpu.addInPlace(sc, up(cpu, src), 1000);
    close("scale and add", sg, sc, 1e-7);
    Buf cg = poisoned(rows * c), cc = cpu.alloc(rows * c);
    gpu.copy(cg, 0, sg, 0, rows * c);
    cpu.copy(cc, 0, sc, 0, rows * c);
    gpu.copy(cg, 5, sg, 100, 200);
    cpu.copy(cc, 5, sc, 100, 200);
    close("copy", cg, cc, 1e-12);
    gpu.zero(cg);
    assertThat(host(gpu, cg)).containsOnly(0f);
  }

  @Test
  void fusedLogSoftmaxGatherAcrossChunksWithFrozenAndTrainableHeads() {
    int m = CudaBackend.LOGSOFTMAX_CHUNK + 77, c = 96, vocab = 3001;
    float[] h = random(m * c), head = random(vocab * c), g = random(m);
    for (int i = 0; i < m; i += 3) g[i] = 0; // masked tokens
    int[] targets = new int[m];
    for (int i = 0; i < m; i++) targets[i] = rnd.nextInt(vocab);
    for (boolean trainable : new boolean[] {true, false}) {
      double tol = trainable ? FP32 : BF16;
      Buf hg = up(gpu, h), hc = up(cpu, h);
      Buf wg = gpu.weight(head, vocab, c, trainable), wc = cpu.weight(head, vocab, c, trainable);
      Buf lpg = poisoned(m), lsg = poisoned(m), lpc = cpu.alloc(m), lsc = cpu.alloc(m);
      gpu.logSoftmaxGatherForward(lpg, lsg, hg, wg, targets, m, c, vocab);
      cpu.logSoftmaxGatherForward(lpc, lsc, hc, wc, targets, m, c, vocab);
      close("logp " + trainable, lpg, lpc, tol);
      close("lse " + trainable, lsg, lsc, tol);
      float[] dHead0 = random(vocab * c);
      Buf dhg = poisoned((long) m * c), dhc = cpu.alloc((long) m * c), dwg = up(gpu, dHead0), dwc = up(cpu, dHead0);
      gpu.logSoftmaxGatherBackward(dhg, dwg, up(gpu, g), hg, wg, lsg, targets, m, c, vocab);
      cpu.logSoftmaxGatherBackward(dhc, dwc, up(cpu, g), hc, wc, lsc, targets, m, c, vocab);
      close("dHidden " + trainable, dhg, dhc, tol);
      close("dHead " + trainable, dwg, dwc, tol);
    }
  }

  @Test
  void maskedSequenceSumsMatchHost() {
    SeqLayout layout = SeqLayout.of(5, 300, 1, 64);
    int n = layout.tokens();
    float[] logp = random(n), mask = new float[n];
    for (int i = 0; i < n; i++) mask[i] = rnd.nextBoolean() ? 1f : 0f;
    Buf sums = poisoned(layout.sequences());
    gpu.maskedSequenceSums(sums, up(gpu, logp), up(gpu, mask), layout);
    float[] ref = new float[layout.sequences()];
    for (int s = 0; s < layout.sequences(); s++) {
      for (int i = 0; i < layout.length(s); i++) ref[s] += logp[layout.start(s) + i] * mask[layout.start(s) + i];
    }
    assertThat(relErr(host(gpu, sums), ref)).isLessThan(FP32);
  }

  @Test
  void samplingTakesArgmaxAtZeroTemperatureAndStaysInsideTopK() {
    int vocab = 49_152;
    float[] logits = random(vocab);
    for (int i = 0; i < vocab; i++) logits[i] *= 10;
    Integer[] order = new Integer[vocab];
    for (int i = 0; i < vocab; i++) order[i] = i;
    Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
    Buf lg = up(gpu, logits);
    assertThat(gpu.sampleToken(lg, vocab, 0f, 0, 1f, 1, 0)).isEqualTo(order[0]);
    assertThat(gpu.sampleToken(lg, vocab, 1f, 1, 1f, 7, 3)).isEqualTo(order[0]);
    List<Integer> top5 = List.of(order).subList(0, 5);
    for (long step = 0; step < 20; step++) {
      int t = gpu.sampleToken(lg, vocab, 1.5f, 5, 1f, 42, step);
      assertThat(top5).contains(t);
      assertThat(gpu.sampleToken(lg, vocab, 1.5f, 5, 1f, 42, step)).as("same seed and step").isEqualTo(t);
    }
    for (long step = 0; step < 20; step++) {
      int t = gpu.sampleToken(lg, vocab, 1f, 0, 0.5f, 9, step);
      assertThat(t).isBetween(0, vocab - 1);
    }
  }

  @Test
  void sumSquaresAndAdamWMatchTheCpuTwinBitForBit() {
    int n = 70_007; // 7 × 10001
    float[] p = random(n), g = random(n), m = random(n), v = random(n);
    for (int i = 0; i < n; i++) v[i] = Math.abs(v[i]);
    Buf gg = up(gpu, g), gc = up(cpu, g);
    double sg = gpu.sumSquares(gg, n), sc = cpu.sumSquares(gc, n);
    assertThat(Math.abs(sg - sc) / sc).isLessThan(1e-12);
    AdamWCoefficients c = AdamWCoefficients.of(1e-3, 0.9, 0.999, 1e-8, 0.01, 3, AdamWCoefficients.clipScale(Math.sqrt(sc), 1.0), true);
    Buf pg = gpu.weight(p, 7, n / 7, true), pc = cpu.weight(p, 7, n / 7, true);
    Buf mg = up(gpu, m), vg = up(gpu, v), mc = up(cpu, m), vc = up(cpu, v);
    gpu.adamwUpdate(pg, gg, mg, vg, n, c);
    cpu.adamwUpdate(pc, gc, mc, vc, n, c);
    assertThat(host(gpu, pg)).containsExactly(host(cpu, pc));
    assertThat(host(gpu, mg)).containsExactly(host(cpu, mc));
    assertThat(host(gpu, vg)).containsExactly(host(cpu, vc));
  }

  // ---- the serving engine's step ------------------------------------------------------------------

  /** The backend seen only as a {@link Backend}, so {@link BatchDecoder} takes its per-sequence, per-group path. */
  private static Backend withoutBatchedOps(Backend be) {
    return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, (proxy, m, args) -> {
      try {
        return m.invoke(be, args);
      } catch (InvocationTargetException e) {
        throw e.getCause();
      }
    });
  }

  /** Logits of every step of a fixed schedule: prompts fed in chunks of 16 beside decode rows, two adapters and none. */
  private static List<float[]> engineLogits(Backend be, LlamaConfig cfg, Map<String, NamedTensor> w) {
    LlamaModel base = LlamaModel.create(cfg, w, be);
    LlamaModel a = base.sibling(), b = base.sibling();
    randomAdapter(a, new LoraConfig(8, 16, LoraConfig.ALL_TARGETS, 0), 5);
    randomAdapter(b, new LoraConfig(4, 8, java.util.Set.of("q_proj", "down_proj"), 0), 6);
    LlamaModel[] models = {base.sibling(), a, a, b};
    SplittableRandom r = new SplittableRandom(3);
    int[][] prompts = {Tiny.tokens(r, cfg.vocabSize(), 70), Tiny.tokens(r, cfg.vocabSize(), 5), Tiny.tokens(r, cfg.vocabSize(), 1),
        Tiny.tokens(r, cfg.vocabSize(), 40)};
    int[][] next = new int[4][];
    KvCache[] caches = new KvCache[4];
    for (int s = 0; s < 4; s++) {
      next[s] = Tiny.tokens(r, cfg.vocabSize(), 6);
      caches[s] = models[s].newKvCache(prompts[s].length + next[s].length);
    }
    BatchDecoder dec = new BatchDecoder(cfg, be);
    int[] fed = new int[4], decoded = new int[4];
    List<float[]> out = new ArrayList<>();
    while (true) {
      List<BatchDecoder.Row> rows = new ArrayList<>();
      for (int s = 0; s < 4; s++) {
        int[] toks;
        if (fed[s] < prompts[s].length) {
          int k = Math.min(16, prompts[s].length - fed[s]);
          toks = Arrays.copyOfRange(prompts[s], fed[s], fed[s] + k);
          fed[s] += k;
        } else if (decoded[s] < next[s].length) {
          toks = new int[] {next[s][decoded[s]++]};
        } else {
          continue;
        }
        rows.add(new BatchDecoder.Row(models[s], caches[s], toks));
      }
      if (rows.isEmpty()) return out;
      out.addAll(List.of(dec.step(rows)));
    }
  }

  private static void randomAdapter(LlamaModel m, LoraConfig lc, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    for (Parameter p : m.attachNewLora(lc, seed).parameters()) {
      float[] v = new float[p.numel()];
      for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextDouble() - 0.5) * 0.2f; // B nonzero: the deltas count
      p.set(v);
    }
  }

  @Test
  void engineStepsWithTheBatchedOpsMatchTheCpuAndTheGpusPerSequencePath() {
    LlamaConfig cfg = new LlamaConfig(512, 128, 320, 2, 4, 2, 32, 256, 1e-5, 10000.0, true, false, 1, 2);
    Map<String, NamedTensor> w = Tiny.weights(cfg, 9);
    List<float[]> batched = engineLogits(gpu, cfg, w), perSequence = engineLogits(withoutBatchedOps(gpu), cfg, w);
    List<float[]> onCpu = engineLogits(cpu, cfg, w);
    assertThat(batched).hasSameSizeAs(onCpu).hasSameSizeAs(perSequence);
    for (int i = 0; i < batched.size(); i++) {
      assertThat(relErr(batched.get(i), perSequence.get(i))).as("row %d: batched ops against the per-sequence path", i).isLessThan(FP32);
      assertThat(relErr(batched.get(i), onCpu.get(i))).as("row %d: GPU against CPU (bf16 base weights)", i).isLessThan(BF16);
    }
  }

  // ---- a whole DPO step ----------------------------------------------------------------------------

  private static LlamaModel model(Backend be, LlamaConfig cfg, Map<String, NamedTensor> w, LoraConfig lc, Map<String, float[]> loraValues) {
    LlamaModel m = LlamaModel.create(cfg, w, be);
    LoraAdapter a = m.attachNewLora(lc, 11);
    for (Parameter p : a.parameters()) p.set(loraValues.get(p.name()));
    return m;
  }

  @Test
  void dpoStepLogProbsLoraGradientsAndAdamWUpdateMatchTheCpuBackend() {
    LlamaConfig cfg = new LlamaConfig(512, 128, 320, 2, 4, 2, 32, 256, 1e-5, 10000.0, true, false, 1, 2);
    Map<String, NamedTensor> w = Tiny.weights(cfg, 5);
    LoraConfig lc = new LoraConfig(8, 16, LoraConfig.ALL_TARGETS, 0);
    Map<String, float[]> lora = new java.util.HashMap<>();
    try (CpuBackend tmp = new CpuBackend(new WorkerPool(1))) {
      LlamaModel init = LlamaModel.create(cfg, w, tmp);
      for (Parameter p : init.attachNewLora(lc, 11).parameters()) {
        float[] x = random(p.numel());
        for (int i = 0; i < x.length; i++) x[i] *= 0.05f; // B nonzero so every factor gets a gradient
        lora.put(p.name(), x);
      }
    }
    LlamaModel mg = model(gpu, cfg, w, lc, lora), mc = model(cpu, cfg, w, lc, lora);
    List<PromptResponse> batch = new ArrayList<>();
    SplittableRandom r = new SplittableRandom(8);
    for (int i = 0; i < 4; i++) batch.add(new PromptResponse(Tiny.tokens(r, cfg.vocabSize(), 10 + 7 * i), Tiny.tokens(r, cfg.vocabSize(), 30 + 5 * i)));
    // pairs: (0 chosen, 1 rejected), (2 chosen, 3 rejected); the reference is the policy at this point
    SequenceLogProbs refG = mg.logProbs(batch), refC = mc.logProbs(batch);
    ForwardPass fg = mg.forward(batch, GradMode.LORA, false), fc = mc.forward(batch, GradMode.LORA, false);
    float[] lpG = new float[4], lpC = new float[4];
    for (int i = 0; i < 4; i++) {
      lpG[i] = (float) fg.result().sum(i);
      lpC[i] = (float) fc.result().sum(i);
    }
    assertThat(relErr(lpG, lpC)).as("policy log-probs").isLessThan(BF16);
    double beta = 0.1;
    double[] dG = dpoGrad(fg.result(), refG, beta), dC = dpoGrad(fc.result(), refC, beta);
    fg.backward(dG);
    fc.backward(dC);
    List<Parameter> pg = mg.parameters(GradMode.LORA), pc = mc.parameters(GradMode.LORA);
    assertThat(pg).hasSameSizeAs(pc);
    for (int i = 0; i < pg.size(); i++) {
      assertThat(relErr(pg.get(i).grads(), pc.get(i).grads())).as("gradient of %s", pc.get(i).name()).isLessThan(3 * BF16);
    }
    adamw(gpu, pg);
    adamw(cpu, pc);
    for (int i = 0; i < pg.size(); i++) {
      float[] before = lora.get(pc.get(i).name()), a = pg.get(i).values(), b = pc.get(i).values();
      float[] da = new float[a.length], db = new float[b.length];
      for (int k = 0; k < a.length; k++) {
        da[k] = a[k] - before[k];
        db[k] = b[k] - before[k];
      }
      assertThat(relErr(da, db)).as("AdamW update of %s", pc.get(i).name()).isLessThan(5 * BF16);
    }
  }

  /** dL/d(sum log-prob) of the DPO loss −log σ(β((πc − rc) − (πr − rr))) for pairs (0,1), (2,3). */
  private static double[] dpoGrad(SequenceLogProbs pol, SequenceLogProbs ref, double beta) {
    double[] d = new double[pol.size()];
    for (int p = 0; p < pol.size(); p += 2) {
      double z = beta * ((pol.sum(p) - ref.sum(p)) - (pol.sum(p + 1) - ref.sum(p + 1)));
      double s = 1 / (1 + Math.exp(z)); // σ(−z)
      d[p] = -beta * s;
      d[p + 1] = beta * s;
    }
    return d;
  }

  private static void adamw(Backend be, List<Parameter> params) {
    double sq = 0;
    for (Parameter p : params) sq += be.sumSquares(p.grad(), p.numel());
    double clip = AdamWCoefficients.clipScale(Math.sqrt(sq), 1.0);
    AdamWCoefficients c = AdamWCoefficients.of(1e-2, 0.9, 0.999, 1e-8, 0.0, 1, clip, true);
    for (Parameter p : params) {
      Buf m = be.alloc(p.numel()), v = be.alloc(p.numel());
      be.adamwUpdate(p.value(), p.grad(), m, v, p.numel(), c);
    }
  }
}
