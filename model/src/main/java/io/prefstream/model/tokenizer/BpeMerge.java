package io.prefstream.model.tokenizer;

/** One byte-level BPE merge rule, both sides spelled in the {@link ByteLevel} alphabet. */
public record BpeMerge(String left, String right) {
  public BpeMerge {
    if (left.isEmpty() || right.isEmpty() || left.contains(" ") || right.contains(" ")) {
      throw new IllegalArgumentException("merge sides must be non-empty byte-level strings without spaces: '"
          + left + "' '" + right + "'");
    }
  }

  public String merged() {
    return left + right;
  }
}
