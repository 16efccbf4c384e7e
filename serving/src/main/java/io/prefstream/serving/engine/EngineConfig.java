package io.prefstream.serving.engine;

import java.time.Duration;

/**
 * The batching engine's settings (the {@code serve} command builds them from flags; see
 * docs/serving-engine.md).
 *
 * @param maxBatch      sequences stepped together at most (decode rows plus prefilling prompts)
 * @param kvCacheBytes  memory all admitted sequences' KV caches may take together; a sequence reserves
 *                      its whole cache (prompt + max new tokens, rounded up to 64 positions) on admission
 * @param queueBound    requests that may wait for a batch place or KV memory; more are refused with
 *                      RESOURCE_EXHAUSTED and a retry hint
 * @param prefillChunk  prompt tokens prefilled per step across all sequences, so a long prompt is fed
 *                      over several steps instead of stalling the running sequences
 * @param stallTimeout  how long a sequence may stay paused because its reader (a slow stream
 *                      consumer) has a full buffer of unread tokens; then it is cancelled with
 *                      RESOURCE_EXHAUSTED, freeing its batch place and KV cache
 * @param prefixCacheBytes memory for the KV caches of retired sequences, kept so a request that starts
 *                      with the same tokens (a shared system prompt, an earlier turn) skips prefilling
 *                      them; on top of {@code kvCacheBytes}; 0 turns prefix caching off
 */
public record EngineConfig(int maxBatch, long kvCacheBytes, int queueBound, int prefillChunk, Duration stallTimeout,
    long prefixCacheBytes) {
  public static final int DEFAULT_MAX_BATCH = 16;
  public static final long DEFAULT_KV_CACHE_BYTES = 512L << 20;
  public static final int DEFAULT_QUEUE_BOUND = 64;
  public static final int DEFAULT_PREFILL_CHUNK = 64;
  static final long DEFAULT_STALL_SECONDS = 30;
  public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(DEFAULT_STALL_SECONDS);
  public static final long DEFAULT_PREFIX_CACHE_BYTES = 64L << 20;

  public EngineConfig {
    if (maxBatch < 1) throw new IllegalArgumentException("batch limit must be >= 1, got " + maxBatch);
    if (kvCacheBytes < 1) throw new IllegalArgumentException("KV cache budget must be >= 1 byte, got " + kvCacheBytes);
    if (queueBound < 0) throw new IllegalArgumentException("queue bound must be >= 0, got " + queueBound);
    if (prefillChunk < 1) throw new IllegalArgumentException("prefill chunk must be >= 1 token, got " + prefillChunk);
    if (stallTimeout == null || stallTimeout.isNegative() || stallTimeout.isZero()) {
      throw new IllegalArgumentException("stream stall timeout must be positive, got " + stallTimeout);
    }
    if (prefixCacheBytes < 0) throw new IllegalArgumentException("prefix cache budget must be >= 0 bytes, got " + prefixCacheBytes);
  }

  /** With the default prefix cache ({@value #DEFAULT_PREFIX_CACHE_BYTES} bytes). */
  public EngineConfig(int maxBatch, long kvCacheBytes, int queueBound, int prefillChunk, Duration stallTimeout) {
    this(maxBatch, kvCacheBytes, queueBound, prefillChunk, stallTimeout, DEFAULT_PREFIX_CACHE_BYTES);
  }

  /** With the default stall timeout ({@value #DEFAULT_STALL_SECONDS} s). */
  public EngineConfig(int maxBatch, long kvCacheBytes, int queueBound, int prefillChunk) {
    this(maxBatch, kvCacheBytes, queueBound, prefillChunk, DEFAULT_STALL_TIMEOUT);
  }

  public EngineConfig withPrefixCacheBytes(long bytes) {
    return new EngineConfig(maxBatch, kvCacheBytes, queueBound, prefillChunk, stallTimeout, bytes);
  }

  /**
   * 16 sequences per step, 512 MiB of KV cache, 64 waiting requests, 64 prompt tokens per step, 30 s
   * stall timeout, 64 MiB of prefix cache.
   */
  public static EngineConfig defaults() {
    return new EngineConfig(DEFAULT_MAX_BATCH, DEFAULT_KV_CACHE_BYTES, DEFAULT_QUEUE_BOUND, DEFAULT_PREFILL_CHUNK);
  }
}
