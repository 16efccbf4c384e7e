package io.prefstream.model.cpu;

import io.prefstream.model.config.Rope;
import io.prefstream.model.config.RopeTable;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Rotary position embedding in Hugging Face's rotate-half layout: within each head, element i pairs
 * with element i + hd/2 and is rotated by pos · f_i, f_i the rope's (possibly scaled) inverse
 * frequency. Backward rotates by the negative angle. cos/sin tables come from {@link RopeTable}
 * (shared with the CUDA backend), cached per (rope, hd) and grown to the largest position seen.
 */
final class RopeKernel {
  private record Key(Rope rope, int headDim) {}

  private final ConcurrentHashMap<Key, RopeTable> tables = new ConcurrentHashMap<>();

  void apply(WorkerPool pool, float[] x, int[] positions, int n, int heads, int hd, Rope rope, boolean inverse) {
    int maxPos = 0;
    for (int i = 0; i < n; i++) {
      if (positions[i] < 0) throw new IllegalArgumentException("position " + positions[i] + " at row " + i + " is negative");
      maxPos = Math.max(maxPos, positions[i]);
    }
    RopeTable tab = table(rope, hd, maxPos + 1);
    float[] cos = tab.cos(), sin = tab.sin();
    int half = hd / 2;
    float sign = inverse ? -1f : 1f;
    int rowsPerTask = 16;
    pool.forEach((n + rowsPerTask - 1) / rowsPerTask, t -> {
      for (int i = t * rowsPerTask, end = Math.min(n, i + rowsPerTask); i < end; i++) {
        int to = positions[i] * half; // row of the table for this position
        for (int h = 0; h < heads; h++) {
          int o = (i * heads + h) * hd; // head h of row i
          for (int j = 0; j < half; j++) {
            float cs = cos[to + j], sn = sign * sin[to + j];
            float a = x[o + j], b = x[o + j + half];
            x[o + j] = a * cs - b * sn;
            x[o + j + half] = b * cs + a * sn;
          }
        }
      }
    });
  }

  private RopeTable table(Rope rope, int hd, int positions) {
    Key key = new Key(rope, hd);
    RopeTable t = tables.get(key);
    if (t != null && t.positions() >= positions) return t;
    RopeTable fresh = RopeTable.build(rope, hd, Math.max(positions, t == null ? 256 : 2 * t.positions()));
    tables.put(key, fresh);
    return fresh;
  }
}
