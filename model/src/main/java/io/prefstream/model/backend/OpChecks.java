package io.prefstream.model.backend;

/**
 * The argument checks of the embedding, RMSNorm and SwiGLU ops, forward and backward, shared by every
 * backend so they refuse the same inputs; the methods mirror the {@link Backend} signatures. Each
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
}
