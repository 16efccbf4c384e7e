package io.prefstream.model.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.BackendContractTest;
import io.prefstream.model.backend.BackendFailure;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.backend.SeqLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The backend contract on the CPU, plus what is CPU-specific: thread-count independence and exp. */
class CpuBackendTest extends BackendContractTest {
  private static final WorkerPool POOL = new WorkerPool(2);
  private final SplittableRandom rnd = new SplittableRandom(5);

  @AfterAll
  static void close() {
    POOL.close();
  }

  @Override
  protected Backend backend() {
    return new CpuBackend(POOL);
  }

  @Override
  protected int logSoftmaxChunk() {
    return LogSoftmaxKernel.CHUNK;
  }

  private float[] random(int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextDouble() * 2 - 1);
    return a;
  }

  private static float[] host(Buf b) {
    return CpuBackend.array(b).clone();
  }

  @Test
  void everyOpIsBitIdenticalAcrossThreadCounts() {
    int n = 70, in = 300, out = 150, heads = 4, kv = 2, hd = 16;
    float[] x = random(n * in), w = random(out * in), dy = random(n * out);
    float[] q = random(n * heads * hd), k = random(n * kv * hd), v = random(n * kv * hd), dOut = random(n * heads * hd);
    SeqLayout layout = SeqLayout.of(66, 4); // 66 > one 64-row query block
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
        Buf packedW = be.weight(java.util.Arrays.copyOf(w, Gemm.NR * 3 * in), Gemm.NR * 3, in); // packed-panel layout
        Buf y2 = be.alloc((long) n * Gemm.NR * 3);
        be.matmulForward(y2, xb, packedW, null, n, in, Gemm.NR * 3, false);
        Buf qb = be.alloc(q.length), kb = be.alloc(k.length), vb = be.alloc(v.length), ob = be.alloc(q.length), lse = be.alloc((long) n * heads);
        be.upload(qb, q);
        be.upload(kb, k);
        be.upload(vb, v);
        be.attentionForward(ob, lse, qb, kb, vb, layout, heads, kv, hd);
        Buf dq = be.alloc(q.length), dk = be.alloc(k.length), dv = be.alloc(v.length), dob = be.alloc(dOut.length);
        be.upload(dob, dOut);
        be.attentionBackward(dq, dk, dv, dob, ob, lse, qb, kb, vb, layout, heads, kv, hd);
        float[][] all = {host(y), host(dx), host(dw), host(ob), host(dq), host(dk), host(dv), host(y2)};
        if (first == null) {
          first = all;
        } else {
          for (int i = 0; i < all.length; i++) assertThat(all[i]).as("output %d with %d threads", i, threads).isEqualTo(first[i]);
        }
      }
    }
  }

  @Test
  void vectorExpIsAccurateAndBitIdenticalToItsScalarTwin() {
    float[] xs = new float[VecMath.L * 64];
    for (int i = 0; i < xs.length; i++) xs[i] = (float) (-87 + 175.0 * i / xs.length);
    float[] vec = new float[xs.length];
    VecMath.expAffine(xs, 0, vec, 0, xs.length, 1f, 0f);
    for (int i = 0; i < xs.length; i++) {
      assertThat(vec[i]).isEqualTo(VecMath.exp(xs[i]));
      double want = Math.exp(xs[i]);
      assertThat(Math.abs(vec[i] - want) / want).as("exp(%s)", xs[i]).isLessThan(1e-6);
    }
    // A range that ends inside a vector, at an offset, scaled and shifted: the last lanes are masked.
    int off = 3, n = 2 * VecMath.L + 5;
    float scale = 0.125f, shift = 1.5f;
    float[] out = new float[n + 2];
    java.util.Arrays.fill(out, -7f);
    float sum = VecMath.expAffine(xs, off, out, 1, n, scale, shift);
    double want = 0;
    for (int j = 0; j < n; j++) {
      assertThat(out[1 + j]).isEqualTo(VecMath.exp(xs[off + j] * scale - shift));
      want += out[1 + j];
    }
    assertThat(out[0]).isEqualTo(-7f);
    assertThat(out[n + 1]).as("nothing written past n").isEqualTo(-7f);
    assertThat(Math.abs(sum - want) / want).isLessThan(1e-6);
    assertThat(VecMath.expAffine(xs, off, null, 0, n, scale, shift)).as("the sum alone").isEqualTo(sum);
  }

  @Test
  void aKernelTaskThatFailsIsABackendFailureWhileARefusedArgumentStaysOne() {
    for (WorkerPool pool : new WorkerPool[] {POOL, new WorkerPool(1)}) {
      assertThatThrownBy(() -> pool.forEach(8, i -> {
        if (i == 5) throw new ArrayIndexOutOfBoundsException("index 99 out of bounds for length 8");
      })).isInstanceOf(BackendFailure.class).hasMessageContaining("a CPU kernel task failed")
          .hasCauseInstanceOf(ArrayIndexOutOfBoundsException.class);
      assertThatThrownBy(() -> pool.forEach(8, i -> {
        if (i == 5) throw new IllegalArgumentException("bad shape");
      })).isExactlyInstanceOf(IllegalArgumentException.class).hasMessage("bad shape");
    }
  }

  @Test
  void batchedAppendAndAttendIsBitIdenticalToOneSequenceAtATime() {
    int heads = 6, kv = 2, hd = 16, qd = heads * hd, kd = kv * hd, cap = 128;
    int[] past = {0, 37, 5, 64};
    int[] len = {9, 1, 1, 3}; // a prompt chunk, two decode rows, a short chunk
    int[] start = new int[len.length + 1];
    for (int s = 0; s < len.length; s++) start[s + 1] = start[s] + len[s];
    int rows = start[len.length];
    CpuBackend be = new CpuBackend(POOL);
    float[] q = random(rows * qd), k = random(rows * kd), v = random(rows * kd);
    Buf[] kcA = new Buf[len.length], vcA = new Buf[len.length], kcB = new Buf[len.length], vcB = new Buf[len.length];
    float[] one = new float[rows * qd];
    for (int s = 0; s < len.length; s++) {
      float[] prefixK = random(past[s] * kd), prefixV = random(past[s] * kd);
      kcA[s] = be.alloc((long) cap * kd); vcA[s] = be.alloc((long) cap * kd);
      kcB[s] = be.alloc((long) cap * kd); vcB[s] = be.alloc((long) cap * kd);
      if (past[s] > 0) {
        be.kvAppend(kcA[s], vcA[s], buf(be, prefixK), buf(be, prefixV), 0, past[s], cap, kv, hd);
        be.kvAppend(kcB[s], vcB[s], buf(be, prefixK), buf(be, prefixV), 0, past[s], cap, kv, hd);
      }
      // One sequence alone, through the single ops.
      Buf out = be.alloc((long) len[s] * qd);
      be.kvAppend(kcA[s], vcA[s], buf(be, java.util.Arrays.copyOfRange(k, start[s] * kd, start[s + 1] * kd)),
          buf(be, java.util.Arrays.copyOfRange(v, start[s] * kd, start[s + 1] * kd)), past[s], len[s], cap, kv, hd);
      be.attentionCached(out, buf(be, java.util.Arrays.copyOfRange(q, start[s] * qd, start[s + 1] * qd)), kcA[s], vcA[s],
          past[s], len[s], cap, heads, kv, hd);
      System.arraycopy(host(out), 0, one, start[s] * qd, len[s] * qd);
    }
    Buf batched = be.alloc((long) rows * qd);
    be.appendAttendBatch(batched, buf(be, q), buf(be, k), buf(be, v), kcB, vcB, past, new int[] {cap, cap, cap, cap}, start, heads, kv, hd);
    assertThat(host(batched)).containsExactly(one);
    for (int s = 0; s < len.length; s++) {
      assertThat(host(kcB[s])).containsExactly(host(kcA[s]));
      assertThat(host(vcB[s])).containsExactly(host(vcA[s]));
    }
    // A cache that cannot take a sequence's rows is refused before anything is written.
    int[] full = {0, 128, 5, 64};
    assertThatThrownBy(() -> be.appendAttendBatch(batched, buf(be, q), buf(be, k), buf(be, v), kcB, vcB, full,
        new int[] {cap, cap, cap, cap}, start, heads, kv, hd)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("sequence 1").hasMessageContaining("cannot append 1 tokens at 128");
  }

  private static Buf buf(CpuBackend be, float[] data) {
    Buf b = be.alloc(data.length);
    be.upload(b, data);
    return b;
  }

  @Test
  void groupedLoraDeltasAreBitIdenticalToOneGroupAtATime() {
    int in = 40, out = 56;
    int[] start = {0, 3, 4, 4, 9}; // groups of 3, 1, 0 and 5 rows
    int[] rank = {4, 0, 8, 2};
    float[] scaling = {2f, 0f, 0.5f, 1.25f};
    int rows = start[4];
    CpuBackend be = new CpuBackend(POOL);
    float[] x = random(rows * in), y0 = random(rows * out);
    Buf[] a = new Buf[4], b = new Buf[4];
    for (int g : new int[] {0, 2, 3}) {
      a[g] = be.weight(random(rank[g] * in), rank[g], in);
      b[g] = be.weight(random(out * rank[g]), out, rank[g]);
    }
    float[] expected = y0.clone();
    for (int g : new int[] {0, 3}) { // group 1 has no adapter, group 2 no rows
      int n = start[g + 1] - start[g];
      Buf su = be.alloc((long) n * rank[g]), gy = buf(be, java.util.Arrays.copyOfRange(expected, start[g] * out, start[g + 1] * out));
      be.matmulForward(su, buf(be, java.util.Arrays.copyOfRange(x, start[g] * in, start[g + 1] * in)), a[g], null, n, in, rank[g], false);
      be.scale(su, (long) n * rank[g], scaling[g]);
      be.matmulForward(gy, su, b[g], null, n, rank[g], out, true);
      System.arraycopy(host(gy), 0, expected, start[g] * out, n * out);
    }
    Buf y = buf(be, y0);
    be.loraGroups(y, buf(be, x), start, a, b, rank, scaling, in, out, be.alloc((long) rows * 8));
    assertThat(host(y)).containsExactly(expected);
    assertThatThrownBy(() -> be.loraGroups(y, buf(be, x), start, a, b, rank, scaling, in, out, be.alloc(rows)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("scratch");
  }

  @Test
  void everyRowOfAProductIsBitIdenticalToThatRowAloneForAnyRowCount() {
    // Rows left over after the 8-row tiles go in one tile that repeats its last row; each row's
    // result must not depend on which tile computed it, nor the copies leak into other rows.
    CpuBackend be = new CpuBackend(POOL);
    // packed panels (a multiple of 3 vectors), a masked right edge, and narrow weights (LoRA A
    // factors: NarrowGemm's dot products, 4 rows of W at a time and single ones)
    for (int out : new int[] {96, 100, 8, 13}) {
      int in = 300;
      Buf w = be.weight(random(out * in), out, in);
      for (int n : java.util.stream.IntStream.concat(java.util.stream.IntStream.rangeClosed(1, 24),
          java.util.stream.IntStream.of(out < NarrowGemm.MAX_OUT ? 150 : 24)).toArray()) {
        float[] x = random(n * in), y0 = random(n * out);
        Buf y = buf(be, y0);
        be.matmulForward(y, buf(be, x), w, null, n, in, out, true);
        float[] all = host(y);
        for (int r = 0; r < n; r++) {
          Buf one = buf(be, java.util.Arrays.copyOfRange(y0, r * out, (r + 1) * out));
          be.matmulForward(one, buf(be, java.util.Arrays.copyOfRange(x, r * in, (r + 1) * in)), w, null, 1, in, out, true);
          assertThat(java.util.Arrays.copyOfRange(all, r * out, (r + 1) * out)).as("row %d of %d, out %d", r, n, out)
              .containsExactly(host(one));
        }
        float[] wa = host(w);
        for (int r = 0; r < n; r++) {
          for (int j = 0; j < out; j++) { // and each element is y0 + x·wᵀ to float accuracy
            double want = y0[r * out + j];
            for (int k = 0; k < in; k++) want += (double) x[r * in + k] * wa[j * in + k];
            assertThat((double) all[r * out + j]).as("y[%d,%d], out %d", r, j, out).isCloseTo(want, org.assertj.core.api.Assertions.within(1e-4 * (1 + Math.abs(want))));
          }
        }
      }
    }
  }
}
