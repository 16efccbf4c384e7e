package io.prefstream.deploy.learner;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.deploy.learner.LearnerFixture.SimulatedCrash;
import io.prefstream.learner.loop.FaultPoint;
import io.prefstream.learner.loop.Learner;
import io.prefstream.learner.loop.LearnerConfig;
import io.prefstream.learner.loop.LearnerHooks;
import io.prefstream.learner.policy.LearnerCheckpoints;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.AppliedBatch;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exactly-once learning over a real broker: a learner crashed at fault points (after a step, between
 * a durable checkpoint and its PolicyUpdate, after publishing) and restarted each time ends with the
 * same weights and optimiser state, bit for bit, as a learner that ran straight through; every batch
 * changed the final weights exactly once, and every version's update was published exactly once.
 */
class ExactlyOnceLearnerTest {
  private static final Logger log = LoggerFactory.getLogger(ExactlyOnceLearnerTest.class);
  @TempDir static Path dir;
  static EmbeddedKafka kafka;
  static HfModel base;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    ModelInit.writeRandomModel(dir.resolve("model"), ModelPresets.tiny(), 17, List.of(), DType.F32);
    base = HfModelDir.load(dir.resolve("model"));
  }

  @AfterAll
  static void stop() {
    if (base != null) base.close();
    if (kafka != null) kafka.close();
  }

  private record Crash(FaultPoint point, long atOrAfterStep) {}

  /** The learner that finished, and the crashes it went through on the way (each one a restart). */
  private record Driven(Learner learner, List<String> crashes) {}

  /** Runs a learner until every batch is consumed and checkpointed, crashing at each planned point once. */
  private static Driven drive(LearnerFixture fx, LearnerConfig config, CheckpointStore store, List<Crash> plan,
      long end) throws Exception {
    List<Crash> pending = new ArrayList<>(plan);
    List<String> crashes = new ArrayList<>();
    while (true) {
      LearnerHooks hooks = new LearnerHooks() {
        @Override
        public void at(FaultPoint point, long step) {
          if (!pending.isEmpty() && pending.getFirst().point() == point && step >= pending.getFirst().atOrAfterStep()) {
            Crash c = pending.removeFirst();
            throw new SimulatedCrash("crash at " + c + " (step " + step + ")");
          }
        }
      };
      PolicySession session = PolicySession.open(base, new CpuBackend(), store, config.policyId(),
          LearnerFixture.trainerConfig());
      Learner learner = Learner.start(config, session, new PrometheusRegistry(), hooks);
      try {
        int guard = 0;
        while (!(learner.positions().values().iterator().next() == end && learner.pendingSteps() == 0)) {
          learner.runOnce();
          if (learner.positions().values().iterator().next() == end) learner.checkpointIfPending();
          if (++guard > 500) throw new AssertionError("the learner made no progress");
        }
        log.info("finished after {} restarts", crashes.size());
        return new Driven(learner, crashes);
      } catch (SimulatedCrash crash) {
        log.info("{}", crash.getMessage());
        learner.close();
        crashes.add(crash.getMessage());
      }
    }
  }

  @Test
  void crashedAndRestartedLearnerEndsBitForBitAsAnUninterruptedOneAndAppliesEachBatchOnce() throws Exception {
    LearnerFixture fx = new LearnerFixture(kafka);
    SplittableRandom rnd = new SplittableRandom(3);
    List<MicroBatch> input = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      // Pairs and KTO thumbs, like the ingest's batches.
      input.add(LearnerFixture.batch("b" + i, "p", i, rnd, 3, i % 3 == 0 ? 0 : 2));
      // Another policy's batch in between: read past, never applied.
      if (i == 4) input.add(LearnerFixture.batch("q" + i, "q", i, rnd, 2));
    }
    fx.sendBatches(input);
    fx.send(fx.eval, "p", LearnerFixture.BATCH.encode(LearnerFixture.batch("e0", "p", 0, rnd, 6)));
    long end = fx.endOffset(fx.batches);

    CheckpointStore straightStore = new CheckpointStore(dir.resolve("straight"));
    String straightUpdates = fx.updatesTopic("straight");
    Driven straightRun = drive(fx, fx.config("p", straightUpdates).checkpointEverySteps(2).build(), straightStore,
        List.of(), end);
    Learner straight = straightRun.learner();

    Random r = new Random(42);
    List<Crash> plan = List.of(
        new Crash(FaultPoint.AFTER_STEP, 1 + r.nextInt(2)),
        new Crash(FaultPoint.AFTER_CHECKPOINT, 4),
        new Crash(FaultPoint.AFTER_STEP, 5 + r.nextInt(2)),
        new Crash(FaultPoint.AFTER_PUBLISH, 6),
        new Crash(FaultPoint.AFTER_CHECKPOINT, 8 + r.nextInt(2)));
    CheckpointStore crashyStore = new CheckpointStore(dir.resolve("crashy"));
    String crashyUpdates = fx.updatesTopic("crashy");
    Driven crashyRun = drive(fx, fx.config("p", crashyUpdates).checkpointEverySteps(2).build(), crashyStore, plan, end);
    Learner crashy = crashyRun.learner();
    try {
      // Every planned crash happened (each at its own point, in order), so the comparison below is
      // between a learner restarted five times and one that never was.
      assertThat(straightRun.crashes()).isEmpty();
      assertThat(crashyRun.crashes()).hasSize(plan.size());
      for (int i = 0; i < plan.size(); i++) {
        assertThat(crashyRun.crashes().get(i)).startsWith("crash at " + plan.get(i));
      }
      Map<String, NamedTensor> a = straight.trainer().policy().lora().orElseThrow().toTensors();
      Map<String, NamedTensor> b = crashy.trainer().policy().lora().orElseThrow().toTensors();
      assertThat(b.keySet()).isEqualTo(a.keySet());
      for (String k : a.keySet()) assertThat(b.get(k).data()).as(k).isEqualTo(a.get(k).data());
      assertThat(crashy.trainer().optimizerState()).isEqualTo(straight.trainer().optimizerState());
      assertThat(crashy.trainer().stepCount()).isEqualTo(10);

      // The lineage of the final version lists every batch once: p's applied, q's read past.
      Map<String, Integer> applied = new HashMap<>();
      List<String> others = new ArrayList<>();
      long v = crashy.version();
      while (v > 0) {
        Checkpoint cp = crashyStore.open("p", v);
        for (AppliedBatch ab : LearnerCheckpoints.batches(cp)) {
          if (ab.outcome().equals("APPLIED")) applied.merge(ab.batchId(), 1, Integer::sum);
          else others.add(ab.offset() + ":" + ab.outcome());
        }
        Long parent = io.prefstream.model.policy.PolicyCheckpoint.load(cp, base.config()).state().parentVersion();
        v = parent == null ? 0 : parent;
      }
      assertThat(applied).hasSize(10).allSatisfy((id, n) -> assertThat(n).as(id).isEqualTo(1));
      assertThat(others).containsExactly("5:OTHER_POLICY");

      // Each version's update is published exactly once, in order, naming its durable checkpoint.
      List<PolicyUpdate> updates = fx.updates(crashyUpdates);
      assertThat(updates).extracting(PolicyUpdate::getVersion).containsExactly(1L, 2L, 3L, 4L, 5L);
      for (PolicyUpdate u : updates) {
        assertThat(u.getSha256()).isEqualTo(crashyStore.open("p", u.getVersion()).manifestSha256());
        assertThat(u.getReferenceId()).isEqualTo("base");
        assertThat(u.getMetrics()).containsKeys("loss", "grad_norm", "eval/rewards/accuracies", "eval/rewards/margins");
      }
      assertThat(updates.getLast().getStep()).isEqualTo(10);
      // The chosen replies' reference NLL per token, averaged over each version's steps: the same per
      // version across the crashes as straight through.
      List<PolicyUpdate> uninterrupted = fx.updates(straightUpdates);
      assertThat(uninterrupted).hasSameSizeAs(updates);
      for (int i = 0; i < updates.size(); i++) {
        Double nll = updates.get(i).getMetrics().get("fluency/ref_nll_chosen");
        assertThat(nll).as("v%d", i + 1).isNotNull().isPositive().isFinite()
            .isEqualTo(uninterrupted.get(i).getMetrics().get("fluency/ref_nll_chosen"));
      }
    } finally {
      straight.close();
      crashy.close();
    }
  }
}
