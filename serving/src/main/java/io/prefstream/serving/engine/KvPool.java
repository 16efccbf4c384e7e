package io.prefstream.serving.engine;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.llama.KvCache;
import io.prefstream.model.llama.LlamaModel;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Retired sequences' KV caches that neither a running sequence nor the {@link PrefixCache} holds,
 * kept for the next sequences of the same size. Without it every request allocated its cache anew
 * (about 6 MB for a 72-token request on a 30-layer model) on the scheduler thread, and under load
 * the young collections that copied those caches paused every thread for 60-130 ms several times a
 * second. Caches are interchangeable between models of one configuration on one backend (all
 * versions and policies of a base) when they have the same rows. At most {@code budgetBytes} are
 * kept; beyond that a cache is left to the garbage collector. Scheduler thread only.
 */
final class KvPool {
  /** What makes two caches interchangeable. The backend is compared by identity. */
  record Shape(LlamaConfig config, Backend backend, int rows) {}

  private final long budgetBytes;
  private final EngineStats stats;
  private final Map<Shape, ArrayDeque<KvCache>> free = new HashMap<>();
  private final Map<Shape, Long> sizes = new HashMap<>();
  private volatile long bytes; // written by the scheduler thread only

  KvPool(long budgetBytes, EngineStats stats) {
    this.budgetBytes = budgetBytes;
    this.stats = stats;
  }

  static Shape shapeOf(LlamaModel model, int capacity) {
    return new Shape(model.config(), model.backend(), LlamaModel.kvCacheRows(capacity));
  }

  /** The shape of a cache {@code model} made. */
  static Shape shapeOf(LlamaModel model, KvCache cache) {
    return new Shape(model.config(), model.backend(), cache.rows());
  }

  /** A cache of {@code capacity} positions for a sequence of {@code model}: a kept one when one fits. */
  KvCache take(LlamaModel model, int capacity) {
    Shape shape = shapeOf(model, capacity);
    ArrayDeque<KvCache> kept = free.get(shape);
    KvCache spare = kept == null ? null : kept.pollLast();
    if (spare != null) {
      bytes -= sizes.get(shape);
      stats.recordKvReuse();
    }
    return model.newKvCache(capacity, spare);
  }

  /** Keeps a cache nobody uses any more ({@code cacheBytes} large), if the budget has room. */
  void give(Shape shape, KvCache cache, long cacheBytes) {
    if (bytes + cacheBytes > budgetBytes) return;
    free.computeIfAbsent(shape, s -> new ArrayDeque<>()).addLast(cache);
    sizes.putIfAbsent(shape, cacheBytes);
    bytes += cacheBytes;
  }

  /** Bytes the kept caches take now (readable from any thread). */
  long bytes() {
    return bytes;
  }
}
