package io.prefstream.learner.sft;

import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.train.GradMode;

/**
 * Settings of a supervised fine-tuning run: what is trained (a LoRA adapter with {@code lora}'s
 * shape, or every weight), for how many optimiser steps, on how many examples per step, with which
 * peak learning rate (linear warm-up over {@code warmupSteps}, then a cosine decay to a tenth of it),
 * AdamW's weight decay and gradient-norm clip, and the seed of the example order and the adapter's
 * initialisation.
 */
public record SftConfig(GradMode mode, LoraConfig lora, int steps, int batchSize, double learningRate, int warmupSteps,
    double weightDecay, double maxGradNorm, long seed) {
  public SftConfig {
    if (mode == null) throw new IllegalArgumentException("mode is missing: expected LORA or FULL");
    if (mode == GradMode.LORA && lora == null) throw new IllegalArgumentException("LORA mode needs a LoRA config (rank, alpha, targets)");
    if (steps < 1) throw new IllegalArgumentException("steps = " + steps + ": expected >= 1");
    if (batchSize < 1) throw new IllegalArgumentException("batch size = " + batchSize + ": expected >= 1");
    if (!(learningRate > 0) || Double.isInfinite(learningRate)) {
      throw new IllegalArgumentException("learning rate = " + learningRate + ": expected a finite number > 0");
    }
    if (warmupSteps < 0) throw new IllegalArgumentException("warm-up steps = " + warmupSteps + ": expected >= 0");
  }

  /** Full fine-tuning with AdamW defaults (no decay, clip at 1) and a warm-up of 5% of the steps. */
  public static SftConfig full(int steps, int batchSize, double learningRate, long seed) {
    return new SftConfig(GradMode.FULL, null, steps, batchSize, learningRate, Math.max(1, steps / 20), 0.0, 1.0, seed);
  }

  /** LoRA fine-tuning on every projection (alpha = 2·rank) with AdamW defaults and 5% warm-up. */
  public static SftConfig lora(int rank, int steps, int batchSize, double learningRate, long seed) {
    return new SftConfig(GradMode.LORA, new LoraConfig(rank, 2.0 * rank, LoraConfig.ALL_TARGETS, 0.0), steps, batchSize,
        learningRate, Math.max(1, steps / 20), 0.0, 1.0, seed);
  }
}
