package io.prefstream.model.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * C[M,N] (+)= A[M,K]·B[K,N], the one matrix kernel every linear op reduces to. B is row-major
 * (contiguous along N, the vectorised dimension); A is read one scalar at a time through strides,
 * so Aᵀ costs nothing (the weight gradient dW = dYᵀ·X passes dY with swapped strides).
 *
 * <p>Each C element is {@code fma}-accumulated over k = 0..K-1 in order, starting from 0 (or from
 * C when accumulating), in one vector lane: tiling and the split over threads change which lanes
 * compute which element, never the arithmetic, so results are identical for any thread count.
 * Register tiles: 8 rows × 3 vectors (24 accumulators); the rows left over go in one 8 × 3 or 4 × 3
 * tile that repeats its last row (or a 1 × 3 tile for one row); masked 4 × 1-vector tiles at the
 * right edge (a short row block there repeats its last row too).
 */
final class Gemm {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final int MR = 4;
  static final int NR = 3 * L;
  private static final int ROWS_PER_TASK = 64;
  /** K is cut into blocks so a B panel (KC × 3 vectors) stays in L2 across all row blocks. */
  private static final int KC = 256;
  /** Row blocks up to this many rows skip K blocking (see {@link #block}). */
  private static final int FEW_ROWS = 16;
  /**
   * How many k rows ahead {@link #tile8x3} touches B, so the panel's next lines are on their way; 0
   * turns the touches off. Whether they pay depends on the processor's own prefetcher: on the Intel
   * VM where they were added, 8 rows ahead took a batch-8 step's products from 30.5 to 25.5 ms; on
   * an AMD EPYC (Zen 5) VM they cost instead (11.8 ms off against 13.0 ms at 8 rows ahead, medians
   * of 12 interleaved rounds in one JVM). So the default is off on AMD and 8 elsewhere;
   * {@code -Dprefstream.cpu.gemm-read-ahead=N} sets it. Results are the same bit for bit either way.
   */
  static final int AHEAD_ROWS = readAheadRows();
  /** Keeps the read-ahead loads observable, so the compiler does not drop them. */
  @SuppressWarnings("unused")
  private static volatile float readAheadSink;

  private Gemm() {}

  private static int readAheadRows() {
    String set = System.getProperty("prefstream.cpu.gemm-read-ahead");
    if (set != null) {
      try {
        int rows = Integer.parseInt(set.trim());
        if (rows >= 0) return rows;
      } catch (NumberFormatException ignored) {
        // falls through to the message below
      }
      throw new IllegalArgumentException("prefstream.cpu.gemm-read-ahead must be a whole number of rows >= 0, got '" + set + "'");
    }
    return cpuVendor().equals("AuthenticAMD") ? 0 : 8;
  }

  private static String cpuVendor() {
    try (var lines = java.nio.file.Files.lines(java.nio.file.Path.of("/proc/cpuinfo"))) {
      return lines.filter(l -> l.startsWith("vendor_id")).findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("");
    } catch (java.io.IOException | RuntimeException e) {
      return ""; // not Linux, or not readable: the default for other processors
    }
  }

  /**
   * @param c    C(i,j) at c[cOff + i*ldc + j]
   * @param a    A(i,k) at a[aOff + i*ars + k*acs]
   * @param b    B(k,j) at b[bOff + k*ldb + j]
   */
  static void gemm(WorkerPool pool, float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int acs,
      float[] b, int bOff, int ldb, int m, int n, int k, boolean accumulate) {
    if (m == 0 || n == 0) return;
    long flops = 2L * m * n * k;
    if (flops < 200_000) {
      block(c, cOff, ldc, a, aOff, ars, acs, b, bOff, ldb, 0, 0, m, 0, n, k, accumulate);
      return;
    }
    forEachTile(pool, m, n, (i0, i1, j0, j1) ->
        block(c, cOff, ldc, a, aOff, ars, acs, b, bOff, ldb, 0, i0, i1, j0, j1, k, accumulate));
  }

  /** The same product on the calling thread only (for use inside a task of another kernel). */
  static void serial(float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int acs,
      float[] b, int bOff, int ldb, int m, int n, int k, boolean accumulate) {
    if (m == 0 || n == 0) return;
    block(c, cOff, ldc, a, aOff, ars, acs, b, bOff, ldb, 0, 0, m, 0, n, k, accumulate);
  }

