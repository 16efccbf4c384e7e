package io.prefstream.deploy.learner;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.deploy.learner.LearnerFixture.SimulatedCrash;
import io.prefstream.learner.loop.FaultPoint;
import io.prefstream.learner.loop.Learner;
import io.prefstream.learner.loop.LearnerConfig;
import io.prefstream.learner.loop.LearnerHooks;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.Staleness;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.Pause;
import io.prefstream.schemas.avro.PinReference;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.Resume;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replay after a crash computes what the crashed run computed, over a real broker: control commands
 * (pin, pause, resume) read between batches take effect at the same place in the batch sequence after
 * a restart, and a replay that runs slower than the checkpoint interval takes no checkpoint the
 * original did not, so the policy version the staleness rule compares with is the same. Each test
 * drives two learners in lockstep over the same topics: one straight through, one crashed and
 * restarted, and compares their final weights and optimiser state bit for bit.
 */
class ReplayOrderTest {
  private static final String POLICY = "p";
  @TempDir static Path dir;
  static EmbeddedKafka kafka;
  static HfModel base;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    ModelInit.writeRandomModel(dir.resolve("model"), ModelPresets.tiny(), 29, List.of(), DType.F32);
    base = HfModelDir.load(dir.resolve("model"));
  }

  @AfterAll
  static void stop() {
    if (base != null) base.close();
    if (kafka != null) kafka.close();
  }

  /**
   * One learner of policy {@code p} with its own store and updates topic; crashes at
   * {@link FaultPoint#AFTER_STEP} of each of {@code crashAfterSteps} (once each) and is restarted at
   * once on the same store, as a supervisor would. {@code afterRestart} runs before every step of a
   * restarted learner.
   */
  private static final class Run implements AutoCloseable {
    final String name;
    final CheckpointStore store;
    final LearnerConfig config;
    final TrainerConfig trainerConfig;
    final List<Long> crashAfterSteps;
    final Runnable afterRestart;
    final List<String> crashes = new ArrayList<>();
    Learner learner;

    Run(LearnerFixture fx, String name, LearnerConfig.Builder config, TrainerConfig trainerConfig,
        List<Long> crashAfterSteps, Runnable afterRestart) throws Exception {
      this.name = name;
      this.store = new CheckpointStore(dir.resolve(name + "-" + fx.suffix));
      this.config = config.build();
      this.trainerConfig = trainerConfig;
      this.crashAfterSteps = new ArrayList<>(crashAfterSteps);
      this.afterRestart = afterRestart;
      start();
    }

    private void start() throws Exception {
      PolicySession session = PolicySession.open(base, new CpuBackend(), store, POLICY, trainerConfig);
      learner = Learner.start(config, session, new PrometheusRegistry(), new LearnerHooks() {
        @Override
        public void at(FaultPoint point, long step) {
          if (point == FaultPoint.AFTER_STEP && crashAfterSteps.remove(Long.valueOf(step))) {
            throw new SimulatedCrash(name + " crashed after step " + step);
          }
        }

        @Override
        public void beforeStep(TrainingBatch batch, DpoTrainer trainer) {
          if (!crashes.isEmpty()) afterRestart.run();
        }
      });
    }

    /** Turns the learner until {@code done}, restarting it from its store when it crashes. */
    void turnUntil(Predicate<Learner> done) throws Exception {
      for (int i = 0; i < 300; i++) {
        if (done.test(learner)) return;
        try {
          learner.runOnce();
        } catch (SimulatedCrash crash) {
          crashes.add(crash.getMessage());
          learner.close();
          start();
        }
      }
      throw new AssertionError(name + ": condition not reached within 300 turns");
    }

    long position() {
      return learner.positions().values().iterator().next();
    }

    void turnUntilPosition(long p) throws Exception {
      turnUntil(l -> l.positions().values().iterator().next() == p);
    }

    @Override
    public void close() {
      if (learner != null) learner.close();
    }
  }

  private static byte[] command(Object action) {
    return LearnerFixture.CONTROL.encode(ControlCommand.newBuilder().setCommandId(UUID.randomUUID().toString())
        .setPolicyId(POLICY).setAction(action).setIssuedBy("test").setIssuedAt(Instant.now()).build());
  }

  private static void assertSameState(Run a, Run b) {
    Map<String, NamedTensor> wa = a.learner.trainer().policy().lora().orElseThrow().toTensors();
    Map<String, NamedTensor> wb = b.learner.trainer().policy().lora().orElseThrow().toTensors();
    assertThat(wb.keySet()).isEqualTo(wa.keySet());
    for (String k : wa.keySet()) {
      assertThat(Arrays.equals(wb.get(k).data(), wa.get(k).data())).as("%s equal bit for bit", k).isTrue();
    }
    assertThat(b.learner.trainer().optimizerState()).isEqualTo(a.learner.trainer().optimizerState());
    assertThat(b.learner.trainer().stepCount()).isEqualTo(a.learner.trainer().stepCount());
    assertThat(b.learner.trainer().reference().id()).isEqualTo(a.learner.trainer().reference().id());
  }

  /** version / parent / step / reference of each published update, comparable across runs. */
  private static List<String> lineage(LearnerFixture fx, Run r) {
    return fx.updates(r.config.updatesTopic()).stream()
        .map(u -> "v" + u.getVersion() + " parent " + u.getParentVersion() + " step " + u.getStep() + " reference "
            + u.getReferenceId())
        .toList();
  }

  @Test
  void pinPauseAndResumeInsideTheReplayWindowTakeEffectWhereTheyDidBeforeTheCrash() throws Exception {
    LearnerFixture fx = new LearnerFixture(kafka);
    SplittableRandom rnd = new SplittableRandom(5);
    List<MicroBatch> b = new ArrayList<>();
    // Every example was produced by version 1: fresh while the learner is at v1, stale (weight 0.5)
    // from v2 on, so where each checkpoint falls shows in the weights as well.
    for (int i = 0; i < 10; i++) b.add(LearnerFixture.batch("b" + i, POLICY, i, rnd, 3, i % 2 == 0 ? 0 : 2, 1L));
    TrainerConfig tc = LearnerFixture.trainerConfig(new Staleness(0, Staleness.Mode.DOWNWEIGHT, 0.5));
    // Checkpoints only where the test asks, or where a command makes one: no count or clock trigger.
    try (Run straight = new Run(fx, "straight", fx.config(POLICY, fx.updatesTopic("straight"))
            .checkpointEverySteps(100), tc, List.of(), () -> {});
        Run crashy = new Run(fx, "crashy", fx.config(POLICY, fx.updatesTopic("crashy"))
            .checkpointEverySteps(100), tc, List.of(6L, 8L), () -> {})) {
      List<Run> runs = List.of(straight, crashy);
      fx.sendBatches(b.subList(0, 2));
      for (Run r : runs) {
        r.turnUntilPosition(2);
        r.learner.checkpointIfPending(); // v1: the version the pin names
      }
      // Three batches against the base reference, then the pin.
      fx.sendBatches(b.subList(2, 5));
      for (Run r : runs) r.turnUntilPosition(5);
      fx.send(fx.control, POLICY, command(new PinReference(1L)));
      for (Run r : runs) r.turnUntil(l -> l.trainer().reference().id().equals("v1"));
      // b5 is step 6: the crashy learner dies right after it, the pin read since its last test-made
      // checkpoint, and replays from there on restart.
      fx.sendBatches(b.subList(5, 6));
      for (Run r : runs) r.turnUntilPosition(6);
      fx.send(fx.control, POLICY, command(new Pause()));
      for (Run r : runs) r.turnUntil(Learner::paused);
      fx.sendBatches(b.subList(6, 7));
      for (Run r : runs) {
        for (int i = 0; i < 3; i++) r.learner.runOnce();
        assertThat(r.position()).as("paused: b6 waits").isEqualTo(6);
      }
      fx.send(fx.control, POLICY, command(new Resume()));
      for (Run r : runs) r.turnUntilPosition(7);
      // b7 is step 8: the crashy learner dies again right after it, the pause and the resume read
      // since its last checkpoint, and replays them on restart.
      fx.sendBatches(b.subList(7, 8));
      for (Run r : runs) r.turnUntilPosition(8);
      fx.sendBatches(b.subList(8, 10));
      for (Run r : runs) {
        r.turnUntilPosition(10);
        r.learner.checkpointIfPending();
      }

      assertThat(straight.crashes).isEmpty();
      assertThat(crashy.crashes).containsExactly("crashy crashed after step 6", "crashy crashed after step 8");
      assertThat(crashy.learner.trainer().stepCount()).isEqualTo(10);
      assertSameState(straight, crashy);
      assertThat(lineage(fx, crashy)).isEqualTo(lineage(fx, straight));
    }
  }

  @Test
  void replaySlowerThanTheCheckpointIntervalTakesNoCheckpointTheCrashedRunDidNot() throws Exception {
    LearnerFixture fx = new LearnerFixture(kafka);
    SplittableRandom rnd = new SplittableRandom(6);
    List<MicroBatch> b = new ArrayList<>();
    // Produced by version 0: fresh while the learner is at v0 or v1, stale (weight 0.5) from v2 on.
    for (int i = 0; i < 8; i++) b.add(LearnerFixture.batch("b" + i, POLICY, i, rnd, 3, 0, 0L));
    fx.sendBatches(b);
    TrainerConfig tc = LearnerFixture.trainerConfig(new Staleness(1, Staleness.Mode.DOWNWEIGHT, 0.5));
    Duration interval = Duration.ofMillis(200);
    // The restarted learner is slower than the interval on every step (a cold JIT, a busy machine).
    Runnable slow = () -> {
      try {
        Thread.sleep(interval.toMillis() + 100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    };
    try (Run straight = new Run(fx, "straight", fx.config(POLICY, fx.updatesTopic("straight"))
            .checkpointEverySteps(100).checkpointInterval(interval), tc, List.of(), () -> {});
        Run crashy = new Run(fx, "crashy", fx.config(POLICY, fx.updatesTopic("crashy"))
            .checkpointEverySteps(100).checkpointInterval(interval), tc, List.of(4L), slow)) {
      for (Run r : List.of(straight, crashy)) {
        r.turnUntilPosition(8);
        r.learner.checkpointIfPending();
      }
      assertThat(crashy.crashes).containsExactly("crashy crashed after step 4");
      // Neither took a checkpoint before it had read every batch there was, however slow.
      assertThat(lineage(fx, crashy)).isEqualTo(lineage(fx, straight));
      assertThat(lineage(fx, straight)).containsExactly("v1 parent null step 8 reference base");
      assertSameState(straight, crashy);
    }
  }
}
