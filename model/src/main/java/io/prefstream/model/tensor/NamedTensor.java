package io.prefstream.model.tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * A host-side float32 tensor with a name and a row-major shape: what the file formats read and
 * write, and what a model is built from. Names are Hugging Face's (e.g.
 * {@code model.layers.0.self_attn.q_proj.weight}); linear weights are [out, in] as in PyTorch.
 */
public record NamedTensor(String name, int[] shape, float[] data) {
  public NamedTensor {
    Objects.requireNonNull(name, "name");
    shape = shape.clone();
    long n = 1;
    for (int d : shape) {
      if (d < 0) throw new IllegalArgumentException(name + ": negative dimension in " + Arrays.toString(shape));
      n *= d;
    }
    if (n != data.length) {
      throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " holds " + n
          + " elements but data has " + data.length);
    }
  }

  public long numel() {
    return data.length;
  }

  @Override
  public int[] shape() {
    return shape.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof NamedTensor t && name.equals(t.name) && Arrays.equals(shape, t.shape)
        && Arrays.equals(data, t.data);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * name.hashCode() + Arrays.hashCode(shape)) + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return "NamedTensor[" + name + " " + Arrays.toString(shape) + "]";
  }
}
