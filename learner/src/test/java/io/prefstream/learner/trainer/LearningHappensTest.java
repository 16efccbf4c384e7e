package io.prefstream.learner.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.learner.eval.HeldOutEvaluator;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.reference.PinnedReference;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The learner really learns a hidden preference on the tiny random model, from pairs (DPO) and from
 * thumbs alone (KTO), measured on 48 held-out pairs against chance. Accuracies here count a tie as
 * half right, so an untrained policy — whose implicit reward β·(log π − log π_ref) is exactly 0 for
 * every response — scores chance (0.5), not 0. {@link #BOUND} is three binomial standard deviations
 * of an accuracy over n pairs at p = 0.5 (3·sqrt(0.25/n) ≈ 0.22 for n = 48; one-sided p ≈ 0.001):
 * before training the reward accuracy must lie within chance ± BOUND, after it above chance + BOUND
 * and above the test's fixed threshold, and the gain must exceed BOUND. The reference model's own
 * preference (log π_ref(chosen) &gt; log π_ref(rejected)) is checked to be chance too, so the
 * preference learned is not one the random model already had.
 */
class LearningHappensTest {
  private static final int HELD_OUT = 48;
  static final double BOUND = 3 * Math.sqrt(0.25 / HELD_OUT);
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

  /**
   * Accuracies over held-out pairs, ties counting half: of the implicit reward (chosen's above
   * rejected's), of the policy's own log-probs, and of the reference's own log-probs.
   */
  record Accuracies(double reward, double policy, double reference) {}

  static Accuracies measure(DpoTrainer t, List<TrainingBatch.Pair> pairs) {
    List<PromptResponse> seqs = new ArrayList<>();
    for (TrainingBatch.Pair p : pairs) seqs.add(t.encoder().encode(p.prompt(), p.chosen()));
    for (TrainingBatch.Pair p : pairs) seqs.add(t.encoder().encode(p.prompt(), p.rejected()));
    double[] pol = t.policy().logProbs(seqs).sums();
    double[] ref = t.reference().logProbs(seqs).sums();
    int n = pairs.size();
    double reward = 0, policy = 0, reference = 0;
    for (int i = 0; i < n; i++) {
      reward += score((pol[i] - ref[i]) - (pol[n + i] - ref[n + i]));
      policy += score(pol[i] - pol[n + i]);
      reference += score(ref[i] - ref[n + i]);
    }
    return new Accuracies(reward / n, policy / n, reference / n);
  }

  private static double score(double margin) {
    return margin > 0 ? 1 : margin == 0 ? 0.5 : 0;
  }

  @Test
  void dpoRaisesHeldOutRewardAccuracyFromPairs() throws Exception {
    try (HfModel base = TinyModels.tiny(dir, 7)) {
      DpoTrainer t = trainer(base, config("sigmoid"));
      SplittableRandom rnd = new SplittableRandom(1);
      List<TrainingBatch.Pair> heldOut = TinyModels.pairs(new SplittableRandom(99), HELD_OUT);
      Accuracies before = measure(t, heldOut);
      for (int s = 0; s < 30; s++) {
        StepOutcome o = t.step(new TrainingBatch("b" + s, TinyModels.pairs(rnd, 8), List.of()), 0);
        assertThat(o.applied()).isTrue();
      }
      Accuracies after = measure(t, heldOut);
      Map<String, Double> reported = HeldOutEvaluator.evaluate(t, heldOut);

      // Untrained, the policy is the reference: no reward, so chance; its preference is the reference's,
      // and the random reference has no preference for the hidden rule of its own.
      assertThat(before.reward()).as("reward accuracy before").isBetween(0.5 - BOUND, 0.5 + BOUND);
      assertThat(before.policy()).as("policy preference before").isEqualTo(before.reference());
      assertThat(before.reference()).as("the reference's own preference").isBetween(0.5 - BOUND, 0.5 + BOUND);
      // Trained: far above chance, by more than chance could explain.
      assertThat(after.reward()).as("reward accuracy after (%s)", after)
          .isGreaterThanOrEqualTo(Math.max(0.85, 0.5 + BOUND));
      assertThat(after.reward() - before.reward()).as("gain").isGreaterThanOrEqualTo(BOUND);
      assertThat(reported.get(HeldOutEvaluator.ACCURACY)).isGreaterThanOrEqualTo(0.85);
      assertThat(reported.get(HeldOutEvaluator.MARGIN)).isPositive();
    }
  }

  @Test
  void ktoRaisesHeldOutRewardAccuracyFromThumbsOnly() throws Exception {
    try (HfModel base = TinyModels.tiny(dir, 7)) {
      DpoTrainer t = trainer(base, config("sigmoid"));
      SplittableRandom rnd = new SplittableRandom(2);
      List<TrainingBatch.Pair> heldOut = TinyModels.pairs(new SplittableRandom(98), HELD_OUT);
      Accuracies before = measure(t, heldOut);
      for (int s = 0; s < 30; s++) {
        StepOutcome o = t.step(new TrainingBatch("b" + s, List.of(), TinyModels.thumbs(rnd, 8)), 0);
        assertThat(o.applied()).isTrue();
      }
      Accuracies after = measure(t, heldOut);
      assertThat(before.reward()).as("reward accuracy before").isBetween(0.5 - BOUND, 0.5 + BOUND);
      assertThat(before.reference()).as("the reference's own preference").isBetween(0.5 - BOUND, 0.5 + BOUND);
      assertThat(after.reward()).as("reward accuracy after (%s)", after)
          .isGreaterThanOrEqualTo(Math.max(0.8, 0.5 + BOUND));
      assertThat(after.reward() - before.reward()).as("gain").isGreaterThanOrEqualTo(BOUND);
      assertThat(HeldOutEvaluator.evaluate(t, heldOut).get(HeldOutEvaluator.ACCURACY)).isGreaterThanOrEqualTo(0.8);
    }
  }
}
