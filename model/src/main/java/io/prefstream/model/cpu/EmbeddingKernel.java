package io.prefstream.model.cpu;

/** Token embedding gather, its scatter-add backward, and row gather/scatter for packed batches. */
final class EmbeddingKernel {
  private static final int COLS_PER_TASK = 64;

  private EmbeddingKernel() {}

  static void forward(float[] out, float[] table, int[] tokens, int n, int c, int vocab) {
    for (int i = 0; i < n; i++) {
      int t = tokens[i];
      if (t < 0 || t >= vocab) throw new IllegalArgumentException("token id " + t + " at position " + i + " is outside [0, " + vocab + ")");
      System.arraycopy(table, t * c, out, i * c, c);
    }
  }

  /** dTable[tokens[i]] += dOut[i]; one task per column block, tokens in order: thread-count independent. */
  static void backward(WorkerPool pool, float[] dTable, float[] dOut, int[] tokens, int n, int c) {
    pool.forEach((c + COLS_PER_TASK - 1) / COLS_PER_TASK, b -> {
      int j0 = b * COLS_PER_TASK, j1 = Math.min(c, j0 + COLS_PER_TASK);
      for (int i = 0; i < n; i++) {
        int to = tokens[i] * c, o = i * c;
        for (int j = j0; j < j1; j++) dTable[to + j] += dOut[o + j];
      }
    });
  }
}
