package io.prefstream.model.safetensors;

import java.util.Arrays;

/**
 * One tensor's entry in a safetensors header: its type, row-major shape, and the byte range of its
 * data relative to the start of the data section.
 */
public record TensorInfo(String name, DType dtype, int[] shape, long begin, long end) {
  public TensorInfo {
    shape = shape.clone();
  }

  @Override
  public int[] shape() {
    return shape.clone();
  }

  /** Number of elements (the product of the shape; 1 for a scalar). */
  public long numel() {
    long n = 1;
    for (int d : shape) n *= d;
    return n;
  }

  public long byteLength() {
    return end - begin;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape)
        && begin == t.begin && end == t.end;
  }

  @Override
  public int hashCode() {
    return name.hashCode() * 31 + Arrays.hashCode(shape);
  }

  @Override
  public String toString() {
    return name + " " + dtype + Arrays.toString(shape) + " [" + begin + ", " + end + ")";
  }
}
