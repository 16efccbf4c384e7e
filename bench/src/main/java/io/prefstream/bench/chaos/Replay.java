package io.prefstream.bench.chaos;

import io.prefstream.learner.optim.AdamWConfig;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.trainer.Staleness;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.train.GradMode;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * The trainer settings of the soak's learner, built the way {@code prefstream learn} builds them
 * from the flags {@link Cluster} passes it (every value that changes what a step computes is given
 * there explicitly), so the replay of check 3 computes with the same trainer. A mismatch here shows
 * up as a replay violation, never as a silent pass.
 */
final class Replay {
  private Replay() {}

  static TrainerConfig trainerConfig() {
    return TrainerConfig.builder()
        .lossType("sigmoid").beta(0.1).labelSmoothing(0)
        .ktoWeights(1, 1).sftAlpha(0)
        .maxLength(ChaosSettings.MAX_LENGTH).maxPromptLength(ChaosSettings.MAX_PROMPT_LENGTH)
        .gradMode(GradMode.LORA)
        // The CLI's default --lora-targets, in its order.
        .lora(new LoraConfig(8, 16, new LinkedHashSet<>(List.of("q_proj", "k_proj", "v_proj", "o_proj",
            "gate_proj", "up_proj", "down_proj")), 0))
        .loraSeed(0).recompute(false)
        .adamW(AdamWConfig.defaults().withWeightDecay(0).withMaxGradNorm(1.0))
        .schedule(new LrSchedule.WarmupConstant(1e-4, 10))
        .staleness(new Staleness(8, Staleness.Mode.DOWNWEIGHT, 0.5))
        .build();
  }
}
