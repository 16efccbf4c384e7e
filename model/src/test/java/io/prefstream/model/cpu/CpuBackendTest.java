package io.prefstream.model.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.model.backend.Buf;
import io.prefstream.model.backend.SeqLayout;
import io.prefstream.model.llama.Ref;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Each CPU op against its float64 reference (forward) and against central finite differences of
 * that reference (backward): for a random projection R, L = Σ R·op(x), so dL/dx from the float32
 * backward must match (L(x+h) − L(x−h)) / 2h computed in float64.
 */
class CpuBackendTest {
  private static final WorkerPool POOL = new WorkerPool(2);
  private static final CpuBackend BE = new CpuBackend(POOL);
  private final SplittableRandom rnd = new SplittableRandom(17);

  @AfterAll
  static void close() {
    POOL.close();
  }

  private float[] random(int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextDouble() * 2 - 1);
    return a;
  }

  private static Buf buf(float[] a) {
    Buf b = BE.alloc(a.length);
    BE.upload(b, a);
    return b;
  }

  private static float[] host(Buf b) {
    return CpuBackend.array(b).clone();
  }

  private static double[] d(float[] a) {
    return Ref.toDouble(a);
  }

  @Test
  void matmulForwardAndBothBackwardsMatchFloat64ForShapesWithTails() {
    // includes K > 256 for each product (in for forward, out for dx, n for dW): the k-blocked path
    int[][] shapes = {{1, 3, 1}, {5, 16, 7}, {37, 50, 97}, {9, 100, 48}, {64, 33, 144}, {70, 600, 52}, {300, 40, 290}};
    for (int[] s : shapes) {
      int n = s[0], in = s[1], out = s[2];
      float[] x = random(n * in), w = random(out * in), b = random(out), dy = random(n * out), y0 = random(n * out);
      Buf wb = BE.weight(w, out, in);
      Buf y = buf(y0);
      BE.matmulForward(y, buf(x), wb, buf(b), n, in, out, true);
      double[] ref = Ref.linear(d(x), d(w), d(b), n, in, out);
      for (int i = 0; i < ref.length; i++) ref[i] += y0[i];
      assertThat(Ref.relErr(host(y), ref)).as("forward %s", Arrays.toString(s)).isLessThan(1e-6);

      Buf dx = BE.alloc((long) n * in);
      BE.matmulBackwardInput(dx, buf(dy), wb, n, in, out, false);
      double[] dxRef = new double[n * in];
      for (int i = 0; i < n; i++) for (int o = 0; o < out; o++) for (int k = 0; k < in; k++) dxRef[i * in + k] += dy[i * out + o] * (double) w[o * in + k];
      assertThat(Ref.relErr(host(dx), dxRef)).as("dx %s", Arrays.toString(s)).isLessThan(1e-6);

      float[] dw0 = random(out * in);
      Buf dw = buf(dw0);
      BE.matmulBackwardWeight(dw, buf(dy), buf(x), n, in, out);
      double[] dwRef = d(dw0);
      for (int i = 0; i < n; i++) for (int o = 0; o < out; o++) for (int k = 0; k < in; k++) dwRef[o * in + k] += dy[i * out + o] * (double) x[i * in + k];
      assertThat(Ref.relErr(host(dw), dwRef)).as("dW %s", Arrays.toString(s)).isLessThan(1e-6);
    }
  }

  @Test
  void everyOpIsBitIdenticalAcrossThreadCounts() {
    int n = 70, in = 300, out = 150, heads = 4, kv = 2, hd = 16;
    float[] x = random(n * in), w = random(out * in), dy = random(n * out);
    float[] q = random(n * heads * hd), k = random(n * kv * hd), v = random(n * kv * hd), dOut = random(n * heads * hd);
    SeqLayout layout = SeqLayout.of(30, 40);
    float[][] first = null;
    for (int threads : new int[] {1, 2, 3, 5}) {
      try (WorkerPool pool = new WorkerPool(threads)) {
        CpuBackend be = new CpuBackend(pool);
        Buf wb = be.weight(w, out, in);
        Buf y = be.alloc((long) n * out), dx = be.alloc((long) n * in), dw = be.alloc((long) out * in);
        Buf xb = be.alloc(x.length), dyb = be.alloc(dy.length);
        be.upload(xb, x);
        be.upload(dyb, dy);
        be.matmulForward(y, xb, wb, null, n, in, out, false);
        be.matmulBackwardInput(dx, dyb, wb, n, in, out, false);
        be.matmulBackwardWeight(dw, dyb, xb, n, in, out);
        Buf qb = be.alloc(q.length), kb = be.alloc(k.length), vb = be.alloc(v.length), ob = be.alloc(q.length), lse = be.alloc((long) n * heads);
        be.upload(qb, q);
        be.upload(kb, k);
        be.upload(vb, v);
        be.attentionForward(ob, lse, qb, kb, vb, layout, heads, kv, hd);
        Buf dq = be.alloc(q.length), dk = be.alloc(k.length), dv = be.alloc(v.length), dob = be.alloc(dOut.length);
        be.upload(dob, dOut);
        be.attentionBackward(dq, dk, dv, dob, ob, lse, qb, kb, vb, layout, heads, kv, hd);
        float[][] all = {host(y), host(dx), host(dw), host(ob), host(dq), host(dk), host(dv)};
        if (first == null) {
          first = all;
        } else {
          for (int i = 0; i < all.length; i++) assertThat(all[i]).as("output %d with %d threads", i, threads).isEqualTo(first[i]);
        }
      }
    }
  }

  @Test
  void rmsnormForwardMatchesReferenceAndBackwardMatchesFiniteDifferences() {
    int n = 5, c = 37;
    float eps = 1e-5f;
    float[] x = random(n * c), w = random(c), r = random(n * c);
    Buf out = BE.alloc(n * c), rstd = BE.alloc(n), xb = buf(x), wb = buf(w);
    BE.rmsnormForward(out, rstd, xb, wb, n, c, eps);
    assertThat(Ref.relErr(host(out), Ref.rmsnorm(d(x), d(w), n, c, eps))).isLessThan(1e-6);
    float[] dx0 = random(n * c);
    Buf dx = buf(dx0), dw = BE.alloc(c);
    BE.rmsnormBackward(dx, dw, buf(r), xb, wb, rstd, n, c);
    double[] wd = d(w), xd = d(x);
    double[] gx = Ref.fdGrad(xx -> Ref.dot(d(r), Ref.rmsnorm(xx, wd, n, c, eps)), xd.clone(), 1e-6);
    for (int i = 0; i < gx.length; i++) gx[i] += dx0[i]; // backward accumulates into dx
    double[] gw = Ref.fdGrad(ww -> Ref.dot(d(r), Ref.rmsnorm(xd, ww, n, c, eps)), wd.clone(), 1e-6);
    assertThat(Ref.relErr(host(dx), gx)).isLessThan(1e-5);
    assertThat(Ref.relErr(host(dw), gw)).isLessThan(1e-5);
  }

  @Test
  void ropeMatchesHuggingFaceRotateHalfAndBackwardIsItsTranspose() {
    int n = 6, heads = 3, hd = 8;
    double theta = 10000;
    int[] pos = {0, 1, 2, 7, 30, 5};
    float[] x = random(n * heads * hd), r = random(n * heads * hd);
    Buf xb = buf(x);
    BE.ropeForward(xb, pos, n, heads, hd, theta);
    assertThat(Ref.relErr(host(xb), Ref.rope(d(x), pos, n, heads, hd, theta))).isLessThan(1e-6);
    Buf g = buf(r);
    BE.ropeBackward(g, pos, n, heads, hd, theta);
    double[] fd = Ref.fdGrad(xx -> Ref.dot(d(r), Ref.rope(xx, pos, n, heads, hd, theta)), d(x), 1e-6);
    assertThat(Ref.relErr(host(g), fd)).isLessThan(1e-5);
  }

  @Test
  void attentionForwardMatchesReferenceAndBackwardMatchesFiniteDifferences() {
    int heads = 4, kv = 2, hd = 8;
    int[] lens = {5, 9, 1};
    int n = 15, qd = heads * hd, kd = kv * hd;
    SeqLayout layout = SeqLayout.of(lens);
    float[] q = random(n * qd), k = random(n * kd), v = random(n * kd), r = random(n * qd);
    Buf qb = buf(q), kb = buf(k), vb = buf(v), out = BE.alloc(n * qd), lse = BE.alloc(n * heads);
    BE.attentionForward(out, lse, qb, kb, vb, layout, heads, kv, hd);
    assertThat(Ref.relErr(host(out), Ref.attention(d(q), d(k), d(v), lens, heads, kv, hd))).isLessThan(1e-6);
    Buf dq = BE.alloc(n * qd), dk = BE.alloc(n * kd), dv = BE.alloc(n * kd);
    BE.attentionBackward(dq, dk, dv, buf(r), out, lse, qb, kb, vb, layout, heads, kv, hd);
    double[] rd = d(r), qd0 = d(q), kd0 = d(k), vd0 = d(v);
    double[] gq = Ref.fdGrad(x -> Ref.dot(rd, Ref.attention(x, kd0, vd0, lens, heads, kv, hd)), qd0.clone(), 1e-6);
    double[] gk = Ref.fdGrad(x -> Ref.dot(rd, Ref.attention(qd0, x, vd0, lens, heads, kv, hd)), kd0.clone(), 1e-6);
    double[] gv = Ref.fdGrad(x -> Ref.dot(rd, Ref.attention(qd0, kd0, x, lens, heads, kv, hd)), vd0.clone(), 1e-6);
    assertThat(Ref.relErr(host(dq), gq)).isLessThan(1e-5);
    assertThat(Ref.relErr(host(dk), gk)).isLessThan(1e-5);
    assertThat(Ref.relErr(host(dv), gv)).isLessThan(1e-5);
  }

  @Test
  void cachedAttentionEqualsPackedAttentionRowByRow() {
    int heads = 4, kv = 1, hd = 32, n = 20, qd = heads * hd, kd = kv * hd;
    float[] q = random(n * qd), k = random(n * kd), v = random(n * kd);
    Buf out = BE.alloc(n * qd), lse = BE.alloc(n * heads);
    BE.attentionForward(out, lse, buf(q), buf(k), buf(v), SeqLayout.of(n), heads, kv, hd);
    float[] full = host(out);
    Buf kc = buf(k), vc = buf(v);
    int past = 12;
    Buf cached = BE.alloc((n - past) * qd);
    BE.attentionCached(cached, buf(Arrays.copyOfRange(q, past * qd, n * qd)), kc, vc, past, n - past, heads, kv, hd);
    assertThat(Ref.relErr(host(cached), Ref.toDouble(Arrays.copyOfRange(full, past * qd, n * qd)))).isLessThan(1e-6);
  }

  @Test
  void swigluForwardAndBackwardMatchReference() {
    int n = 53;
    float[] g = random(n), u = random(n), r = random(n);
    for (int i = 0; i < n; i++) g[i] *= 6; // reach both tails of the sigmoid
    Buf h = BE.alloc(n), gb = buf(g), ub = buf(u);
    BE.swigluForward(h, gb, ub, n);
    assertThat(Ref.relErr(host(h), Ref.swiglu(d(g), d(u)))).isLessThan(1e-6);
    Buf dg = BE.alloc(n), du = BE.alloc(n);
    BE.swigluBackward(dg, du, buf(r), gb, ub, n);
    double[] ud = d(u), gd = d(g);
    assertThat(Ref.relErr(host(dg), Ref.fdGrad(x -> Ref.dot(d(r), Ref.swiglu(x, ud)), gd.clone(), 1e-6))).isLessThan(1e-5);
    assertThat(Ref.relErr(host(du), Ref.fdGrad(x -> Ref.dot(d(r), Ref.swiglu(gd, x)), ud.clone(), 1e-6))).isLessThan(1e-5);
  }

  @Test
  void fusedLogSoftmaxGatherMatchesReferenceAcrossChunksAndItsBackwardMatchesFiniteDifferences() {
    int m = LogSoftmaxKernel.CHUNK + 6, c = 12, vocab = 45;
    float[] h = random(m * c), head = random(vocab * c), g = random(m);
    int[] targets = new int[m];
    for (int i = 0; i < m; i++) targets[i] = rnd.nextInt(vocab);
    Buf hb = buf(h), headB = BE.weight(head, vocab, c), logp = BE.alloc(m), lse = BE.alloc(m);
    BE.logSoftmaxGatherForward(logp, lse, hb, headB, targets, m, c, vocab);
    double[] hd = d(h), headD = d(head), gd = d(g);
    double[] want = new double[m];
    double[] logits = Ref.linear(hd, headD, null, m, c, vocab);
    for (int i = 0; i < m; i++) want[i] = Ref.logSoftmaxAt(logits, i * vocab, vocab, targets[i]);
    assertThat(Ref.relErr(host(logp), want)).isLessThan(1e-6);

    Buf dh = BE.alloc(m * c), dHead = BE.alloc(vocab * c);
    BE.logSoftmaxGatherBackward(dh, dHead, buf(g), hb, headB, lse, targets, m, c, vocab);
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
    assertThat(Ref.relErr(host(dh), Ref.fdGrad(byHidden, hd.clone(), 1e-6))).isLessThan(1e-5);
    assertThat(Ref.relErr(host(dHead), Ref.fdGrad(byHead, headD.clone(), 1e-6))).isLessThan(1e-5);
  }

  @Test
  void embeddingGathersRowsAndScatterAddsGradientsForRepeatedTokens() {
    int vocab = 7, c = 5;
    float[] table = random(vocab * c), dOut = random(4 * c);
    int[] tokens = {3, 0, 3, 6};
    Buf out = BE.alloc(4 * c);
    BE.embeddingForward(out, buf(table), tokens, 4, c);
    assertThat(Arrays.copyOfRange(host(out), 2 * c, 3 * c)).isEqualTo(Arrays.copyOfRange(table, 3 * c, 4 * c));
    Buf dt = BE.alloc(vocab * c);
    BE.embeddingBackward(dt, buf(dOut), tokens, 4, c);
    float[] got = host(dt);
    for (int j = 0; j < c; j++) {
      assertThat(got[3 * c + j]).isEqualTo(dOut[j] + dOut[2 * c + j]);
      assertThat(got[1 * c + j]).isZero();
    }
  }

  @Test
  void vectorExpIsAccurateAndBitIdenticalToItsScalarTwin() {
    float[] xs = new float[VecMath.L * 64];
    for (int i = 0; i < xs.length; i++) xs[i] = (float) (-87 + 175.0 * i / xs.length);
    float[] vec = new float[xs.length];
    for (int i = 0; i < xs.length; i += VecMath.L) {
      VecMath.exp(jdk.incubator.vector.FloatVector.fromArray(VecMath.S, xs, i)).intoArray(vec, i);
    }
    for (int i = 0; i < xs.length; i++) {
      assertThat(vec[i]).isEqualTo(VecMath.exp(xs[i]));
      double want = Math.exp(xs[i]);
      assertThat(Math.abs(vec[i] - want) / want).as("exp(%s)", xs[i]).isLessThan(1e-6);
    }
  }
}
