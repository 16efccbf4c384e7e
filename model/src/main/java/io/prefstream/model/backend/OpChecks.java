package io.prefstream.model.backend;

/**
 * The argument checks of the embedding, RMSNorm and SwiGLU ops, forward and backward, and of the
 * batched engine ops ({@link BatchedAttention}, {@link BatchedLora}), shared by every backend so they
 * refuse the same inputs; the methods mirror the ops' signatures. Each
 * buffer must hold at least what the shapes say and each token id must be a row of the table; a
 * backward op checks what its forward checks plus its gradient buffers. A device backend runs these
 * on the host before it queues the op, because a kernel that reads or writes past a buffer faults
 * the device context instead of throwing. Failures are {@link IllegalArgumentException}s naming the
 * argument, thrown before anything is written.
 */
public final class OpChecks {
  private OpChecks() {}

  /** {@code b} holds at least {@code need} floats. */
  public static void size(Buf b, long need, String what) {
    if (b == null) throw new IllegalArgumentException(what + " is missing");
    if (b.size() < need) throw new IllegalArgumentException(what + " holds " + b.size() + " floats, op needs " + need);
  }

  private static void shape(String op, long n, int c) {
    if (n < 0 || c <= 0) throw new IllegalArgumentException(op + " shape n=" + n + ", c=" + c + ": expected n >= 0, c > 0");
  }

  public static void embeddingForward(Buf out, Buf table, int[] tokens, int n, int c) {
    shape("embedding", n, c);
    size(out, (long) n * c, "out");
    tokens(table, "table", tokens, n, c);
  }

  public static void embeddingBackward(Buf dTable, Buf dOut, int[] tokens, int n, int c) {
    shape("embedding backward", n, c);
    size(dOut, (long) n * c, "dOut");
    tokens(dTable, "dTable", tokens, n, c);
  }

  /** Every token id in tokens[0..n) is a row of table[vocab, c], vocab = table size / c. */
  private static void tokens(Buf table, String name, int[] tokens, int n, int c) {
    if (tokens.length < n) throw new IllegalArgumentException(n + " rows but " + tokens.length + " token ids");
    long vocab = table.size() / c;
    for (int i = 0; i < n; i++) {
      if (tokens[i] < 0 || tokens[i] >= vocab) {
        throw new IllegalArgumentException("token id " + tokens[i] + " at position " + i + " is outside [0, " + vocab
            + ") (" + name + " holds " + vocab + " rows of " + c + ")");
      }
    }
  }

  public static void rmsnormForward(Buf out, Buf rstd, Buf x, Buf w, int n, int c) {
    shape("rmsnorm", n, c);
    size(out, (long) n * c, "out");
    size(x, (long) n * c, "x");
    size(w, c, "w");
    size(rstd, n, "rstd");
  }

  public static void rmsnormBackward(Buf dx, Buf dw, Buf dOut, Buf x, Buf w, Buf rstd, int n, int c) {
    shape("rmsnorm backward", n, c);
    size(dx, (long) n * c, "dx");
    size(dOut, (long) n * c, "dOut");
    size(x, (long) n * c, "x");
    size(w, c, "w");
    size(rstd, n, "rstd");
    if (dw != null) size(dw, c, "dw");
  }

  public static void swigluForward(Buf h, Buf g, Buf u, long n) {
    if (n < 0) throw new IllegalArgumentException("swiglu over " + n + " elements: expected n >= 0");
    size(h, n, "h");
    size(g, n, "g");
    size(u, n, "u");
  }

  public static void swigluBackward(Buf dg, Buf du, Buf dh, Buf g, Buf u, long n) {
    if (n < 0) throw new IllegalArgumentException("swiglu backward over " + n + " elements: expected n >= 0");
    size(dg, n, "dg");
    size(du, n, "du");
    size(dh, n, "dh");
    size(g, n, "g");
    size(u, n, "u");
  }

  /** {@code cache} is a KV cache of {@code capacity} positions ({@link Backend#KV_CACHE_ALIGN} multiple) of kvHeads·headDim floats. */
  public static void kvCache(Buf cache, int capacity, int kvHeads, int headDim, String what) {
    if (capacity % Backend.KV_CACHE_ALIGN != 0) {
      throw new IllegalArgumentException("KV cache capacity " + capacity + " is not a multiple of " + Backend.KV_CACHE_ALIGN);
    }
    size(cache, (long) capacity * kvHeads * headDim, what);
  }

