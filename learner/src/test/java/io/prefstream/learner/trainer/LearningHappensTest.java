package io.prefstream.learner.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.learner.eval.HeldOutEvaluator;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.reference.PinnedReference;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.llama.LlamaModel;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The learner really learns a hidden preference on the tiny random model: held-out reward accuracy
 * (the implicit reward of the policy against the reference) goes from chance to well above it, from
 * pairs (DPO) and from thumbs alone (KTO).
 */
class LearningHappensTest {
  @TempDir Path dir;

  private DpoTrainer trainer(HfModel base, TrainerConfig cfg) {
    LlamaModel model = LlamaModel.create(base.config(), base.weights(), new CpuBackend());
    model.attachNewLora(cfg.lora(), cfg.loraSeed());
    return new DpoTrainer(model, base.tokenizer(), cfg, PinnedReference.base(model));
  }

  private static TrainerConfig config(String loss) {
    return TrainerConfig.builder().lossType(loss).beta(0.1).maxLength(32).maxPromptLength(12)
        .schedule(new LrSchedule.WarmupConstant(3e-3, 3)).build();
  }

  @Test
  void dpoRaisesHeldOutRewardAccuracyFromPairs() throws Exception {
    try (HfModel base = TinyModels.tiny(dir, 7)) {
      DpoTrainer t = trainer(base, config("sigmoid"));
      SplittableRandom rnd = new SplittableRandom(1);
      List<TrainingBatch.Pair> heldOut = TinyModels.pairs(new SplittableRandom(99), 48);
      double before = HeldOutEvaluator.evaluate(t, heldOut).get(HeldOutEvaluator.ACCURACY);
      for (int s = 0; s < 30; s++) {
        StepOutcome o = t.step(new TrainingBatch("b" + s, TinyModels.pairs(rnd, 8), List.of()), 0);
        assertThat(o.applied()).isTrue();
      }
      Map<String, Double> after = HeldOutEvaluator.evaluate(t, heldOut);
      assertThat(before).isLessThan(0.6);
      assertThat(after.get(HeldOutEvaluator.ACCURACY)).isGreaterThanOrEqualTo(0.85);
      assertThat(after.get(HeldOutEvaluator.MARGIN)).isPositive();
    }
  }

  @Test
  void ktoRaisesHeldOutRewardAccuracyFromThumbsOnly() throws Exception {
    try (HfModel base = TinyModels.tiny(dir, 7)) {
      DpoTrainer t = trainer(base, config("sigmoid"));
      SplittableRandom rnd = new SplittableRandom(2);
      List<TrainingBatch.Pair> heldOut = TinyModels.pairs(new SplittableRandom(98), 48);
      for (int s = 0; s < 30; s++) {
        StepOutcome o = t.step(new TrainingBatch("b" + s, List.of(), TinyModels.thumbs(rnd, 8)), 0);
        assertThat(o.applied()).isTrue();
      }
      Map<String, Double> after = HeldOutEvaluator.evaluate(t, heldOut);
      assertThat(after.get(HeldOutEvaluator.ACCURACY)).isGreaterThanOrEqualTo(0.8);
    }
  }
}
