package io.prefstream.model.backend;

import java.util.Arrays;

/**
 * How a packed batch of variable-length sequences lies in a token-major activation buffer: sequence
 * s occupies rows {@code start[s] .. start[s] + length[s] - 1} (like flash-attention's
 * {@code cu_seqlens}). Attention never crosses sequence boundaries, so packing needs no padding.
 */
public record SeqLayout(int[] start, int[] length) {
  public SeqLayout {
    if (start.length != length.length) {
      throw new IllegalArgumentException("start and length must have one entry per sequence, got "
          + start.length + " and " + length.length);
    }
    start = start.clone();
    length = length.clone();
  }

  /** Layout of consecutive sequences with the given lengths. */
  public static SeqLayout of(int... lengths) {
    int[] start = new int[lengths.length];
    int at = 0;
    for (int s = 0; s < lengths.length; s++) {
      if (lengths[s] <= 0) throw new IllegalArgumentException("sequence " + s + " has length " + lengths[s] + ", expected > 0");
      start[s] = at;
      at += lengths[s];
    }
    return new SeqLayout(start, lengths);
  }

  public int sequences() {
    return start.length;
  }

  public int start(int s) {
    return start[s];
  }

  public int length(int s) {
    return length[s];
  }

  /** Total rows (tokens) covered. */
  public int tokens() {
    int n = 0;
    for (int l : length) n += l;
    return n;
  }

  @Override
  public int[] start() {
    return start.clone();
  }

  @Override
  public int[] length() {
    return length.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SeqLayout l && Arrays.equals(start, l.start) && Arrays.equals(length, l.length);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(start) + Arrays.hashCode(length);
  }

  @Override
  public String toString() {
    return "SeqLayout" + Arrays.toString(length);
  }
}
