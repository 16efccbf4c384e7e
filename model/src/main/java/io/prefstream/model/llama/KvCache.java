package io.prefstream.model.llama;

import io.prefstream.model.backend.Buf;

/**
 * Keys and values of every layer for one generation session (capacity·kvHeads·headDim floats
 * each, in the backend's cache layout), plus the session's own activation scratch, so sessions never share mutable buffers.
 * Filled by {@link LlamaModel#forwardCached}; {@link #length()} tokens are cached so far.
 */
public final class KvCache {
  final Buf[] k;
  final Buf[] v;
  final int capacity;
  final int rows; // capacity rounded up to Backend.KV_CACHE_ALIGN
  int length;
  LayerActs scratch;
  int scratchCap;
  Buf x, x2, xf, rstdF, logits, su;

  KvCache(Buf[] k, Buf[] v, int capacity, int rows) {
    this.k = k;
    this.v = v;
    this.capacity = capacity;
    this.rows = rows;
  }

  public int length() {
    return length;
  }

  public int capacity() {
    return capacity;
  }

  /** Positions allocated: the capacity rounded up to {@code Backend.KV_CACHE_ALIGN}. */
  public int rows() {
    return rows;
  }

  /** Forgets the cached tokens (the buffers are kept for the next sequence). */
  public void reset() {
    length = 0;
  }

  /** Drops cached tokens beyond {@code newLength} (e.g. to re-run from a shared prefix). */
  public void truncate(int newLength) {
    if (newLength < 0 || newLength > length) {
      throw new IllegalArgumentException("cannot truncate a cache of " + length + " tokens to " + newLength);
    }
    length = newLength;
  }
}
