package io.prefstream.deploy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.learner.loop.Learner;
import io.prefstream.learner.loop.LearnerClients;
import io.prefstream.learner.loop.LearnerConfig;
import io.prefstream.learner.loop.LearnerHooks;
import io.prefstream.learner.policy.LearnerCheckpoints;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import io.prefstream.schemas.serde.SingleObjectCodec;
import io.prefstream.schemas.topic.Topics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;

/**
 * A learner fleet of two {@code prefstream learn --fleet} processes training six policies, one of
 * them killed with SIGKILL half-way: its policies move to the other instance, which resumes each
 * from its last checkpoint, fetched from the Kafka checkpoint store (the instances have separate
 * checkpoint directories, as on two machines); every policy ends with the adapter and step count of a single
 * uninterrupted learner of that policy (run here in-process, with the CLI's own training settings),
 * bit for bit, so every batch was applied exactly once per policy.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LearnerFleetTest {
  private static final Logger log = LoggerFactory.getLogger(LearnerFleetTest.class);
  private static final SingleObjectCodec<MicroBatch> BATCH = new SingleObjectCodec<>(MicroBatch.class);
  private static final int POLICIES = 6;
  private static final int BATCHES_PER_HALF = 4;
  private static final Duration SESSION = Duration.ofSeconds(6);
  private EmbeddedKafka kafka;
  private Path work;
  private Path model;

  @BeforeAll
  void start() throws IOException {
    kafka = EmbeddedKafka.start();
    kafka.ensureDefaultTopics();
    work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "learner-fleet-");
    model = work.resolve("model");
    ModelInit.writeRandomModel(model, ModelPresets.tiny(), 23, List.of(), DType.F32);
  }

  @AfterAll
  void stop() {
    if (kafka != null) kafka.close();
  }

  /** The training flags every learner of this test runs with (the fleet's and the reference's). */
  private List<String> trainingFlags(Path checkpoints) {
    return List.of("--model", model.toString(), "--checkpoints", checkpoints.toString(), "--device", "cpu",
        "--max-length", "32", "--max-prompt-length", "12", "--checkpoint-every", "2", "--checkpoint-interval", "1h",
        "--eval-pairs", "0");
  }

  private Process instance(String name, Path checkpoints) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"), "--add-modules", "jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-cp",
        System.getProperty("java.class.path"), Main.class.getName(), "learn", "--fleet", "--bootstrap-servers",
        kafka.bootstrapServers(), "--session-timeout", SESSION.toSeconds() + "s", "--metrics-port", "-1",
        "--checkpoint-store", "kafka"));
    cmd.addAll(trainingFlags(checkpoints));
    return new ProcessBuilder(cmd).directory(work.toFile()).redirectErrorStream(true)
        .redirectOutput(work.resolve(name + ".log").toFile()).start();
  }

  /** Six policy ids in six different partitions of the batches topic (so both instances get some). */
  private static List<String> policies() {
    List<String> ids = new ArrayList<>();
    Set<Integer> used = new LinkedHashSet<>();
    for (int i = 0; ids.size() < POLICIES; i++) {
      String id = "app-" + i;
      if (used.add(LearnerClients.partitionOf(id, Topics.POLICY_PARTITIONS))) ids.add(id);
    }
    return ids;
  }

  private static MicroBatch batch(String policy, int seq, SplittableRandom rnd) {
    List<PreferencePair> pairs = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      pairs.add(PreferencePair.newBuilder().setPrompt("Q" + rnd.nextInt(100) + ":").setChosen(" " + word(rnd, "aeiou"))
          .setRejected(" " + word(rnd, "xzqkv")).setSourceEventIds(List.of(policy + "-" + seq + "-" + i)).build());
    }
    List<UnpairedExample> thumbs = List.of(UnpairedExample.newBuilder().setPrompt("Q" + rnd.nextInt(100) + ":")
        .setResponse(" " + word(rnd, "aeiou")).setDesirable(true).setSourceEventId(policy + "-" + seq + "-t").build());
    Instant at = Instant.ofEpochMilli(1_700_000_000_000L + seq);
    return MicroBatch.newBuilder().setBatchId(policy + "-b" + seq).setPolicyId(policy).setSequence(seq).setPairs(pairs)
        .setUnpaired(thumbs).setEventTimeStart(at).setEventTimeEnd(at).setCreatedAt(at).build();
  }

  private static String word(SplittableRandom rnd, String alphabet) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0, n = 3 + rnd.nextInt(4); i < n; i++) sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
    return sb.toString();
  }

  private void send(List<String> policies, int fromSeq, SplittableRandom rnd) {
    try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
        kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all"), new StringSerializer(), new ByteArraySerializer())) {
      for (int s = fromSeq; s < fromSeq + BATCHES_PER_HALF; s++) {
        for (String policy : policies) p.send(new ProducerRecord<>(Topics.BATCHES, policy, BATCH.encode(batch(policy, s, rnd))));
      }
      p.flush();
    }
  }

  /** The step of the newest checkpoint of {@code policy} in any of the instances' directories. */
  private long stepOf(List<Path> dirs, String policy) throws IOException {
    long step = 0;
    for (Path dir : dirs) {
      Optional<PolicyCheckpoint.Loaded> l = LearnerCheckpoints.loadNewest(new CheckpointStore(dir), policy, ModelPresets.tiny());
      step = Math.max(step, l.map(x -> x.state().step()).orElse(0L));
    }
    return step;
  }

  private void await(String what, long seconds, java.util.concurrent.Callable<Boolean> done) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!done.call()) {
      if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + what + "; logs in " + work);
      Thread.sleep(200);
    }
  }

  private String logOf(String name) throws IOException {
    return Files.readString(work.resolve(name + ".log"));
  }

  private static Set<String> trainedBy(String log, List<String> policies) {
    Set<String> out = new LinkedHashSet<>();
    for (String p : policies) if (log.contains("training policy " + p + " ")) out.add(p);
    return out;
  }

  private static Set<String> revokedBy(String log, List<String> policies) {
    Set<String> out = new LinkedHashSet<>();
    for (String p : policies) if (log.contains("policy " + p + " revoked")) out.add(p);
    return out;
  }

  @Test
  void policiesOfAKilledInstanceMoveToTheOtherAndEndBitForBitAsUninterruptedLearners() throws Exception {
    List<String> policies = policies();
    // Each instance has its own checkpoint directory, as on two machines: a policy that moves is
    // fetched from the Kafka checkpoint store by its next owner.
    Path checkpointsA = work.resolve("a-checkpoints"), checkpointsB = work.resolve("b-checkpoints");
    List<Path> checkpoints = List.of(checkpointsA, checkpointsB);
    SplittableRandom rnd = new SplittableRandom(11);
    send(policies, 0, rnd);
    Process a = instance("a", checkpointsA), b = null;
    try {
      await("instance a to train every policy", 120, () -> trainedBy(logOf("a"), policies).size() == POLICIES);
      b = instance("b", checkpointsB);
      // a gives up the partitions the group moves to b (it logs each policy it stops), b starts them.
      await("the policies of the partitions that moved to b to start there", 120, () -> {
        Set<String> gone = revokedBy(logOf("a"), policies);
        return !gone.isEmpty() && trainedBy(logOf("b"), policies).containsAll(gone);
      });
      await("every policy to finish the first half", 120, () -> {
        for (String p : policies) if (stepOf(checkpoints, p) < BATCHES_PER_HALF) return false;
        return true;
      });
      Set<String> onA = new LinkedHashSet<>(policies);
      onA.removeAll(revokedBy(logOf("a"), policies));
      assertThat(onA).as("a kept some policies after b joined").isNotEmpty();
      assertThat(trainedBy(logOf("b"), policies)).as("b trains only what a gave up").doesNotContainAnyElementsOf(onA);

      // The second half, and a kill while a is at it: as soon as one of its policies has checkpointed
      // step 6, the others are somewhere in between (steps applied since their last checkpoint).
      send(policies, BATCHES_PER_HALF, rnd);
      await("a to be half-way through the second half", 120, () -> {
        for (String p : onA) if (stepOf(checkpoints, p) >= BATCHES_PER_HALF + 2) return true;
        return false;
      });
      a.destroyForcibly(); // SIGKILL: no checkpoint, no leave-group; its open transactions stay behind
      assertThat(a.waitFor(30, TimeUnit.SECONDS)).isTrue();
      long killed = System.nanoTime();
      Map<String, Long> atKill = new LinkedHashMap<>();
      for (String p : onA) atKill.put(p, stepOf(checkpoints, p));
      log.info("killed instance a; checkpointed steps of its policies then: {}", atKill);
      Process bb = b;
      await("b to train the killed instance's policies", SESSION.toSeconds() + 60,
          () -> trainedBy(logOf("b"), policies).containsAll(onA) || !bb.isAlive());
      double moved = (System.nanoTime() - killed) / 1e9;
      log.info("policies {} moved from the killed instance in {} s (session timeout {} s)", onA, String.format("%.1f", moved),
          SESSION.toSeconds());
      await("every policy to apply all its batches", 180, () -> {
        for (String p : policies) if (stepOf(checkpoints, p) < 2L * BATCHES_PER_HALF) return false;
        return true;
      });
      assertThat(b.isAlive()).as("instance b runs on").isTrue();
      String bLog = logOf("b");
      for (String p : onA) { // each had checkpointed (and published) at least the first half before the kill
        assertThat(bLog).as("b resumed %s from its checkpoint in the Kafka store, not from a shared disk", p)
            .contains("policy " + p + ": fetched v");
      }
    } finally {
      if (a.isAlive()) a.destroyForcibly();
      if (b != null) {
        b.destroy(); // SIGTERM: a clean stop
        if (!b.waitFor(60, TimeUnit.SECONDS)) b.destroyForcibly();
      }
    }

    // The reference: one uninterrupted learner per policy, in this JVM, with the CLI's own settings.
    LearnCommand parsed = new LearnCommand();
    CommandLine cl = new CommandLine(parsed);
    cl.parseArgs(trainingFlags(work.resolve("unused")).toArray(String[]::new));
    TrainerConfig config = parsed.training.trainerConfig(cl, parsed.training.constantSchedule(cl));
    CheckpointStore fleetStore = new CheckpointStore(checkpointsB); // b trained every policy last
    try (HfModel base = HfModelDir.load(model)) {
      for (String policy : policies) {
        CheckpointStore refStore = new CheckpointStore(work.resolve("reference").resolve(policy));
        LearnerConfig lc = LearnerConfig.builder(policy, kafka.bootstrapServers()).transactionalId("reference-" + policy)
            .checkpointEverySteps(2).checkpointInterval(Duration.ofHours(1)).evalMaxPairs(0).build();
        try (Learner ref = Learner.start(lc, PolicySession.open(base, new CpuBackend(), refStore, policy, config),
            new PrometheusRegistry(), LearnerHooks.NONE)) {
          for (int guard = 0; ref.trainer().stepCount() < 2L * BATCHES_PER_HALF || ref.pendingSteps() > 0; guard++) {
            ref.runOnce();
            if (guard > 500) throw new AssertionError("the reference learner of " + policy + " made no progress");
          }
          PolicyCheckpoint.Loaded fleetEnd = LearnerCheckpoints.loadNewest(fleetStore, policy, base.config()).orElseThrow();
          assertThat(fleetEnd.state().step()).as("%s: steps", policy).isEqualTo(2L * BATCHES_PER_HALF);
          Map<String, NamedTensor> want = ref.trainer().policy().lora().orElseThrow().toTensors();
          Map<String, NamedTensor> got = new LinkedHashMap<>(fleetEnd.adapter().orElseThrow().tensors());
          assertThat(got.keySet()).as(policy).isEqualTo(want.keySet());
          for (String k : want.keySet()) assertThat(got.get(k).data()).as("%s %s", policy, k).isEqualTo(want.get(k).data());
        }
      }
    }
  }
}
