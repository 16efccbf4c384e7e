package io.prefstream.model.cpu;

import java.util.concurrent.ConcurrentHashMap;

/**
 * Rotary position embedding in Hugging Face's rotate-half layout: within each head, element i pairs
 * with element i + hd/2 and is rotated by pos · theta^(-2i/hd). Backward rotates by the negative
 * angle. cos/sin tables are cached per (theta, hd) and grown to the largest position seen.
 */
final class RopeKernel {
  private record Key(double theta, int headDim) {}

  private record Table(float[] cos, float[] sin, int positions) {}

  private final ConcurrentHashMap<Key, Table> tables = new ConcurrentHashMap<>();

  void apply(WorkerPool pool, float[] x, int[] positions, int n, int heads, int hd, double theta, boolean inverse) {
    int maxPos = 0;
    for (int i = 0; i < n; i++) {
      if (positions[i] < 0) throw new IllegalArgumentException("position " + positions[i] + " at row " + i + " is negative");
      maxPos = Math.max(maxPos, positions[i]);
    }
    Table tab = table(theta, hd, maxPos + 1);
    int half = hd / 2;
    float sign = inverse ? -1f : 1f;
    int rowsPerTask = 16;
    pool.forEach((n + rowsPerTask - 1) / rowsPerTask, t -> {
      for (int i = t * rowsPerTask, end = Math.min(n, i + rowsPerTask); i < end; i++) {
        int to = positions[i] * half; // row of the table for this position
        for (int h = 0; h < heads; h++) {
          int o = (i * heads + h) * hd; // head h of row i
          for (int j = 0; j < half; j++) {
            float cs = tab.cos[to + j], sn = sign * tab.sin[to + j];
            float a = x[o + j], b = x[o + j + half];
            x[o + j] = a * cs - b * sn;
            x[o + j + half] = b * cs + a * sn;
          }
        }
      }
    });
  }

  private Table table(double theta, int hd, int positions) {
    Key key = new Key(theta, hd);
    Table t = tables.get(key);
    if (t != null && t.positions >= positions) return t;
    int cap = Math.max(positions, t == null ? 256 : 2 * t.positions);
    int half = hd / 2;
    float[] cos = new float[cap * half], sin = new float[cap * half];
    for (int p = 0; p < cap; p++) {
      for (int j = 0; j < half; j++) {
        double invFreq = Math.pow(theta, -2.0 * j / hd);
        double angle = p * invFreq;
        cos[p * half + j] = (float) Math.cos(angle);
        sin[p * half + j] = (float) Math.sin(angle);
      }
    }
    Table fresh = new Table(cos, sin, cap);
    tables.put(key, fresh);
    return fresh;
  }
}
