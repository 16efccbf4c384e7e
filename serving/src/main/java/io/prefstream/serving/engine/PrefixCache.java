package io.prefstream.serving.engine;

import io.prefstream.model.llama.KvCache;
import io.prefstream.model.llama.LlamaModel;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The KV caches of recently retired sequences, kept so that a new request whose tokens start with
 * one of theirs (a shared system prompt or chat template, the next turn of a conversation that
 * sends the earlier turns again) starts from that prefix instead of prefilling it again: automatic
 * prefix caching, at token granularity, by copying the matching positions into the new sequence's
 * own cache (so entries are never shared mutable state).
 *
 * <p>An entry counts only for the same model object (one version of one policy): keys and values
 * depend on the adapter, and a version loaded again is another object, so nothing is reused across
 * versions. Entries hold their model weakly, so a dropped version's entries go with it. The cached
 * positions are the ones feeding those tokens would compute (each row's arithmetic does not depend
 * on the batch it ran in), so output is unchanged; {@code BatchEngineTest} checks greedy output
 * with and without the cache. Entries take at most {@code budgetBytes} beyond the running
 * sequences' KV budget; the least recently used go first. Scheduler thread only.
 */
final class PrefixCache {
  private record Entry(WeakReference<LlamaModel> model, int[] tokens, KvCache cache, long bytes, KvPool.Shape shape) {}

  private final long budgetBytes;
  private final KvPool pool;
  private final List<Entry> entries = new ArrayList<>(); // least recently used first
  private volatile long bytes; // written by the scheduler thread only

  /** Caches it drops (or declines) go to {@code pool}. */
  PrefixCache(long budgetBytes, KvPool pool) {
    this.budgetBytes = budgetBytes;
    this.pool = pool;
  }

  /** Bytes the kept caches take now. */
  long bytes() {
    return bytes;
  }

  int entries() {
    return entries.size();
  }

  /**
   * Keeps a retired sequence's cache, which holds the KV of {@code tokens[0..cache.length())} under
   * {@code model}, taking {@code cacheBytes}. Entries that it extends (same model, their tokens a
   * prefix of its) are dropped: every lookup they could answer it answers as well.
   */
  void offer(LlamaModel model, int[] tokens, KvCache cache, long cacheBytes) {
    int n = cache.length();
    KvPool.Shape shape = KvPool.shapeOf(model, cache);
    if (n == 0 || cacheBytes > budgetBytes) {
      pool.give(shape, cache, cacheBytes);
      return;
    }
    int[] held = java.util.Arrays.copyOf(tokens, n);
    for (Iterator<Entry> it = entries.iterator(); it.hasNext(); ) {
      Entry e = it.next();
      LlamaModel m = e.model.get();
      if (m == null || (m == model && e.tokens.length <= n && common(e.tokens, held) == e.tokens.length)) {
        it.remove();
        drop(e);
      }
    }
    entries.add(new Entry(new WeakReference<>(model), held, cache, cacheBytes, shape));
    bytes += cacheBytes;
    while (bytes > budgetBytes) drop(entries.remove(0));
  }

  private void drop(Entry e) {
    bytes -= e.bytes;
    pool.give(e.shape, e.cache, e.bytes);
  }

  /**
   * Fills {@code cache} (empty, made by {@code model}) with the longest prefix of {@code tokens}
   * that an entry of the same model holds, at most {@code max} positions. Returns how many positions
   * it holds now (0: no entry matched).
   */
  int reuse(LlamaModel model, int[] tokens, KvCache cache, int max) {
    Entry best = null;
    int bestLength = 0;
    for (Iterator<Entry> it = entries.iterator(); it.hasNext(); ) {
      Entry e = it.next();
      LlamaModel m = e.model.get();
      if (m == null) { // the version was dropped
        it.remove();
        drop(e);
        continue;
      }
      if (m != model) continue;
      int p = Math.min(common(e.tokens, tokens), max);
      if (p > bestLength) {
        best = e;
        bestLength = p;
      }
    }
    if (best == null) return 0;
    model.copyKvPrefix(best.cache, cache, bestLength);
    entries.remove(best);
    entries.add(best); // now the most recently used
    return bestLength;
  }

  private static int common(int[] a, int[] b) {
    int n = Math.min(a.length, b.length), i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
  }
}
