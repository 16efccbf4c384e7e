package io.prefstream.model.safetensors;

import java.util.Arrays;
import java.util.Optional;

/**
 * The element types a safetensors header may name, with their sizes in bytes. Only the floating
 * types F32, BF16, F16 and F64 can be read as float32 tensors; the others are known so that a file
 * holding them can still be validated and its floating tensors read.
 */
public enum DType {
  BOOL(1, false),
  U8(1, false),
  I8(1, false),
  F8_E5M2(1, false),
  F8_E4M3(1, false),
  I16(2, false),
  U16(2, false),
  F16(2, true),
  BF16(2, true),
  I32(4, false),
  U32(4, false),
  F32(4, true),
  I64(8, false),
  U64(8, false),
  F64(8, true);

  private final int size;
  private final boolean readableAsFloat;

  DType(int size, boolean readableAsFloat) {
    this.size = size;
    this.readableAsFloat = readableAsFloat;
  }

  /** Bytes per element. */
  public int size() {
    return size;
  }

  /** Whether {@link SafetensorsFile#read(String)} converts this type to float32. */
  public boolean readableAsFloat() {
    return readableAsFloat;
  }

  /** The type named by a header's {@code dtype} string, if known. */
  public static Optional<DType> byName(String name) {
    return Arrays.stream(values()).filter(d -> d.name().equals(name)).findFirst();
  }
}
