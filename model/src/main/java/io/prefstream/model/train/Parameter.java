package io.prefstream.model.train;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.tensor.NamedTensor;
import java.util.Arrays;

/**
 * A trainable float32 tensor and its gradient, both living on the model's backend, under its
 * Hugging Face / PEFT name. An optimiser reads {@link #grad()} and writes {@link #set(float[])}
 * (which also refreshes any layout the backend derived from the value); on the CPU backend
 * {@code CpuBackend.array(value())} gives the arrays themselves without copying.
 */
public final class Parameter {
  private final String name;
  private final int[] shape;
  private final Buf value;
  private final Buf grad;
  private final Backend backend;
  private final boolean weight;

  /** @param weight true when value was created with {@link Backend#weight} */
  public Parameter(String name, int[] shape, Buf value, Buf grad, Backend backend, boolean weight) {
    this.name = name;
    this.shape = shape.clone();
    this.value = value;
    this.grad = grad;
    this.backend = backend;
    this.weight = weight;
  }

  public String name() {
    return name;
  }

  public int[] shape() {
    return shape.clone();
  }

  public int numel() {
    int n = 1;
    for (int d : shape) n *= d;
    return n;
  }

  public Buf value() {
    return value;
  }

  public Buf grad() {
    return grad;
  }

  /** A host copy of the value. */
  public float[] values() {
    float[] out = new float[numel()];
    backend.download(value, out);
    return out;
  }

  /** A host copy of the gradient. */
  public float[] grads() {
    float[] out = new float[numel()];
    backend.download(grad, out);
    return out;
  }

  /** Overwrites the value. */
  public void set(float[] data) {
    if (data.length != numel()) {
      throw new IllegalArgumentException(name + ": expected " + numel() + " values for shape " + Arrays.toString(shape) + ", got " + data.length);
    }
    backend.upload(value, data); // uploading into a weight also refreshes its derived layouts
  }

  /** Tells the backend the value was written in place (e.g. through CpuBackend.array). */
  public void valueChanged() {
    if (weight) backend.refreshWeight(value);
  }

  public void zeroGrad() {
    backend.zero(grad);
  }

  public NamedTensor toTensor() {
    return new NamedTensor(name, shape, values());
  }

  @Override
  public String toString() {
    return "Parameter[" + name + " " + Arrays.toString(shape) + "]";
  }
}