  /** Whether a weight with this many output rows is stored as packed panels (see {@link #pack}). */
  static boolean packable(int out) {
    return out % NR == 0;
  }

  /**
   * Wᵀ of a weight W[out, in] in panels of NR output columns: panel p holds, for k = 0..in-1, the NR
   * values W[p·NR .. p·NR+NR-1, k] contiguously, so a tile streams its B panel linearly instead of
   * striding a whole row (out floats) per k, which thrashes the TLB for wide matrices like the
   * vocabulary head.
   */
  static void pack(WorkerPool pool, float[] dst, float[] w, int out, int in) {
    pool.forEach(out / NR, p -> {
      int base = p * in * NR;
      for (int jj = 0; jj < NR; jj++) {
        int row = (p * NR + jj) * in;
        for (int k = 0; k < in; k++) dst[base + k * NR + jj] = w[row + k];
      }
    });
  }

  /** C[M, out] (+)= A·Wᵀ with Wᵀ packed by {@link #pack} (out a multiple of NR). */
  static void gemmPacked(WorkerPool pool, float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int acs,
      float[] packed, int m, int out, int in, boolean accumulate) {
    if (m == 0) return;
    int panelStride = in * NR;
    if (2L * m * out * in < 200_000) {
      block(c, cOff, ldc, a, aOff, ars, acs, packed, 0, NR, panelStride, 0, m, 0, out, in, accumulate);
      return;
    }
    forEachTile(pool, m, out, (i0, i1, j0, j1) ->
        block(c, cOff, ldc, a, aOff, ars, acs, packed, 0, NR, panelStride, i0, i1, j0, j1, in, accumulate));
  }

