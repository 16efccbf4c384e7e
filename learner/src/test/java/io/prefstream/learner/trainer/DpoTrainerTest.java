package io.prefstream.learner.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.learner.objective.MetricNames;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.reference.PinnedReference;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.train.GradMode;
import io.prefstream.model.train.Parameter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DpoTrainerTest {
  @TempDir static Path dir;
  static HfModel base;

  @BeforeAll
  static void model() throws Exception {
    base = TinyModels.tiny(dir, 3);
  }

  @AfterAll
  static void close() {
    base.close();
  }

  private static DpoTrainer trainer(TrainerConfig cfg) {
    LlamaModel model = LlamaModel.create(base.config(), base.weights(), new CpuBackend());
    if (cfg.gradMode() == GradMode.LORA) model.attachNewLora(cfg.lora(), cfg.loraSeed());
    PinnedReference ref = cfg.gradMode() == GradMode.LORA ? PinnedReference.base(model)
        : PinnedReference.separate(LlamaModel.create(base.config(), base.weights(), new CpuBackend()), "base");
    return new DpoTrainer(model, base.tokenizer(), cfg, ref);
  }

  private static TrainerConfig.Builder small() {
    return TrainerConfig.builder().maxLength(32).maxPromptLength(12).schedule(new LrSchedule.WarmupConstant(1e-3, 1));
  }

  @Test
  void skipsBatchWithNonFiniteLossLeavingWeightsAndOptimizerUntouched() {
    DpoTrainer t = trainer(small().build());
    SplittableRandom rnd = new SplittableRandom(5);
    assertThat(t.step(new TrainingBatch("ok", TinyModels.pairs(rnd, 4), List.of()), 0).applied()).isTrue();
    List<Parameter> ps = t.policy().parameters(GradMode.LORA);
    Parameter poisoned = ps.get(1);
    float[] poison = new float[poisoned.numel()];
    Arrays.fill(poison, Float.NaN);
    poisoned.set(poison);
    List<float[]> before = ps.stream().map(Parameter::values).toList();
    float[] momentBefore = t.optimizer().firstMoment(ps.get(0).name());
    byte[] stateBefore = t.optimizerState();

    StepOutcome o = t.step(new TrainingBatch("bad", TinyModels.pairs(rnd, 4), List.of()), 0);

    assertThat(o.status()).isEqualTo(StepOutcome.Status.SKIPPED_NON_FINITE_LOSS);
    assertThat(o.step()).isEqualTo(1);
    assertThat(t.stepCount()).isEqualTo(1);
    for (int i = 0; i < ps.size(); i++) {
      if (i != 1) assertThat(ps.get(i).values()).isEqualTo(before.get(i));
    }
    assertThat(t.optimizer().firstMoment(ps.get(0).name())).isEqualTo(momentBefore);
    assertThat(t.optimizerState()).isEqualTo(stateBefore);
  }

  @Test
  void dropsStaleExamplesUnderTheDropRuleAndDownweightsUnderTheOther() {
    SplittableRandom rnd = new SplittableRandom(6);
    TrainingBatch.Pair fresh = TinyModels.pair(rnd);
    TrainingBatch.Pair old = new TrainingBatch.Pair("Q1:", " aaa", " zzz", 2L);
    TrainingBatch batch = new TrainingBatch("b", List.of(fresh, old), List.of());

    DpoTrainer drop = trainer(small().staleness(new Staleness(3, Staleness.Mode.DROP, 0)).build());
    StepOutcome d = drop.step(batch, 10);
    assertThat(d.droppedStale()).isEqualTo(1);
    assertThat(d.examples()).isEqualTo(1);

    DpoTrainer keep = trainer(small().staleness(new Staleness(3, Staleness.Mode.DOWNWEIGHT, 0.5)).build());
    StepOutcome k = keep.step(batch, 10);
    assertThat(k.droppedStale()).isZero();
    assertThat(k.examples()).isEqualTo(2);
    // At the first step policy = reference, so each pair's loss is log 2: the stale one counts half.
    assertThat(k.metrics().get(MetricNames.LOSS)).isCloseTo(1.5 * Math.log(2) / 2, org.assertj.core.data.Offset.offset(1e-9));

    assertThat(new Staleness(3, Staleness.Mode.DROP, 0).weight(7L, 10)).isEqualTo(1.0);
    assertThat(new Staleness(3, Staleness.Mode.DROP, 0).weight(null, 10)).isEqualTo(1.0);
  }

  @Test
  void batchWithNothingLeftIsNotAStep() {
    DpoTrainer t = trainer(small().staleness(new Staleness(0, Staleness.Mode.DROP, 0)).build());
    StepOutcome o = t.step(new TrainingBatch("old", List.of(new TrainingBatch.Pair("p", "a", "b", 0L)), List.of()), 5);
    assertThat(o.status()).isEqualTo(StepOutcome.Status.EMPTY);
    assertThat(t.stepCount()).isZero();
  }

  @Test
  void mixedBatchReportsPairMetricsUnderTrlNamesAndKtoUnderPrefix() {
    DpoTrainer t = trainer(small().sftAlpha(0.1).build());
    SplittableRandom rnd = new SplittableRandom(8);
    StepOutcome o = t.step(new TrainingBatch("mix", TinyModels.pairs(rnd, 3), TinyModels.thumbs(rnd, 4)), 0);
    assertThat(o.applied()).isTrue();
    assertThat(o.examples()).isEqualTo(7);
    assertThat(o.metrics()).containsKeys(MetricNames.REWARDS_ACCURACIES, MetricNames.REWARDS_MARGINS,
        MetricNames.LOGPS_CHOSEN, MetricNames.KL, MetricNames.GRAD_NORM, MetricNames.NLL_LOSS, "kto/" + MetricNames.KL,
        "learning_rate");
    assertThat(o.metrics().get(MetricNames.GRAD_NORM)).isPositive();
  }

  @Test
  void fullFineTuningUpdatesBaseWeightsAndLeavesTheReferenceAlone() {
    DpoTrainer t = trainer(small().gradMode(GradMode.FULL).build());
    float[] before = t.policy().parameters(GradMode.FULL).get(1).values();
    SplittableRandom rnd = new SplittableRandom(9);
    t.step(new TrainingBatch("f1", TinyModels.pairs(rnd, 3), List.of()), 0);
    StepOutcome o = t.step(new TrainingBatch("f2", TinyModels.pairs(rnd, 3), List.of()), 0);
    assertThat(o.applied()).isTrue();
    assertThat(t.policy().parameters(GradMode.FULL).get(1).values()).isNotEqualTo(before);
    // The policy moved away from the reference, so the implicit rewards are no longer all zero.
    assertThat(o.metrics().get(MetricNames.REWARDS_CHOSEN)).isNotZero();
  }

  @Test
  void encoderAppendsEosKeepsThePromptEndAndFitsTheModelContext() {
    TrainerConfig cfg = small().maxLength(10).maxPromptLength(4).build();
    var enc = DpoTrainer.encoderFor(base.tokenizer(), cfg, base.config().maxPositions());
    var pr = enc.encode("abcdefgh", "xyzxyzxyz");
    assertThat(pr.prompt()).containsExactly('e', 'f', 'g', 'h');
    assertThat(pr.response()).containsExactly('x', 'y', 'z', 'x', 'y', 'z');
    assertThat(enc.encode("hi", "").response()).containsExactly(257);
    // defaults larger than the model's context are lowered to it instead of failing
    var fitted = DpoTrainer.encoderFor(base.tokenizer(), small().maxLength(4096).maxPromptLength(2048).build(),
        base.config().maxPositions());
    String longText = "a".repeat(5000);
    var cut = fitted.encode(longText, longText);
    assertThat(cut.length()).isEqualTo(base.config().maxPositions());
    assertThat(cut.prompt()).hasSize(base.config().maxPositions() / 2);
  }
}
