package io.prefstream.model.config;

import java.util.Set;

/**
 * A LoRA adapter's hyper-parameters in PEFT's terms ({@code adapter_config.json}): rank r, alpha
 * (the update is scaled by alpha / r), and the projections it adapts by their HF module names.
 */
public record LoraConfig(int rank, double alpha, Set<String> targetModules, double dropout) {
  /** The projection names a Llama decoder has. */
  public static final Set<String> ALL_TARGETS =
      Set.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

  public LoraConfig {
    if (rank <= 0) throw new IllegalArgumentException("LoRA rank r must be > 0, got " + rank);
    if (!(alpha > 0)) throw new IllegalArgumentException("lora_alpha must be > 0, got " + alpha);
    if (targetModules.isEmpty()) throw new IllegalArgumentException("target_modules must not be empty");
    for (String t : targetModules) {
      if (!ALL_TARGETS.contains(t)) {
        throw new IllegalArgumentException("unsupported LoRA target module '" + t + "'; expected some of " + ALL_TARGETS);
      }
    }
    if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + dropout);
    targetModules = Set.copyOf(targetModules);
  }

  /** alpha / r, the factor PEFT applies to B·A. */
  public double scaling() {
    return alpha / rank;
  }
}
