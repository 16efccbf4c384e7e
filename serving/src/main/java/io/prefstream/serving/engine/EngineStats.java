package io.prefstream.serving.engine;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Counters of the scheduler's steps (written by its thread, read anywhere): steps run, rows stepped,
 * the largest batch seen, sequences stopped for a stalled reader, prefix-cache and KV-buffer reuse, and a moving average of the step time, from which the retry hint given
 * to refused requests is estimated.
 */
public final class EngineStats {
  private final AtomicLong steps = new AtomicLong();
  private final AtomicLong rows = new AtomicLong();
  private final AtomicLong stepNanos = new AtomicLong();
  private final AtomicLong maxRows = new AtomicLong();
  private final AtomicLong stalled = new AtomicLong();
  private final AtomicLong prefixHits = new AtomicLong();
  private final AtomicLong prefixTokens = new AtomicLong();
  private final AtomicLong kvReused = new AtomicLong();
  private volatile double stepNanosEwma = 50e6;

  void recordStep(int rowsStepped, long nanos) {
    steps.incrementAndGet();
    rows.addAndGet(rowsStepped);
    stepNanos.addAndGet(nanos);
    maxRows.accumulateAndGet(rowsStepped, Math::max);
    stepNanosEwma = 0.9 * stepNanosEwma + 0.1 * nanos;
  }

  void recordStalled() {
    stalled.incrementAndGet();
  }

  void recordPrefixReuse(int tokens) {
    prefixHits.incrementAndGet();
    prefixTokens.addAndGet(tokens);
  }

  void recordKvReuse() {
    kvReused.incrementAndGet();
  }

  /** Sequences whose KV cache was a retired sequence's buffers rather than a new allocation. */
  public long kvCachesReused() {
    return kvReused.get();
  }

  /** Sequences that started from a cached prefix. */
  public long prefixHits() {
    return prefixHits.get();
  }

  /** Prompt tokens not prefilled because a cached prefix held them. */
  public long prefixTokensReused() {
    return prefixTokens.get();
  }

  /** Sequences stopped because their stream's reader stayed behind longer than the stall timeout. */
  public long stalled() {
    return stalled.get();
  }

  public long steps() {
    return steps.get();
  }

  public long rows() {
    return rows.get();
  }

  /** Time spent inside steps (forward passes, sampling, emitting), in nanoseconds. */
  public long stepNanos() {
    return stepNanos.get();
  }

  /** The most rows (tokens) one step has carried. */
  public long maxRowsPerStep() {
    return maxRows.get();
  }

  /** A guess at when a place frees up: a request of {@code tokens} new tokens takes about that many steps. */
  long retryHintMillis(int tokens) {
    return Math.max(100, Math.round(stepNanosEwma * tokens / 1e6));
  }
}
