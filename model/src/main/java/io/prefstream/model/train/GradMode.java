package io.prefstream.model.train;

/**
 * Which parameters a backward pass produces gradients for: the LoRA adapter's A and B matrices
 * (the base weights stay frozen), or every base weight (full fine-tuning, for small models).
 */
public enum GradMode {
  LORA,
  FULL
}
