package io.prefstream.deploy.learner;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.learner.loop.Learner;
import io.prefstream.learner.loop.LearnerHooks;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.train.GradMode;
import io.prefstream.model.train.Parameter;
import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.Pause;
import io.prefstream.schemas.avro.PinReference;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.Resume;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Control commands, PolicyUpdate contents and the non-finite guard of the learner loop, over a real broker. */
class LearnerControlTest {
  @TempDir static Path dir;
  static EmbeddedKafka kafka;
  static HfModel base;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    ModelInit.writeRandomModel(dir.resolve("model"), ModelPresets.tiny(), 23, List.of(), DType.F32);
    base = HfModelDir.load(dir.resolve("model"));
  }

  @AfterAll
  static void stop() {
    if (base != null) base.close();
    if (kafka != null) kafka.close();
  }

  private static void turnUntil(Learner learner, BooleanSupplier done) throws Exception {
    for (int i = 0; i < 200 && !done.getAsBoolean(); i++) learner.runOnce();
    assertThat(done.getAsBoolean()).as("condition reached within 200 turns").isTrue();
  }

  private static byte[] command(String policy, Object action) {
    return LearnerFixture.CONTROL.encode(ControlCommand.newBuilder().setCommandId(UUID.randomUUID().toString())
        .setPolicyId(policy).setAction(action).setIssuedBy("test").setIssuedAt(Instant.now()).build());
  }

  private static long position(Learner l) {
    return l.positions().values().iterator().next();
  }

  private static String scrape(PrometheusRegistry registry) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    new PrometheusTextFormatWriter(false).write(out, registry.scrape());
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void pinReferenceReadWhilePausedIsCheckpointedAtResumeAndPauseHoldsSteps() throws Exception {
    LearnerFixture fx = new LearnerFixture(kafka);
    String updates = fx.updatesTopic("pin");
    SplittableRandom rnd = new SplittableRandom(7);
    fx.send(fx.eval, "p", LearnerFixture.BATCH.encode(LearnerFixture.batch("e", "p", 0, rnd, 8)));
    CheckpointStore store = new CheckpointStore(dir.resolve("pin-store"));
    PrometheusRegistry registry = new PrometheusRegistry();
    PolicySession session = PolicySession.open(base, new CpuBackend(), store, "p", LearnerFixture.trainerConfig());
    try (Learner learner = Learner.start(fx.config("p", updates).checkpointEverySteps(1).build(), session, registry,
        LearnerHooks.NONE)) {
      fx.sendBatches(List.of(LearnerFixture.batch("b0", "p", 0, rnd, 3), LearnerFixture.batch("b1", "p", 1, rnd, 3)));
      turnUntil(learner, () -> learner.version() == 2);

      fx.send(fx.control, "p", command("p", new Pause()));
      fx.send(fx.control, "p", command("p", new PinReference(1L)));
      turnUntil(learner, () -> learner.trainer().reference().id().equals("v1"));
      // Re-pinned while paused: its checkpoint waits for Resume (no checkpoint while paused).
      assertThat(learner.paused()).isTrue();
      assertThat(learner.version()).isEqualTo(2);
      fx.sendBatches(List.of(LearnerFixture.batch("b2", "p", 2, rnd, 3)));
      long before = position(learner);
      for (int i = 0; i < 5; i++) learner.runOnce();
      assertThat(position(learner)).isEqualTo(before);
      assertThat(learner.version()).isEqualTo(2);
      assertThat(scrape(registry)).contains("prefstream_learner_paused{policy=\"p\"} 1.0");

      // Resume: the pin's checkpoint (v3, no new step) at the batch position it was read at, then b2 (v4).
      fx.send(fx.control, "p", command("p", new Resume()));
      turnUntil(learner, () -> learner.version() == 4);

      List<PolicyUpdate> published = fx.updates(updates);
      assertThat(published).extracting(PolicyUpdate::getVersion).containsExactly(1L, 2L, 3L, 4L);
      assertThat(published).extracting(PolicyUpdate::getReferenceId).containsExactly("base", "base", "v1", "v1");
      assertThat(published).extracting(PolicyUpdate::getParentVersion).containsExactly(null, 1L, 2L, 3L);
      assertThat(published).extracting(PolicyUpdate::getStep).containsExactly(1L, 2L, 2L, 3L);
      PolicyUpdate last = published.getLast();
      assertThat(last.getPolicyId()).isEqualTo("p");
      assertThat(last.getStep()).isEqualTo(3);
      assertThat(last.getExamplesSeen()).isEqualTo(9);
      assertThat(last.getFormat().name()).isEqualTo("LORA");
      assertThat(Path.of(java.net.URI.create(last.getCheckpointUri()))).isEqualTo(store.open("p", 4).dir());
      assertThat(last.getSha256()).isEqualTo(store.open("p", 4).manifestSha256());
      assertThat(last.getMetrics()).containsKeys("rewards/accuracies", "rewards/margins", "logps/chosen", "kl", "loss",
          "grad_norm", "eval/rewards/accuracies", "eval/rewards/margins");
      assertThat(last.getMetrics().get("eval/count")).isEqualTo(8.0);

      String metrics = scrape(registry);
      assertThat(metrics).contains("prefstream_learner_steps_total{policy=\"p\"} 3.0")
          .contains("prefstream_learner_updates_published_total{policy=\"p\"} 4.0")
          .contains("prefstream_learner_control_commands_total{action=\"pin_reference\",policy=\"p\",result=\"applied\"} 1.0")
          .contains("prefstream_learner_paused{policy=\"p\"} 0.0");
    }
    // A restart resumes the re-pinned reference from the checkpoint.
    PolicySession again = PolicySession.open(base, new CpuBackend(), store, "p", LearnerFixture.trainerConfig());
    assertThat(again.trainer().reference().id()).isEqualTo("v1");
  }

  @Test
  void nonFiniteBatchIsSkippedCountedAndNothingIsPublished() throws Exception {
    LearnerFixture fx = new LearnerFixture(kafka);
    String updates = fx.updatesTopic("nan");
    SplittableRandom rnd = new SplittableRandom(8);
    CheckpointStore store = new CheckpointStore(dir.resolve("nan-store"));
    PrometheusRegistry registry = new PrometheusRegistry();
    PolicySession session = PolicySession.open(base, new CpuBackend(), store, "p", LearnerFixture.trainerConfig());
    // Poisons one LoRA matrix right before the "bad" batch, as a numerical blow-up would.
    LearnerHooks poison = new LearnerHooks() {
      @Override
      public void beforeStep(TrainingBatch batch, DpoTrainer trainer) {
        if (!batch.id().equals("bad")) return;
        Parameter b = trainer.policy().parameters(GradMode.LORA).get(1);
        float[] nan = new float[b.numel()];
        Arrays.fill(nan, Float.NaN);
        b.set(nan);
      }
    };
    try (Learner learner = Learner.start(fx.config("p", updates).checkpointEverySteps(1).build(), session, registry,
        poison)) {
      fx.sendBatches(List.of(LearnerFixture.batch("bad", "p", 0, rnd, 3)));
      turnUntil(learner, () -> position(learner) == 1);
      learner.checkpointIfPending();
      assertThat(learner.trainer().stepCount()).isZero();
      assertThat(learner.version()).isZero();
      assertThat(store.list("p")).isEmpty();
      assertThat(fx.updates(updates)).isEmpty();
      assertThat(scrape(registry)).contains("prefstream_learner_skipped_batches_total{policy=\"p\"} 1.0")
          .contains("prefstream_learner_batches_total{outcome=\"SKIPPED_NON_FINITE_LOSS\",policy=\"p\"} 1.0");
    }
    assertThat(Files.exists(store.root().resolve("p"))).isTrue();
  }

  @Test
  void secondLearnerForTheSamePolicyAndStoreIsRefused() throws Exception {
    LearnerFixture fx = new LearnerFixture(kafka);
    String updates = fx.updatesTopic("lock");
    CheckpointStore store = new CheckpointStore(dir.resolve("lock-store"));
    PolicySession one = PolicySession.open(base, new CpuBackend(), store, "p", LearnerFixture.trainerConfig());
    try (Learner first = Learner.start(fx.config("p", updates).build(), one, new PrometheusRegistry(), null)) {
      PolicySession two = PolicySession.open(base, new CpuBackend(), store, "p", LearnerFixture.trainerConfig());
      org.assertj.core.api.Assertions.assertThatThrownBy(
              () -> Learner.start(fx.config("p", updates).build(), two, new PrometheusRegistry(), null))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("one writer per policy");
      assertThat(first.version()).isZero();
    }
  }
}