  /**
   * The per-sequence arrays agree (b caches each, b lengths and capacities, b + 1 non-decreasing row
   * starts), GQA divides, every sequence's new rows fit its cache and every buffer holds its rows.
   */
  public static void appendAttendBatch(Buf out, Buf q, Buf k, Buf v, Buf[] kCaches, Buf[] vCaches, int[] past, int[] capacity,
      int[] rowStart, int heads, int kvHeads, int headDim) {
    int b = kCaches.length;
    if (vCaches.length != b || past.length != b || capacity.length != b || rowStart.length != b + 1) {
      throw new IllegalArgumentException("per-sequence arrays disagree: " + b + " key caches, " + vCaches.length + " value caches, "
          + past.length + " lengths, " + capacity.length + " capacities, " + rowStart.length + " row starts (need sequences + 1)");
    }
    if (heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads % kvHeads != 0) {
      throw new IllegalArgumentException("heads " + heads + ", kvHeads " + kvHeads + ", headDim " + headDim
          + ": expected positive, heads a multiple of kvHeads");
    }
    if (rowStart[0] != 0) throw new IllegalArgumentException("row starts must begin at 0: " + java.util.Arrays.toString(rowStart));
    for (int s = 0; s < b; s++) {
      kvCache(kCaches[s], capacity[s], kvHeads, headDim, "key cache " + s);
      kvCache(vCaches[s], capacity[s], kvHeads, headDim, "value cache " + s);
      int n = rowStart[s + 1] - rowStart[s];
      if (n < 0) throw new IllegalArgumentException("row starts must not decrease: " + java.util.Arrays.toString(rowStart));
      if (past[s] < 0 || past[s] + n > capacity[s]) {
        throw new IllegalArgumentException("sequence " + s + ": cannot append " + n + " tokens at " + past[s] + " to a cache of " + capacity[s]);
      }
    }
    int rows = rowStart[b];
    size(q, (long) rows * heads * headDim, "q");
    size(out, (long) rows * heads * headDim, "out");
    size(k, (long) rows * kvHeads * headDim, "k");
    size(v, (long) rows * kvHeads * headDim, "v");
  }

  /**
   * The per-group arrays agree (groups factors, ranks and scalings, groups + 1 non-decreasing
   * starts), a group with an A factor has a B factor and a positive rank, and y, x and the scratch
   * hold all rows; returns the largest rank (the scratch's row stride). The factors' shapes are the
   * backend's to check, since only it knows its weights.
   */
  public static int loraGroups(Buf y, Buf x, int[] groupStart, Buf[] a, Buf[] b, int[] rank, float[] scaling, int in, int out,
      Buf scratch) {
    int groups = a.length;
    if (b.length != groups || rank.length != groups || scaling.length != groups || groupStart.length != groups + 1) {
      throw new IllegalArgumentException("per-group arrays disagree: " + groups + " A factors, " + b.length + " B factors, "
          + rank.length + " ranks, " + scaling.length + " scalings, " + groupStart.length + " group starts (need groups + 1)");
    }
    if (in <= 0 || out <= 0) throw new IllegalArgumentException("LoRA groups in=" + in + ", out=" + out + ": expected positive");
    int maxRank = 0;
    for (int g = 0; g < groups; g++) {
      if (groupStart[g] < 0 || groupStart[g + 1] < groupStart[g]) {
        throw new IllegalArgumentException("group starts must not decrease: " + java.util.Arrays.toString(groupStart));
      }
      if (a[g] == null) continue;
      if (b[g] == null || rank[g] <= 0) {
        throw new IllegalArgumentException("group " + g + " has an A factor but " + (b[g] == null ? "no B factor" : "rank " + rank[g]));
      }
      maxRank = Math.max(maxRank, rank[g]);
    }
    int rows = groupStart[groups];
    size(y, (long) rows * out, "y");
    size(x, (long) rows * in, "x");
    size(scratch, (long) rows * maxRank, "scratch");
    return maxRank;
  }
}
