package io.prefstream.deploy.learner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.learner.loop.Learner;
import io.prefstream.learner.loop.LearnerConfig;
import io.prefstream.learner.loop.LearnerHooks;
import io.prefstream.learner.loop.LearnerStoppedException;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.BackendFailure;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.train.GradMode;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A failure of the compute device stops the learner, over a real broker: a backend that fails on a
 * chosen op (a real CPU backend underneath, driven as a device backend) makes the step throw; the
 * learner stops with a {@link LearnerStoppedException} naming the batch and the version a restart
 * resumes from, checkpoints and publishes nothing of that step, and refuses to go on; a learner
 * restarted on the same store ends bit for bit where an uninterrupted one does. Once with the fault
 * after the host AdamW step (the model not yet updated), once in the first forward op.
 */
class DeviceFailureTest {
  private static final String POLICY = "p";
  @TempDir static Path dir;
  static EmbeddedKafka kafka;
  static HfModel base;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    ModelInit.writeRandomModel(dir.resolve("model"), ModelPresets.tiny(), 37, List.of(), DType.F32);
    base = HfModelDir.load(dir.resolve("model"));
  }

  @AfterAll
  static void stop() {
    if (base != null) base.close();
    if (kafka != null) kafka.close();
  }

  private static Learner start(LearnerConfig config, CheckpointStore store, Backend backend, LearnerHooks hooks)
      throws Exception {
    PolicySession session = PolicySession.open(base, backend, store, POLICY, LearnerFixture.trainerConfig());
    return Learner.start(config, session, new PrometheusRegistry(), hooks);
  }

  private static long position(Learner l) {
    return l.positions().values().iterator().next();
  }

  /** Turns until every batch is read, then checkpoints what is pending. */
  private static void finish(Learner l, long end) throws Exception {
    for (int i = 0; i < 200 && position(l) < end; i++) l.runOnce();
    assertThat(position(l)).isEqualTo(end);
    l.checkpointIfPending();
  }

  private static List<String> lineage(LearnerFixture fx, String updates) {
    return fx.updates(updates).stream().map(u -> "v" + u.getVersion() + " step " + u.getStep()).toList();
  }

  @Test
  void aDeviceFaultStopsTheLearnerWithoutPublishingAndARestartEndsAsAnUninterruptedRun() throws Exception {
    LearnerFixture fx = new LearnerFixture(kafka);
    SplittableRandom rnd = new SplittableRandom(11);
    List<MicroBatch> input = new ArrayList<>();
    for (int i = 0; i < 6; i++) input.add(LearnerFixture.batch("b" + i, POLICY, i, rnd, 3, i % 2 == 0 ? 0 : 2));
    fx.sendBatches(input);
    long end = fx.endOffset(fx.batches);

    String straightUpdates = fx.updatesTopic("straight");
    CheckpointStore straightStore = new CheckpointStore(dir.resolve("straight-" + fx.suffix));
    try (Learner straight = start(fx.config(POLICY, straightUpdates).checkpointEverySteps(2).build(), straightStore,
        new CpuBackend(), LearnerHooks.NONE)) {
      finish(straight, end);
      for (Fault fault : Fault.values()) {
        runWithFault(fx, fault, straight, end, lineage(fx, straightUpdates));
      }
    }
  }

  /** Where the injected fault strikes within the step of batch b3 (step 4). */
  private enum Fault {
    /** The first upload of a new parameter value: the host AdamW has stepped, the model not yet. */
    AFTER_HOST_OPTIMIZER_STEP,
    /** The first matrix product of the step (reference scoring): nothing has changed yet. */
    FIRST_FORWARD_OP
  }

  private void runWithFault(LearnerFixture fx, Fault fault, Learner straight, long end, List<String> straightLineage)
      throws Exception {
    String updates = fx.updatesTopic(fault.name().toLowerCase().replace('_', '-'));
    LearnerConfig config = fx.config(POLICY, updates).checkpointEverySteps(2).build();
    CheckpointStore store = new CheckpointStore(dir.resolve(fault + "-" + fx.suffix));
    FailingBackend device = new FailingBackend(new CpuBackend());
    int[] uploadsBefore = new int[1];
    long[] stepsBeforeFault = new long[1];
    LearnerHooks arm = new LearnerHooks() {
      @Override
      public void beforeStep(TrainingBatch batch, DpoTrainer trainer) {
        int uploads = device.calls().getOrDefault("upload", 0);
        if (batch.id().equals("b2")) uploadsBefore[0] = uploads;
        if (!batch.id().equals("b3")) return;
        stepsBeforeFault[0] = trainer.stepCount();
        if (fault == Fault.FIRST_FORWARD_OP) {
          device.failOn("matmulForward", 1);
        } else {
          // b2's step made U uploads, the last P of them the new values of the P trained parameters.
          int perStep = uploads - uploadsBefore[0];
          int params = trainer.policy().parameters(GradMode.LORA).size();
          device.failOn("upload", perStep - params + 1);
        }
      }
    };
    Learner failing = start(config, store, device, arm);
    try {
      LearnerStoppedException stopped = null;
      for (int i = 0; i < 200 && stopped == null; i++) {
        try {
          failing.runOnce();
        } catch (LearnerStoppedException e) {
          stopped = e;
        }
      }
      assertThat(stopped).as(fault + ": the learner stopped").isNotNull();
      assertThat(stopped.getCause()).isInstanceOf(BackendFailure.class).hasMessageContaining("injected device fault");
      assertThat(stopped).hasMessageContaining("the compute backend failed on batch b3")
          .hasMessageContaining("step 4").hasMessageContaining("a restart resumes from v1");
      // The fault struck where it was meant to: after the optimiser stepped, or before anything.
      long stepped = fault == Fault.AFTER_HOST_OPTIMIZER_STEP ? 1 : 0;
      assertThat(failing.trainer().stepCount()).as(fault.name()).isEqualTo(stepsBeforeFault[0] + stepped);
      // Nothing of the failed step is checkpointed or published, and this instance refuses to go on.
      assertThat(store.list(POLICY)).containsExactly(1L);
      assertThat(lineage(fx, updates)).containsExactly("v1 step 2");
      assertThatThrownBy(failing::checkpointIfPending).isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("must be restarted");
      assertThatThrownBy(failing::runOnce).isInstanceOf(IllegalStateException.class);
      assertThat(store.list(POLICY)).containsExactly(1L);
    } finally {
      failing.close();
    }

    // Restarted (a healthy device), it resumes from v1 and ends where the uninterrupted run ended.
    try (Learner restarted = start(config, store, new CpuBackend(), LearnerHooks.NONE)) {
      assertThat(restarted.version()).isEqualTo(1);
      finish(restarted, end);
      Map<String, NamedTensor> a = straight.trainer().policy().lora().orElseThrow().toTensors();
      Map<String, NamedTensor> b = restarted.trainer().policy().lora().orElseThrow().toTensors();
      assertThat(b.keySet()).isEqualTo(a.keySet());
      for (String k : a.keySet()) {
        assertThat(Arrays.equals(b.get(k).data(), a.get(k).data())).as("%s: %s equal bit for bit", fault, k).isTrue();
      }
      assertThat(restarted.trainer().optimizerState()).isEqualTo(straight.trainer().optimizerState());
      assertThat(lineage(fx, updates)).isEqualTo(straightLineage);
    }
  }
}