  /**
   * C_p[M, w_p.out] = A·W_pᵀ for several packed weights of one A (row-major, row stride ars) as one
   * parallel loop: one wait for the slowest thread instead of one per product, and the tasks of all
   * products balance each other. Each tile is computed as {@link #gemmPacked} computes it.
   */
  static void gemmPackedShared(WorkerPool pool, float[][] c, float[] a, int ars, CpuBuf[] w, int m) {
    if (m == 0) return;
    int count = w.length, in = w[0].in;
    long flops = 0;
    int panels = 0;
    for (CpuBuf wp : w) {
      flops += 2L * m * wp.out * in;
      panels += wp.out / NR;
    }
    if (flops < 200_000 || pool.threads() == 1) {
      for (int p = 0; p < count; p++) {
        block(c[p], 0, w[p].out, a, 0, ars, 1, w[p].t, 0, NR, in * NR, 0, m, 0, w[p].out, in, false);
      }
      return;
    }
    int rowTasks = (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
    int panelsPerTask = Math.max(1, Math.min(4, rowTasks * panels / (4 * pool.threads())));
    int colWidth = NR * panelsPerTask;
    int[] colTasks = new int[count], first = new int[count + 1];
    for (int p = 0; p < count; p++) {
      colTasks[p] = (w[p].out + colWidth - 1) / colWidth;
      first[p + 1] = first[p] + rowTasks * colTasks[p];
    }
    pool.forEach(first[count], t -> {
      int p = 0;
      while (t >= first[p + 1]) p++;
      int local = t - first[p], out = w[p].out;
      int i0 = (local / colTasks[p]) * ROWS_PER_TASK, j0 = (local % colTasks[p]) * colWidth;
      block(c[p], 0, out, a, 0, ars, 1, w[p].t, 0, NR, in * NR, i0, Math.min(m, i0 + ROWS_PER_TASK), j0,
          Math.min(out, j0 + colWidth), in, false);
    });
  }

  /** C[M, w.out] (+)= A·Wᵀ from a weight's derived layout (packed panels or plain transpose). */
  static void gemmWt(WorkerPool pool, float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int acs,
      CpuBuf w, int m, boolean accumulate) {
    if (NarrowGemm.applies(w, acs)) {
      NarrowGemm.gemmWt(pool, c, cOff, ldc, a, aOff, ars, w, m, accumulate);
    } else if (w.packed) {
      gemmPacked(pool, c, cOff, ldc, a, aOff, ars, acs, w.t, m, w.out, w.in, accumulate);
    } else {
      gemm(pool, c, cOff, ldc, a, aOff, ars, acs, w.t, 0, w.out, m, w.out, w.in, accumulate);
    }
  }

  private interface TileRange {
    void run(int i0, int i1, int j0, int j1);
  }

  private static void forEachTile(WorkerPool pool, int m, int n, TileRange body) {
    int rowTasks = (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
    int panels = (n + NR - 1) / NR;
    // Enough tasks to balance the threads (about 4 each), up to 4 panels wide when there are plenty.
    int panelsPerTask = Math.max(1, Math.min(4, rowTasks * panels / (4 * pool.threads())));
    int colWidth = NR * panelsPerTask;
    int colTasks = (n + colWidth - 1) / colWidth;
    pool.forEach(rowTasks * colTasks, t -> {
      int i0 = (t / colTasks) * ROWS_PER_TASK;
      int j0 = (t % colTasks) * colWidth;
      body.run(i0, Math.min(m, i0 + ROWS_PER_TASK), j0, Math.min(n, j0 + colWidth));
    });
  }

  /** panelStride 0: B row-major with ldb; otherwise packed panels (ldb = NR) panelStride apart. */
  private static void block(float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int acs,
      float[] b, int bOff, int ldb, int panelStride, int i0, int i1, int j0, int j1, int k, boolean acc) {
    // Each k-block continues from the accumulators the previous one stored, so every element's
    // fma chain (and so the result) is the same as without blocking. A block of few rows (decode
    // steps) has no panel reuse to gain from blocking; it streams each panel from start to end.
    int kcMax = i1 - i0 <= FEW_ROWS ? k : KC;
    for (int kb = 0; kb < k; kb += kcMax) {
      int kc = Math.min(kcMax, k - kb);
      blockK(c, cOff, ldc, a, aOff + kb * acs, ars, acs, b, bOff + kb * ldb, ldb, panelStride, i0, i1, j0, j1, kc,
          acc || kb > 0);
    }
  }

  private static void blockK(float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int acs,
      float[] b, int bOff, int ldb, int panelStride, int i0, int i1, int j0, int j1, int k, boolean acc) {
    // Column panels outermost: one panel of B (k × 3 vectors) stays in cache across the row blocks.
    // Rows past the last full block of 8 go in one more tile that repeats its last row (5-7 rows:
    // an 8-row tile; 2-4: a 4-row one; a single row alone), so a decode batch of any size streams
    // each panel once or twice, never once per leftover row. The repeated rows compute the same
    // chain as the row they copy and store the same values over it.
    int full8 = i0 + (i1 - i0) / (2 * MR) * (2 * MR);
    int rest = i1 - full8;
    int j = j0;
    for (; j + NR <= j1; j += NR) {
      int bo = panelStride == 0 ? bOff + j : bOff + (j / NR) * panelStride; // B at (k-block start, column j)
      for (int i = i0; i < full8; i += 2 * MR) {
        tile8x3(c, cOff, ldc, a, aOff, ars, acs, b, bo, ldb, i, i1, j, k, acc);
      }
      if (rest > MR) {
        tile8x3(c, cOff, ldc, a, aOff, ars, acs, b, bo, ldb, full8, i1, j, k, acc);
      } else if (rest > 1) {
        tile4x3(c, cOff, ldc, a, aOff, ars, acs, b, bo, ldb, full8, i1, j, k, acc);
      } else if (rest == 1) {
        tile1x3(c, cOff, ldc, a, aOff, ars, acs, b, bo, ldb, full8, j, k, acc);
      }
    }
    for (; j < j1; j += L) {
      VectorMask<Float> mask = S.indexInRange(j, j1);
      for (int i = i0; i < i1; i += MR) {
        tile4x1(c, cOff, ldc, a, aOff, ars, acs, b, bOff, ldb, i, i1, j, k, acc, mask);
      }
    }
  }

  /**
   * 8 rows × 3 vectors (24 accumulators): each B vector loaded serves 8 rows, so a batch of 8 decode
   * rows streams every weight panel once (a 4-row tile streams it twice). Same per-element fma chain.
   */
  private static void tile8x3(float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int acs,
      float[] b, int bo, int ldb, int i, int iEnd, int j, int k, boolean acc) {
    int last = iEnd - 1; // rows past it repeat it (see blockK)
    int r1 = Math.min(i + 1, last), r2 = Math.min(i + 2, last), r3 = Math.min(i + 3, last);
    int r4 = Math.min(i + 4, last), r5 = Math.min(i + 5, last), r6 = Math.min(i + 6, last), r7 = Math.min(i + 7, last);
    int a0 = aOff + i * ars, a1 = aOff + r1 * ars, a2 = aOff + r2 * ars, a3 = aOff + r3 * ars;
    int a4 = aOff + r4 * ars, a5 = aOff + r5 * ars, a6 = aOff + r6 * ars, a7 = aOff + r7 * ars;
    FloatVector c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
    FloatVector c40, c41, c42, c50, c51, c52, c60, c61, c62, c70, c71, c72;
    int o0 = cOff + i * ldc + j, o1 = cOff + r1 * ldc + j, o2 = cOff + r2 * ldc + j, o3 = cOff + r3 * ldc + j;
    int o4 = cOff + r4 * ldc + j, o5 = cOff + r5 * ldc + j, o6 = cOff + r6 * ldc + j, o7 = cOff + r7 * ldc + j;
    if (acc) {
      c00 = FloatVector.fromArray(S, c, o0); c01 = FloatVector.fromArray(S, c, o0 + L); c02 = FloatVector.fromArray(S, c, o0 + 2 * L);
      c10 = FloatVector.fromArray(S, c, o1); c11 = FloatVector.fromArray(S, c, o1 + L); c12 = FloatVector.fromArray(S, c, o1 + 2 * L);
      c20 = FloatVector.fromArray(S, c, o2); c21 = FloatVector.fromArray(S, c, o2 + L); c22 = FloatVector.fromArray(S, c, o2 + 2 * L);
      c30 = FloatVector.fromArray(S, c, o3); c31 = FloatVector.fromArray(S, c, o3 + L); c32 = FloatVector.fromArray(S, c, o3 + 2 * L);
      c40 = FloatVector.fromArray(S, c, o4); c41 = FloatVector.fromArray(S, c, o4 + L); c42 = FloatVector.fromArray(S, c, o4 + 2 * L);
      c50 = FloatVector.fromArray(S, c, o5); c51 = FloatVector.fromArray(S, c, o5 + L); c52 = FloatVector.fromArray(S, c, o5 + 2 * L);
      c60 = FloatVector.fromArray(S, c, o6); c61 = FloatVector.fromArray(S, c, o6 + L); c62 = FloatVector.fromArray(S, c, o6 + 2 * L);
      c70 = FloatVector.fromArray(S, c, o7); c71 = FloatVector.fromArray(S, c, o7 + L); c72 = FloatVector.fromArray(S, c, o7 + 2 * L);
    } else {
      FloatVector z = FloatVector.zero(S);
      c00 = z; c01 = z; c02 = z; c10 = z; c11 = z; c12 = z; c20 = z; c21 = z; c22 = z; c30 = z; c31 = z; c32 = z;
      c40 = z; c41 = z; c42 = z; c50 = z; c51 = z; c52 = z; c60 = z; c61 = z; c62 = z; c70 = z; c71 = z; c72 = z;
    }
    // At 8 rows the arithmetic per B line is long enough that the hardware prefetcher falls behind
    // a weight stream from memory; a scalar read of each line AHEAD_ROWS k rows ahead starts its
    // load early (Java has no prefetch instruction). The values read only feed readAheadSink.
    int ahead = AHEAD_ROWS * ldb, lastAhead = b.length - 1 - 2 * L;
    float touched = 0;
    for (int p = 0; p < k; p++, bo += ldb) {
      FloatVector b0 = FloatVector.fromArray(S, b, bo);
      FloatVector b1 = FloatVector.fromArray(S, b, bo + L);
      FloatVector b2 = FloatVector.fromArray(S, b, bo + 2 * L);
      if (AHEAD_ROWS > 0) { // a constant: the JIT keeps or drops these lines once
        int q = Math.min(bo + ahead, lastAhead);
        touched += b[q] + b[q + L] + b[q + 2 * L];
      }
      int ap = p * acs;
      FloatVector x = FloatVector.broadcast(S, a[a0 + ap]);
      c00 = b0.fma(x, c00); c01 = b1.fma(x, c01); c02 = b2.fma(x, c02);
      x = FloatVector.broadcast(S, a[a1 + ap]);
      c10 = b0.fma(x, c10); c11 = b1.fma(x, c11); c12 = b2.fma(x, c12);
      x = FloatVector.broadcast(S, a[a2 + ap]);
      c20 = b0.fma(x, c20); c21 = b1.fma(x, c21); c22 = b2.fma(x, c22);
      x = FloatVector.broadcast(S, a[a3 + ap]);
      c30 = b0.fma(x, c30); c31 = b1.fma(x, c31); c32 = b2.fma(x, c32);
      x = FloatVector.broadcast(S, a[a4 + ap]);
      c40 = b0.fma(x, c40); c41 = b1.fma(x, c41); c42 = b2.fma(x, c42);
      x = FloatVector.broadcast(S, a[a5 + ap]);
      c50 = b0.fma(x, c50); c51 = b1.fma(x, c51); c52 = b2.fma(x, c52);
      x = FloatVector.broadcast(S, a[a6 + ap]);
      c60 = b0.fma(x, c60); c61 = b1.fma(x, c61); c62 = b2.fma(x, c62);
      x = FloatVector.broadcast(S, a[a7 + ap]);
      c70 = b0.fma(x, c70); c71 = b1.fma(x, c71); c72 = b2.fma(x, c72);
    }
    if (touched == Float.MIN_VALUE) readAheadSink = touched; // practically never true, but the compiler cannot know
    // A row that repeats the last one stores the same values over it.
    c70.intoArray(c, o7); c71.intoArray(c, o7 + L); c72.intoArray(c, o7 + 2 * L);
    c60.intoArray(c, o6); c61.intoArray(c, o6 + L); c62.intoArray(c, o6 + 2 * L);
    c50.intoArray(c, o5); c51.intoArray(c, o5 + L); c52.intoArray(c, o5 + 2 * L);
    c40.intoArray(c, o4); c41.intoArray(c, o4 + L); c42.intoArray(c, o4 + 2 * L);
    c30.intoArray(c, o3); c31.intoArray(c, o3 + L); c32.intoArray(c, o3 + 2 * L);
    c20.intoArray(c, o2); c21.intoArray(c, o2 + L); c22.intoArray(c, o2 + 2 * L);
    c10.intoArray(c, o1); c11.intoArray(c, o1 + L); c12.intoArray(c, o1 + 2 * L);
    c00.intoArray(c, o0); c01.intoArray(c, o0 + L); c02.intoArray(c, o0 + 2 * L);
  }

  private static void tile4x3(float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int acs,
      float[] b, int bo, int ldb, int i, int iEnd, int j, int k, boolean acc) {
    int r1 = Math.min(i + 1, iEnd - 1), r2 = Math.min(i + 2, iEnd - 1), r3 = Math.min(i + 3, iEnd - 1);
    int a0 = aOff + i * ars, a1 = aOff + r1 * ars, a2 = aOff + r2 * ars, a3 = aOff + r3 * ars;
    FloatVector c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
    if (acc) {
      int o0 = cOff + i * ldc + j, o1 = cOff + r1 * ldc + j, o2 = cOff + r2 * ldc + j, o3 = cOff + r3 * ldc + j;
      c00 = FloatVector.fromArray(S, c, o0); c01 = FloatVector.fromArray(S, c, o0 + L); c02 = FloatVector.fromArray(S, c, o0 + 2 * L);
      c10 = FloatVector.fromArray(S, c, o1); c11 = FloatVector.fromArray(S, c, o1 + L); c12 = FloatVector.fromArray(S, c, o1 + 2 * L);
      c20 = FloatVector.fromArray(S, c, o2); c21 = FloatVector.fromArray(S, c, o2 + L); c22 = FloatVector.fromArray(S, c, o2 + 2 * L);
      c30 = FloatVector.fromArray(S, c, o3); c31 = FloatVector.fromArray(S, c, o3 + L); c32 = FloatVector.fromArray(S, c, o3 + 2 * L);
    } else {
      FloatVector z = FloatVector.zero(S);
      c00 = z; c01 = z; c02 = z; c10 = z; c11 = z; c12 = z; c20 = z; c21 = z; c22 = z; c30 = z; c31 = z; c32 = z;
    }
    for (int p = 0; p < k; p++, bo += ldb) {
      FloatVector b0 = FloatVector.fromArray(S, b, bo);
      FloatVector b1 = FloatVector.fromArray(S, b, bo + L);
      FloatVector b2 = FloatVector.fromArray(S, b, bo + 2 * L);
      int ap = p * acs;
      FloatVector x0 = FloatVector.broadcast(S, a[a0 + ap]);
      c00 = b0.fma(x0, c00); c01 = b1.fma(x0, c01); c02 = b2.fma(x0, c02);
      FloatVector x1 = FloatVector.broadcast(S, a[a1 + ap]);
      c10 = b0.fma(x1, c10); c11 = b1.fma(x1, c11); c12 = b2.fma(x1, c12);
      FloatVector x2 = FloatVector.broadcast(S, a[a2 + ap]);
      c20 = b0.fma(x2, c20); c21 = b1.fma(x2, c21); c22 = b2.fma(x2, c22);
      FloatVector x3 = FloatVector.broadcast(S, a[a3 + ap]);
      c30 = b0.fma(x3, c30); c31 = b1.fma(x3, c31); c32 = b2.fma(x3, c32);
    }
    // Rows past iEnd were computed on a repeated row; only real rows are stored.
    int o = cOff + i * ldc + j;
    c00.intoArray(c, o); c01.intoArray(c, o + L); c02.intoArray(c, o + 2 * L);
    if (i + 1 < iEnd) { o = cOff + (i + 1) * ldc + j; c10.intoArray(c, o); c11.intoArray(c, o + L); c12.intoArray(c, o + 2 * L); }
    if (i + 2 < iEnd) { o = cOff + (i + 2) * ldc + j; c20.intoArray(c, o); c21.intoArray(c, o + L); c22.intoArray(c, o + 2 * L); }
    if (i + 3 < iEnd) { o = cOff + (i + 3) * ldc + j; c30.intoArray(c, o); c31.intoArray(c, o + L); c32.intoArray(c, o + 2 * L); }
  }

  private static void tile1x3(float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int acs,
      float[] b, int bo, int ldb, int i, int j, int k, boolean acc) {
    int o = cOff + i * ldc + j;
    FloatVector c0, c1, c2;
    if (acc) {
      c0 = FloatVector.fromArray(S, c, o); c1 = FloatVector.fromArray(S, c, o + L); c2 = FloatVector.fromArray(S, c, o + 2 * L);
    } else {
      c0 = c1 = c2 = FloatVector.zero(S);
    }
    int a0 = aOff + i * ars;
    for (int p = 0; p < k; p++, bo += ldb) {
      FloatVector x0 = FloatVector.broadcast(S, a[a0 + p * acs]);
      c0 = FloatVector.fromArray(S, b, bo).fma(x0, c0);
      c1 = FloatVector.fromArray(S, b, bo + L).fma(x0, c1);
      c2 = FloatVector.fromArray(S, b, bo + 2 * L).fma(x0, c2);
    }
    c0.intoArray(c, o); c1.intoArray(c, o + L); c2.intoArray(c, o + 2 * L);
  }

  private static void tile4x1(float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int acs,
      float[] b, int bOff, int ldb, int i, int iEnd, int j, int k, boolean acc, VectorMask<Float> m) {
    int r1 = Math.min(i + 1, iEnd - 1), r2 = Math.min(i + 2, iEnd - 1), r3 = Math.min(i + 3, iEnd - 1);
    int a0 = aOff + i * ars, a1 = aOff + r1 * ars, a2 = aOff + r2 * ars, a3 = aOff + r3 * ars;
    FloatVector c0, c1, c2, c3;
    if (acc) {
      c0 = FloatVector.fromArray(S, c, cOff + i * ldc + j, m);
      c1 = FloatVector.fromArray(S, c, cOff + r1 * ldc + j, m);
      c2 = FloatVector.fromArray(S, c, cOff + r2 * ldc + j, m);
      c3 = FloatVector.fromArray(S, c, cOff + r3 * ldc + j, m);
    } else {
      c0 = c1 = c2 = c3 = FloatVector.zero(S);
    }
    int bo = bOff + j;
    for (int p = 0; p < k; p++, bo += ldb) {
      FloatVector b0 = FloatVector.fromArray(S, b, bo, m);
      int ap = p * acs;
      c0 = b0.fma(FloatVector.broadcast(S, a[a0 + ap]), c0);
      c1 = b0.fma(FloatVector.broadcast(S, a[a1 + ap]), c1);
      c2 = b0.fma(FloatVector.broadcast(S, a[a2 + ap]), c2);
      c3 = b0.fma(FloatVector.broadcast(S, a[a3 + ap]), c3);
    }
    c0.intoArray(c, cOff + i * ldc + j, m);
    if (i + 1 < iEnd) c1.intoArray(c, cOff + (i + 1) * ldc + j, m);
    if (i + 2 < iEnd) c2.intoArray(c, cOff + (i + 2) * ldc + j, m);
    if (i + 3 < iEnd) c3.intoArray(c, cOff + (i + 3) * ldc + j, m);
  }
}
