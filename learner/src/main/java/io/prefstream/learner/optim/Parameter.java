package io.prefstream.learner.optim;

import io.prefstream.model.tensor.NamedTensor;
import java.util.Locale;
import java.util.Objects;

/**
 * A trainable fp32 parameter as the optimiser sees it: a name, its values (updated in place) and the
 * gradient buffer the backward pass fills, of the same length, and whether decoupled weight decay
 * applies to it. The arrays are shared, not copied: that is how an update reaches the model.
 */
public record Parameter(String name, float[] values, float[] grads, boolean decay) {
  public Parameter {
    Objects.requireNonNull(name, "name");
    if (values == null || grads == null) {
      throw new IllegalArgumentException(name + ": values and grads are both required");
    }
    if (values.length != grads.length) {
      throw new IllegalArgumentException(name + ": " + values.length + " values but " + grads.length
          + " gradients; expected one gradient per value");
    }
  }

  /** A parameter with Hugging Face's default decay rule ({@link #decaysByDefault}). */
  public Parameter(String name, float[] values, float[] grads) {
    this(name, values, grads, decaysByDefault(name));
  }

  /** A parameter over a tensor's data (shared, so updates land in the tensor). */
  public static Parameter of(NamedTensor tensor, float[] grads) {
    return new Parameter(tensor.name(), tensor.data(), grads);
  }

  /**
   * Hugging Face Trainer's rule: biases and normalisation weights are not decayed (decaying a
   * RMSNorm gain towards 0 would shrink the activations, not regularise). Everything else is,
   * LoRA's A and B matrices included.
   */
  public static boolean decaysByDefault(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    return !(n.endsWith("bias") || n.contains("norm"));
  }

  /** Number of elements. */
  public int size() {
    return values.length;
  }
}
