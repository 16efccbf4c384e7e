package io.prefstream.model.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.config.Rope;
import io.prefstream.model.config.RopeScaling;
import io.prefstream.model.llama.Ref;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The contract every {@link Backend} meets, written against the interface only so a GPU backend
 * runs the same checks by extending this class: each op against its float64 reference (forward)
 * and against central finite differences of that reference (backward): for a random projection R,
 * L = Σ R·op(x), so dL/dx from the float32 backward must match (L(x+h) − L(x−h)) / 2h in float64.
 */
public abstract class BackendContractTest {
  private Backend be;
  private final SplittableRandom rnd = new SplittableRandom(17);

  /** The backend under test, asked for once per test method. */
  protected abstract Backend backend();

  /** Rows per chunk of the backend's fused log-softmax, so a test crosses a chunk boundary. */
  protected abstract int logSoftmaxChunk();

  @BeforeEach
  void pickBackend() {
    be = backend();
  }

  private float[] random(int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextDouble() * 2 - 1);
    return a;
  }

  private Buf buf(float[] a) {
    Buf b = be.alloc(a.length);
    be.upload(b, a);
    return b;
  }

  private float[] host(Buf b) {
    float[] a = new float[(int) b.size()];
    be.download(b, a);
    return a;
  }

  private static double[] d(float[] a) {
    return Ref.toDouble(a);
  }

  @Test
  public void matmulForwardAndBothBackwardsMatchFloat64ForShapesWithTails() {
    // includes K > 256 for each product (in for forward, out for dx, n for dW): the k-blocked path,
    // and few-row products with K > 256 in whole panels (8 and 16 rows: the 8-row tile reading ahead
    // to the end of the weight array)
    int[][] shapes = {{1, 3, 1}, {5, 16, 7}, {37, 50, 97}, {9, 100, 48}, {64, 33, 144}, {70, 600, 52}, {300, 40, 290},
        {8, 300, 144}, {16, 520, 96}};
    for (int[] s : shapes) {
      int n = s[0], in = s[1], out = s[2];
      float[] x = random(n * in), w = random(out * in), b = random(out), dy = random(n * out), y0 = random(n * out);
      Buf wb = be.weight(w, out, in);
      Buf y = buf(y0);
      be.matmulForward(y, buf(x), wb, buf(b), n, in, out, true);
      double[] ref = Ref.linear(d(x), d(w), d(b), n, in, out);
      for (int i = 0; i < ref.length; i++) ref[i] += y0[i];
      assertThat(Ref.relErr(host(y), ref)).as("forward %s", Arrays.toString(s)).isLessThan(1e-6);

      Buf dx = be.alloc((long) n * in);
      be.matmulBackwardInput(dx, buf(dy), wb, n, in, out, false);
      double[] dxRef = new double[n * in];
      for (int i = 0; i < n; i++) for (int o = 0; o < out; o++) for (int k = 0; k < in; k++) dxRef[i * in + k] += dy[i * out + o] * (double) w[o * in + k];
      assertThat(Ref.relErr(host(dx), dxRef)).as("dx %s", Arrays.toString(s)).isLessThan(1e-6);

      float[] dw0 = random(out * in);
      Buf dw = buf(dw0);
      be.matmulBackwardWeight(dw, buf(dy), buf(x), n, in, out);
      double[] dwRef = d(dw0);
      for (int i = 0; i < n; i++) for (int o = 0; o < out; o++) for (int k = 0; k < in; k++) dwRef[o * in + k] += dy[i * out + o] * (double) x[i * in + k];
      assertThat(Ref.relErr(host(dw), dwRef)).as("dW %s", Arrays.toString(s)).isLessThan(1e-6);
    }
  }

  @Test
  public void sharedInputProductsEqualSeparateProductsBitForBit() {
    // q/k/v-like (576/192/192 are whole panels on the CPU) and gate/up-like products of one input, decode (1, 8, 9
    // rows) and prefill-sized (70) row counts, one product with a bias; then mixes with a width that is not whole
    // panels and a LoRA-narrow one, which take other kernels.
    int[][] outsSets = {{576, 192, 192}, {1536, 1536}, {96, 50}, {8, 144}};
    for (int[] outs : outsSets) {
      for (int n : new int[] {1, 8, 9, 70}) {
        int in = outs[0] == 1536 ? 96 : 300;
        float[] x = random(n * in);
        Buf xb = buf(x);
        Buf[] ws = new Buf[outs.length], biases = new Buf[outs.length], ys = new Buf[outs.length];
        float[][] expected = new float[outs.length][];
        for (int p = 0; p < outs.length; p++) {
          ws[p] = be.weight(random(outs[p] * in), outs[p], in);
          biases[p] = p == 1 ? buf(random(outs[p])) : null;
          Buf one = be.alloc((long) n * outs[p]);
          be.matmulForward(one, xb, ws[p], biases[p], n, in, outs[p], false);
          expected[p] = host(one);
          ys[p] = buf(random(n * outs[p])); // overwritten, not added to
        }
        be.matmulForwardShared(ys, xb, ws, biases, n, in, outs);
        for (int p = 0; p < outs.length; p++) {
          assertThat(host(ys[p])).as("product %d of %s, %d rows", p, Arrays.toString(outs), n).containsExactly(expected[p]);
        }
      }
    }
    assertThatThrownBy(() -> be.matmulForwardShared(new Buf[] {be.alloc(4)}, be.alloc(4), new Buf[0], new Buf[0], 1, 4,
        new int[0])).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  public void rmsnormForwardMatchesReferenceAndBackwardMatchesFiniteDifferences() {
    int n = 5, c = 37;
    float eps = 1e-5f;
    float[] x = random(n * c), w = random(c), r = random(n * c);
    Buf out = be.alloc(n * c), rstd = be.alloc(n), xb = buf(x), wb = buf(w);
    be.rmsnormForward(out, rstd, xb, wb, n, c, eps);
    assertThat(Ref.relErr(host(out), Ref.rmsnorm(d(x), d(w), n, c, eps))).isLessThan(1e-6);
    float[] dx0 = random(n * c);
    Buf dx = buf(dx0), dw = be.alloc(c);
    be.rmsnormBackward(dx, dw, buf(r), xb, wb, rstd, n, c);
    double[] wd = d(w), xd = d(x);
    double[] gx = Ref.fdGrad(xx -> Ref.dot(d(r), Ref.rmsnorm(xx, wd, n, c, eps)), xd.clone(), 1e-6);
    for (int i = 0; i < gx.length; i++) gx[i] += dx0[i]; // backward accumulates into dx
    double[] gw = Ref.fdGrad(ww -> Ref.dot(d(r), Ref.rmsnorm(xd, ww, n, c, eps)), wd.clone(), 1e-6);
    assertThat(Ref.relErr(host(dx), gx)).isLessThan(1e-5);
    assertThat(Ref.relErr(host(dw), gw)).isLessThan(1e-5);
  }

  @Test
  public void ropeMatchesHuggingFaceRotateHalfAndBackwardIsItsTranspose() {
    int n = 6, heads = 3, hd = 8;
    double theta = 10000;
    int[] pos = {0, 1, 2, 7, 30, 5};
    float[] x = random(n * heads * hd), r = random(n * heads * hd);
    Buf xb = buf(x);
    be.ropeForward(xb, pos, n, heads, hd, Rope.unscaled(theta));
    assertThat(Ref.relErr(host(xb), Ref.rope(d(x), pos, n, heads, hd, theta))).isLessThan(1e-6);
    Buf g = buf(r);
    be.ropeBackward(g, pos, n, heads, hd, Rope.unscaled(theta));
    double[] fd = Ref.fdGrad(xx -> Ref.dot(d(r), Ref.rope(xx, pos, n, heads, hd, theta)), d(x), 1e-6);
    assertThat(Ref.relErr(host(g), fd)).isLessThan(1e-5);
  }

  @Test
  public void llama3ScaledRopeRotatesByTheReferenceFrequenciesAndBackwardIsItsTranspose() {
    int n = 5, heads = 2, hd = 16;
    // original context 64 with head_dim 16 and theta 5e5 puts pairs in all three bands (kept, blended, divided)
    Rope rope = new Rope(500000, new RopeScaling.Llama3(32, 1, 4, 64));
    double[] invFreq = Ref.inverseFrequencies(rope, hd);
    int[] pos = {0, 3, 90, 200, 41};
    float[] x = random(n * heads * hd), r = random(n * heads * hd);
    Buf xb = buf(x);
    be.ropeForward(xb, pos, n, heads, hd, rope);
    assertThat(Ref.relErr(host(xb), Ref.rope(d(x), pos, n, heads, hd, invFreq))).isLessThan(1e-6);
    Buf g = buf(r);
    be.ropeBackward(g, pos, n, heads, hd, rope);
    double[] fd = Ref.fdGrad(xx -> Ref.dot(d(r), Ref.rope(xx, pos, n, heads, hd, invFreq)), d(x), 1e-6);
    assertThat(Ref.relErr(host(g), fd)).isLessThan(1e-5);
    // the same positions unscaled rotate differently: the scaling reached the kernel
    Buf plain = buf(x);
    be.ropeForward(plain, pos, n, heads, hd, Rope.unscaled(500000));
    assertThat(Ref.relErr(host(plain), d(host(xb)))).isGreaterThan(0.1);
  }

  @Test
  public void attentionForwardMatchesReferenceAndBackwardMatchesFiniteDifferences() {
    int heads = 4, kv = 2, hd = 8;
    int[] lens = {5, 9, 1};
    int n = 15, qd = heads * hd, kd = kv * hd;
    SeqLayout layout = SeqLayout.of(lens);
    float[] q = random(n * qd), k = random(n * kd), v = random(n * kd), r = random(n * qd);
    Buf qb = buf(q), kb = buf(k), vb = buf(v), out = be.alloc(n * qd), lse = be.alloc(n * heads);
    be.attentionForward(out, lse, qb, kb, vb, layout, heads, kv, hd);
    assertThat(Ref.relErr(host(out), Ref.attention(d(q), d(k), d(v), lens, heads, kv, hd))).isLessThan(1e-6);
    Buf dq = be.alloc(n * qd), dk = be.alloc(n * kd), dv = be.alloc(n * kd);
    be.attentionBackward(dq, dk, dv, buf(r), out, lse, qb, kb, vb, layout, heads, kv, hd);
    double[] rd = d(r), qd0 = d(q), kd0 = d(k), vd0 = d(v);
    double[] gq = Ref.fdGrad(x -> Ref.dot(rd, Ref.attention(x, kd0, vd0, lens, heads, kv, hd)), qd0.clone(), 1e-6);
    double[] gk = Ref.fdGrad(x -> Ref.dot(rd, Ref.attention(qd0, x, vd0, lens, heads, kv, hd)), kd0.clone(), 1e-6);
    double[] gv = Ref.fdGrad(x -> Ref.dot(rd, Ref.attention(qd0, kd0, x, lens, heads, kv, hd)), vd0.clone(), 1e-6);
    assertThat(Ref.relErr(host(dq), gq)).isLessThan(1e-5);
    assertThat(Ref.relErr(host(dk), gk)).isLessThan(1e-5);
    assertThat(Ref.relErr(host(dv), gv)).isLessThan(1e-5);
  }

  @Test
  public void attentionOverSequencesLongerThanOneQueryBlockMatchesReferenceAndFiniteDifferences() {
    int heads = 2, kv = 1, hd = 4;
    int[] lens = {3, 100};
    int n = 103, qd = heads * hd, kd = kv * hd;
    SeqLayout layout = SeqLayout.of(lens);
    float[] q = random(n * qd), k = random(n * kd), v = random(n * kd), r = random(n * qd);
    for (int i = 0; i < q.length; i++) q[i] *= 3; // peakier softmax rows
    Buf qb = buf(q), kb = buf(k), vb = buf(v), out = be.alloc(n * qd), lse = be.alloc(n * heads);
    be.attentionForward(out, lse, qb, kb, vb, layout, heads, kv, hd);
    assertThat(Ref.relErr(host(out), Ref.attention(d(q), d(k), d(v), lens, heads, kv, hd))).isLessThan(1e-6);
    Buf dq = be.alloc(n * qd), dk = be.alloc(n * kd), dv = be.alloc(n * kd);
    be.attentionBackward(dq, dk, dv, buf(r), out, lse, qb, kb, vb, layout, heads, kv, hd);
    double[] rd = d(r), q0 = d(q), k0 = d(k), v0 = d(v);
    int stride = 5; // a sample of elements: every query block and sequence is still hit
    assertThat(Ref.relErr(Ref.sample(host(dk), stride),
        Ref.fdGradSampled(x -> Ref.dot(rd, Ref.attention(q0, x, v0, lens, heads, kv, hd)), k0.clone(), 1e-6, stride))).isLessThan(1e-5);
    assertThat(Ref.relErr(Ref.sample(host(dv), stride),
        Ref.fdGradSampled(x -> Ref.dot(rd, Ref.attention(q0, k0, x, lens, heads, kv, hd)), v0.clone(), 1e-6, stride))).isLessThan(1e-5);
    assertThat(Ref.relErr(Ref.sample(host(dq), stride),
        Ref.fdGradSampled(x -> Ref.dot(rd, Ref.attention(x, k0, v0, lens, heads, kv, hd)), q0.clone(), 1e-6, stride))).isLessThan(1e-5);
  }

  @Test
  public void cachedAttentionEqualsPackedAttentionRowByRow() {
    int heads = 4, kv = 1, hd = 32, n = 20, qd = heads * hd, kd = kv * hd;
    float[] q = random(n * qd), k = random(n * kd), v = random(n * kd);
    Buf out = be.alloc(n * qd), lse = be.alloc(n * heads);
    be.attentionForward(out, lse, buf(q), buf(k), buf(v), SeqLayout.of(n), heads, kv, hd);
    float[] full = host(out);
    int cap = Backend.KV_CACHE_ALIGN;
    Buf kc = be.alloc((long) cap * kd), vc = be.alloc((long) cap * kd);
    int past = 12;
    // fill the cache in two appends, as prefill and a decode step would
    be.kvAppend(kc, vc, buf(Arrays.copyOf(k, 5 * kd)), buf(Arrays.copyOf(v, 5 * kd)), 0, 5, cap, kv, hd);
    be.kvAppend(kc, vc, buf(Arrays.copyOfRange(k, 5 * kd, n * kd)), buf(Arrays.copyOfRange(v, 5 * kd, n * kd)), 5, n - 5, cap, kv, hd);
    Buf cached = be.alloc((n - past) * qd);
    be.attentionCached(cached, buf(Arrays.copyOfRange(q, past * qd, n * qd)), kc, vc, past, n - past, cap, heads, kv, hd);
    assertThat(Ref.relErr(host(cached), Ref.toDouble(Arrays.copyOfRange(full, past * qd, n * qd)))).isLessThan(1e-6);
  }

  @Test
  public void aCopiedCachePrefixAttendsExactlyLikeTheCacheItCameFrom() {
    int heads = 4, kv = 2, hd = 16, n = 30, prefix = 21, qd = heads * hd, kd = kv * hd;
    float[] k = random(n * kd), v = random(n * kd), q = random(qd), kNew = random(kd), vNew = random(kd);
    int srcCap = Backend.KV_CACHE_ALIGN, dstCap = 2 * Backend.KV_CACHE_ALIGN; // different layouts' strides
    Buf srcK = be.alloc((long) srcCap * kd), srcV = be.alloc((long) srcCap * kd);
    be.kvAppend(srcK, srcV, buf(k), buf(v), 0, n, srcCap, kv, hd);
    Buf dstK = be.alloc((long) dstCap * kd), dstV = be.alloc((long) dstCap * kd);
    be.kvCopyPrefix(dstK, dstV, dstCap, srcK, srcV, srcCap, prefix, kv, hd);
    // the next token at position `prefix` on both: the copy holds what the source holds up to it
    Buf fromSrc = be.alloc(qd), fromCopy = be.alloc(qd);
    be.kvAppend(srcK, srcV, buf(kNew), buf(vNew), prefix, 1, srcCap, kv, hd);
    be.attentionCached(fromSrc, buf(q), srcK, srcV, prefix, 1, srcCap, heads, kv, hd);
    be.kvAppend(dstK, dstV, buf(kNew), buf(vNew), prefix, 1, dstCap, kv, hd);
    be.attentionCached(fromCopy, buf(q), dstK, dstV, prefix, 1, dstCap, heads, kv, hd);
    assertThat(host(fromCopy)).isEqualTo(host(fromSrc));
    assertThatThrownBy(() -> be.kvCopyPrefix(dstK, dstV, dstCap, srcK, srcV, srcCap, srcCap + 1, kv, hd))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  public void batchedAppendAndAttendMatchesTheReferenceAndTheSingleOpsPerSequence() {
    Assumptions.assumeTrue(be instanceof BatchedAttention, be + " has no batched attention");
    // a head dim of whole vectors, and one that ends in a part of a vector (16 and 20 floats)
    batchedAppendAndAttend((BatchedAttention) be, 16);
    batchedAppendAndAttend((BatchedAttention) be, 20);
  }

  private void batchedAppendAndAttend(BatchedAttention batched, int hd) {
    int heads = 6, kv = 2, qd = heads * hd, kd = kv * hd, align = Backend.KV_CACHE_ALIGN;
    // a prompt chunk from position 0, a decode row, an idle sequence, a chunk after a prefix, a full-but-one cache
    int[] past = {0, 37, 5, 64, align - 1};
    int[] len = {9, 1, 0, 3, 1};
    int[] cap = {2 * align, align, align, 2 * align, align};
    int b = len.length;
    int[] start = new int[b + 1];
    for (int s = 0; s < b; s++) start[s + 1] = start[s] + len[s];
    int rows = start[b];
    float[] q = random(rows * qd), k = random(rows * kd), v = random(rows * kd);
    Buf[] kcA = new Buf[b], vcA = new Buf[b], kcB = new Buf[b], vcB = new Buf[b];
    float[] single = new float[rows * qd];
    double[] ref = new double[rows * qd];
    for (int s = 0; s < b; s++) {
      float[] pk = random(past[s] * kd), pv = random(past[s] * kd);
      kcA[s] = be.alloc((long) cap[s] * kd);
      vcA[s] = be.alloc((long) cap[s] * kd);
      kcB[s] = be.alloc((long) cap[s] * kd);
      vcB[s] = be.alloc((long) cap[s] * kd);
      if (past[s] > 0) {
        be.kvAppend(kcA[s], vcA[s], buf(pk), buf(pv), 0, past[s], cap[s], kv, hd);
        be.kvAppend(kcB[s], vcB[s], buf(pk), buf(pv), 0, past[s], cap[s], kv, hd);
      }
      if (len[s] == 0) continue;
      float[] ks = Arrays.copyOfRange(k, start[s] * kd, start[s + 1] * kd), vs = Arrays.copyOfRange(v, start[s] * kd, start[s + 1] * kd);
      float[] qs = Arrays.copyOfRange(q, start[s] * qd, start[s + 1] * qd);
      // this sequence alone through the single ops
      Buf out = be.alloc((long) len[s] * qd);
      be.kvAppend(kcA[s], vcA[s], buf(ks), buf(vs), past[s], len[s], cap[s], kv, hd);
      be.attentionCached(out, buf(qs), kcA[s], vcA[s], past[s], len[s], cap[s], heads, kv, hd);
      System.arraycopy(host(out), 0, single, start[s] * qd, len[s] * qd);
      // float64: causal attention over prefix + new rows (the prefix's queries are not used), its last len rows
      int t = past[s] + len[s];
      double[] fq = new double[t * qd], fk = new double[t * kd], fv = new double[t * kd];
      System.arraycopy(d(qs), 0, fq, past[s] * qd, len[s] * qd);
      System.arraycopy(d(pk), 0, fk, 0, past[s] * kd);
      System.arraycopy(d(ks), 0, fk, past[s] * kd, len[s] * kd);
      System.arraycopy(d(pv), 0, fv, 0, past[s] * kd);
      System.arraycopy(d(vs), 0, fv, past[s] * kd, len[s] * kd);
      double[] full = Ref.attention(fq, fk, fv, new int[] {t}, heads, kv, hd);
      System.arraycopy(full, past[s] * qd, ref, start[s] * qd, len[s] * qd);
    }
    float[] nan = new float[rows * qd];
    Arrays.fill(nan, Float.NaN);
    Buf out = buf(nan);
    batched.appendAttendBatch(out, buf(q), buf(k), buf(v), kcB, vcB, past, cap, start, heads, kv, hd);
    float[] got = host(out);
    assertThat(Ref.relErr(got, ref)).isLessThan(1e-6);
    assertThat(got).as("the single ops' arithmetic").containsExactly(single);
    for (int s = 0; s < b; s++) {
      assertThat(host(kcB[s])).as("key cache %d", s).containsExactly(host(kcA[s]));
      assertThat(host(vcB[s])).as("value cache %d", s).containsExactly(host(vcA[s]));
    }
    // a sequence whose cache cannot take its rows is refused before anything is written
    int[] full = past.clone();
    full[1] = cap[1];
    Buf untouched = buf(nan);
    assertThatThrownBy(() -> batched.appendAttendBatch(untouched, buf(q), buf(k), buf(v), kcB, vcB, full, cap, start, heads, kv, hd))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sequence 1");
    assertThat(host(untouched)).containsOnly(Float.NaN);
  }

  @Test
  public void groupedLoraDeltasMatchTheReferenceAndLeaveRowsWithoutAnAdapterAlone() {
    Assumptions.assumeTrue(be instanceof BatchedLora, be + " has no batched LoRA");
    BatchedLora batched = (BatchedLora) be;
    int in = 40, out = 56;
    int[] start = {0, 3, 4, 4, 9, 10}; // groups of 3, 1, 0, 5 and 1 rows
    int[] rank = {4, 0, 8, 2, 16};
    float[] scaling = {2f, 0f, 0.5f, 1.25f, -0.75f};
    int groups = rank.length, rows = start[groups], maxRank = 16;
    float[] x = random(rows * in), y0 = random(rows * out);
    Buf[] a = new Buf[groups], b = new Buf[groups];
    double[] ref = d(y0);
    for (int g = 0; g < groups; g++) {
      if (rank[g] == 0) continue; // group 1: rows without an adapter
      float[] fa = random(rank[g] * in), fb = random(out * rank[g]);
      a[g] = be.weight(fa, rank[g], in);
      b[g] = be.weight(fb, out, rank[g]);
      for (int i = start[g]; i < start[g + 1]; i++) {
        double[] xi = Arrays.copyOfRange(d(x), i * in, (i + 1) * in);
        double[] delta = Ref.linear(Ref.linear(xi, d(fa), null, 1, in, rank[g]), d(fb), null, 1, rank[g], out);
        for (int o = 0; o < out; o++) ref[i * out + o] += scaling[g] * delta[o];
      }
    }
    Buf y = buf(y0);
    batched.loraGroups(y, buf(x), start, a, b, rank, scaling, in, out, be.alloc((long) rows * maxRank));
    float[] got = host(y);
    assertThat(Ref.relErr(got, ref)).isLessThan(1e-5);
    assertThat(Arrays.copyOfRange(got, start[1] * out, start[2] * out)).as("the row without an adapter")
        .containsExactly(Arrays.copyOfRange(y0, start[1] * out, start[2] * out));
    assertThatThrownBy(() -> batched.loraGroups(y, buf(x), start, a, b, rank, scaling, in, out, be.alloc(rows)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("scratch");
  }

  @Test
  public void swigluForwardAndBackwardMatchReference() {
    int n = 53;
    float[] g = random(n), u = random(n), r = random(n);
    for (int i = 0; i < n; i++) g[i] *= 6; // reach both tails of the sigmoid
    Buf h = be.alloc(n), gb = buf(g), ub = buf(u);
    be.swigluForward(h, gb, ub, n);
    assertThat(Ref.relErr(host(h), Ref.swiglu(d(g), d(u)))).isLessThan(1e-6);
    Buf dg = be.alloc(n), du = be.alloc(n);
    be.swigluBackward(dg, du, buf(r), gb, ub, n);
    double[] ud = d(u), gd = d(g);
    assertThat(Ref.relErr(host(dg), Ref.fdGrad(x -> Ref.dot(d(r), Ref.swiglu(x, ud)), gd.clone(), 1e-6))).isLessThan(1e-5);
    assertThat(Ref.relErr(host(du), Ref.fdGrad(x -> Ref.dot(d(r), Ref.swiglu(gd, x)), ud.clone(), 1e-6))).isLessThan(1e-5);
  }

  @Test
  public void fusedLogSoftmaxGatherMatchesReferenceAcrossChunksAndItsBackwardMatchesFiniteDifferences() {
    int m = logSoftmaxChunk() + 6, c = 12, vocab = 45;
    float[] h = random(m * c), head = random(vocab * c), g = random(m);
    int[] targets = new int[m];
    for (int i = 0; i < m; i++) targets[i] = rnd.nextInt(vocab);
    Buf hb = buf(h), headB = be.weight(head, vocab, c), logp = be.alloc(m), lse = be.alloc(m);
    be.logSoftmaxGatherForward(logp, lse, hb, headB, targets, m, c, vocab);
    double[] hd = d(h), headD = d(head), gd = d(g);
    double[] want = new double[m];
    double[] logits = Ref.linear(hd, headD, null, m, c, vocab);
    for (int i = 0; i < m; i++) want[i] = Ref.logSoftmaxAt(logits, i * vocab, vocab, targets[i]);
    assertThat(Ref.relErr(host(logp), want)).isLessThan(1e-6);

    Buf dh = be.alloc(m * c), dHead = be.alloc(vocab * c);
    be.logSoftmaxGatherBackward(dh, dHead, buf(g), hb, headB, lse, targets, m, c, vocab);
    Ref.Fn byHidden = x -> {
      double[] lg = Ref.linear(x, headD, null, m, c, vocab);
      double s = 0;
      for (int i = 0; i < m; i++) s += gd[i] * Ref.logSoftmaxAt(lg, i * vocab, vocab, targets[i]);
      return s;
    };
    Ref.Fn byHead = x -> {
      double[] lg = Ref.linear(hd, x, null, m, c, vocab);
      double s = 0;
      for (int i = 0; i < m; i++) s += gd[i] * Ref.logSoftmaxAt(lg, i * vocab, vocab, targets[i]);
      return s;
    };
    assertThat(Ref.relErr(Ref.sample(host(dh), 3), Ref.fdGradSampled(byHidden, hd.clone(), 1e-6, 3))).isLessThan(1e-5);
    assertThat(Ref.relErr(host(dHead), Ref.fdGrad(byHead, headD.clone(), 1e-6))).isLessThan(1e-5);
  }

  @Test
  public void embeddingGathersRowsAndScatterAddsGradientsForRepeatedTokens() {
    int vocab = 7, c = 5;
    float[] table = random(vocab * c), dOut = random(4 * c);
    int[] tokens = {3, 0, 3, 6};
    Buf out = be.alloc(4 * c);
    be.embeddingForward(out, buf(table), tokens, 4, c);
    assertThat(Arrays.copyOfRange(host(out), 2 * c, 3 * c)).isEqualTo(Arrays.copyOfRange(table, 3 * c, 4 * c));
    Buf dt = be.alloc(vocab * c);
    be.embeddingBackward(dt, buf(dOut), tokens, 4, c);
    float[] got = host(dt);
    for (int j = 0; j < c; j++) {
      assertThat(got[3 * c + j]).isEqualTo(dOut[j] + dOut[2 * c + j]);
      assertThat(got[1 * c + j]).isZero();
    }
  }

  /** Runs {@code op}, expects it refused naming {@code what}, and that {@code untouched} kept its values. */
  private void refused(Runnable op, String what, Buf untouched) {
    float[] before = host(untouched);
    assertThatThrownBy(op::run).isInstanceOf(IllegalArgumentException.class).hasMessageContaining(what);
    assertThat(host(untouched)).as("written before the refusal").isEqualTo(before);
  }

  @Test
  public void embeddingBackwardRefusesWhatItsForwardRefusesAndShortGradientBuffers() {
    int vocab = 7, c = 5, n = 4;
    Buf table = buf(random(vocab * c)), out = buf(random(n * c)), dOut = buf(random(n * c)), dt = buf(random(vocab * c));
    for (int[] bad : new int[][] {{1, 7, 2, 0}, {1, -1, 2, 0}}) {
      refused(() -> be.embeddingForward(out, table, bad, n, c), "token id " + bad[1], out);
      refused(() -> be.embeddingBackward(dt, dOut, bad, n, c), "token id " + bad[1], dt);
    }
    refused(() -> be.embeddingForward(buf(random(n * c - 1)), table, new int[] {1, 2, 3, 4}, n, c), "out", table);
    refused(() -> be.embeddingBackward(dt, buf(random(n * c - 1)), new int[] {1, 2, 3, 4}, n, c), "dOut", dt);
    // A smaller gradient table than the tokens address: row 6 does not exist in a 5-row dTable.
    Buf small = buf(random(5 * c));
    refused(() -> be.embeddingBackward(small, dOut, new int[] {1, 6, 2, 0}, n, c), "token id 6", small);
    refused(() -> be.embeddingBackward(dt, dOut, new int[] {1, 2, 3}, n, c), "token ids", dt);
  }

  @Test
  public void rmsnormBackwardRefusesWhatItsForwardRefusesAndShortGradientBuffers() {
    int n = 3, c = 8;
    Buf x = buf(random(n * c)), w = buf(random(c)), rstd = buf(random(n)), out = buf(random(n * c));
    Buf dx = buf(random(n * c)), dw = buf(random(c)), dOut = buf(random(n * c));
    Buf shortRows = buf(random(n * c - 1)), shortW = buf(random(c - 1)), shortRstd = buf(random(n - 1));
    refused(() -> be.rmsnormForward(shortRows, rstd, x, w, n, c, 1e-5f), "out", x);
    refused(() -> be.rmsnormForward(out, rstd, shortRows, w, n, c, 1e-5f), "x", out);
    refused(() -> be.rmsnormForward(out, rstd, x, shortW, n, c, 1e-5f), "w", out);
    refused(() -> be.rmsnormForward(out, shortRstd, x, w, n, c, 1e-5f), "rstd", out);
    refused(() -> be.rmsnormBackward(shortRows, dw, dOut, x, w, rstd, n, c), "dx", dw);
    refused(() -> be.rmsnormBackward(dx, shortW, dOut, x, w, rstd, n, c), "dw", dx);
    refused(() -> be.rmsnormBackward(dx, dw, shortRows, x, w, rstd, n, c), "dOut", dx);
    refused(() -> be.rmsnormBackward(dx, dw, dOut, shortRows, w, rstd, n, c), "x", dx);
    refused(() -> be.rmsnormBackward(dx, dw, dOut, x, shortW, rstd, n, c), "w", dx);
    refused(() -> be.rmsnormBackward(dx, dw, dOut, x, w, shortRstd, n, c), "rstd", dx);
  }

  @Test
  public void swigluBackwardRefusesWhatItsForwardRefusesAndShortGradientBuffers() {
    int n = 40;
    Buf g = buf(random(n)), u = buf(random(n)), h = buf(random(n)), dg = buf(random(n)), du = buf(random(n));
    Buf dh = buf(random(n)), shortBuf = buf(random(n - 1));
    refused(() -> be.swigluForward(shortBuf, g, u, n), "h", g);
    refused(() -> be.swigluForward(h, shortBuf, u, n), "g", h);
    refused(() -> be.swigluForward(h, g, shortBuf, n), "u", h);
    refused(() -> be.swigluBackward(shortBuf, du, dh, g, u, n), "dg", du);
    refused(() -> be.swigluBackward(dg, shortBuf, dh, g, u, n), "du", dg);
    refused(() -> be.swigluBackward(dg, du, shortBuf, g, u, n), "dh", dg);
    refused(() -> be.swigluBackward(dg, du, dh, shortBuf, u, n), "g", dg);
    refused(() -> be.swigluBackward(dg, du, dh, g, shortBuf, n), "u", dg);
  }
}
