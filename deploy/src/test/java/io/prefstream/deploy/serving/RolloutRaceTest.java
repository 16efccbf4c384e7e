package io.prefstream.deploy.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.schemas.avro.CheckpointFormat;
import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.schemas.serde.AvroSerdes;
import io.prefstream.schemas.topic.Topics;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.registry.BaseModel;
import io.prefstream.serving.registry.PolicyRegistry;
import io.prefstream.serving.registry.RegistryHooks;
import io.prefstream.serving.registry.RegistrySettings;
import io.prefstream.serving.registry.RolloutView;
import io.prefstream.serving.registry.VersionLoader;
import io.prefstream.serving.rollout.KafkaRolloutFeed;
import io.prefstream.serving.rollout.ProposalOutcome;
import io.prefstream.serving.rollout.RolloutFeed;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Automation racing operators and other replicas over prefstream.rollout on a real (embedded)
 * broker. Each race is made deterministic with {@link RegistryHooks}: a replica's auto-promotion is
 * held after it was decided and released only once the competing change has landed, so the stale
 * proposal always reaches the feed last.
 */
class RolloutRaceTest {
  static final LoraConfig LORA = new LoraConfig(4, 8, LoraConfig.ALL_TARGETS, 0);

  @TempDir static Path root;
  static EmbeddedKafka kafka;
  static CheckpointStore store;
  static BaseModel base;
  static KafkaRolloutFeed learner;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    kafka.ensureDefaultTopics();
    Path model = root.resolve("model");
    ModelInit.writeRandomModel(model, ModelPresets.tiny(), 5, List.of(), DType.F32);
    base = BaseModel.load(model, new CpuBackend());
    store = new CheckpointStore(root.resolve("checkpoints"));
    learner = new KafkaRolloutFeed(kafka.bootstrapServers(), "race-learner");
  }

  @AfterAll
  static void stop() {
    if (learner != null) learner.close();
    if (kafka != null) kafka.close();
  }

  /** Holds this replica's auto-promotion of one version, once, until released. */
  static final class HoldPromotion implements RegistryHooks {
    final long version;
    final CountDownLatch decided = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);
    final AtomicBoolean used = new AtomicBoolean();

    HoldPromotion(long version) {
      this.version = version;
    }

    @Override
    public void beforeAutoPromotion(String policyId, long v) {
      if (v != version || !used.compareAndSet(false, true)) return;
      decided.countDown();
      try {
        if (!release.await(60, TimeUnit.SECONDS)) throw new IllegalStateException("the test never released v" + v);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    void awaitDecided() throws InterruptedException {
      assertThat(decided.await(30, TimeUnit.SECONDS)).as("the replica decided to promote v%d", version).isTrue();
    }
  }

  /** The replica's Kafka feed, noting each automation write once the feed has answered it. */
  static final class RecordingFeed implements RolloutFeed {
    final KafkaRolloutFeed inner;
    final List<RolloutState> automationAnswered = new CopyOnWriteArrayList<>();

    RecordingFeed(KafkaRolloutFeed inner) {
      this.inner = inner;
    }

    @Override
    public void start(Listener listener) {
      inner.start(listener);
    }

    @Override
    public CompletableFuture<ProposalOutcome> propose(RolloutState state) {
      CompletableFuture<ProposalOutcome> f = inner.propose(state);
      if (state.getUpdatedBy() != null && state.getUpdatedBy().startsWith("auto@")) {
        f.whenComplete((ok, err) -> automationAnswered.add(state));
      }
      return f;
    }

    @Override
    public CompletableFuture<Void> publishControl(ControlCommand command) {
      return inner.publishControl(command);
    }

    @Override
    public void close() {
      inner.close();
    }

    void awaitAutomationAnswered(long version) {
      await().atMost(Duration.ofSeconds(30)).until(() -> automationAnswered.stream()
          .anyMatch(s -> s.getStableVersion() != null && s.getStableVersion() == version));
    }
  }

  record Replica(PolicyRegistry registry, RecordingFeed feed) implements AutoCloseable {
    RolloutView status(String policy) {
      return registry.status(policy);
    }

    @Override
    public void close() {
      registry.close();
      feed.close();
    }
  }

  static Replica replica(String id, String policy, RegistryHooks hooks) {
    RecordingFeed feed = new RecordingFeed(new KafkaRolloutFeed(kafka.bootstrapServers(), "race-" + policy + "-" + id));
    PolicyRegistry r = new PolicyRegistry(new VersionLoader(base, Optional.of(store.root())), feed,
        RegistrySettings.defaults(id).withDefaultPolicy(policy).withDefaultMode(RolloutMode.AUTO),
        new ServingMetrics(new PrometheusRegistry()), hooks);
    return new Replica(r.start(), feed);
  }

  static void publish(String policy, long v, double acc) throws Exception {
    Map<String, NamedTensor> t = new LinkedHashMap<>();
    Random rnd = new Random(v);
    var c = ModelPresets.tiny();
    for (int l = 0; l < c.numLayers(); l++) {
      for (String m : LORA.targetModules()) {
        int[] dims = io.prefstream.model.lora.LoraAdapter.inOut(c, m);
        String a = PeftAdapter.loraA(l, m), b = PeftAdapter.loraB(l, m);
        t.put(a, new NamedTensor(a, new int[] {4, dims[0]}, gaussian(rnd, 4 * dims[0])));
        t.put(b, new NamedTensor(b, new int[] {dims[1], 4}, gaussian(rnd, dims[1] * 4)));
      }
    }
    TrainerState st = new TrainerState(v, v, Map.of(), "base", null, PolicyCheckpoint.LORA, Map.of("eval/rewards/accuracies", acc));
    Checkpoint cp = PolicyCheckpoint.writeLora(store, policy, v, new PeftAdapter(LORA, t, Optional.empty()), null, st);
    learner.publishUpdate(PolicyUpdate.newBuilder().setPolicyId(policy).setVersion(v).setReferenceId("base")
        .setCheckpointUri(cp.uri().toString()).setSha256(cp.manifestSha256()).setFormat(CheckpointFormat.LORA).setStep(v)
        .setExamplesSeen(v).setMetrics(Map.of("eval/rewards/accuracies", acc)).setCreatedAt(Instant.now()).build())
        .get(10, TimeUnit.SECONDS);
  }

  private static float[] gaussian(Random rnd, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * 0.5);
    return x;
  }

  /** Every rollout state of {@code policy} on the topic, in log order. */
  static List<RolloutState> rolloutLog(String policy) {
    List<RolloutState> out = new ArrayList<>();
    Map<String, Object> c = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> parts = consumer.partitionsFor(Topics.ROLLOUT).stream()
          .map(p -> new TopicPartition(Topics.ROLLOUT, p.partition())).toList();
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
      Map<TopicPartition, Long> end = consumer.endOffsets(parts);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (parts.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
        assertThat(System.nanoTime()).as("read %s to its end", Topics.ROLLOUT).isLessThan(deadline);
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          if (policy.equals(r.key()) && r.value() != null) {
            out.add(AvroSerdes.singleObject(RolloutState.class).deserializer().deserialize(Topics.ROLLOUT, r.value()));
          }
        }
      }
    }
    return out;
  }

  /** Waits until both replicas apply the same desired state and serve its stable version. */
  static RolloutView awaitConverged(String policy, Replica a, Replica b) {
    await().atMost(Duration.ofSeconds(30)).until(() -> {
      RolloutView sa = a.status(policy), sb = b.status(policy);
      return sa.stableVersion().isPresent() && sa.stableVersion().equals(sb.stableVersion()) && sa.mode().equals(sb.mode())
          && sa.servingVersion() == sa.stableVersion().get() && sb.servingVersion() == sa.stableVersion().get();
    });
    return a.status(policy);
  }

  @Test
  void anOperatorsRollbackIsNotUndoneByAnAutoPromotionDecidedBeforeIt() throws Exception {
    String policy = "race-rollback";
    HoldPromotion holdA = new HoldPromotion(2), holdB = new HoldPromotion(2);
    try (Replica a = replica("a", policy, holdA); Replica b = replica("b", policy, holdB)) {
      publish(policy, 1, 0.80);
      awaitConverged(policy, a, b);
      assertThat(a.status(policy).stableVersion()).contains(1L);

      // Both replicas load v2 and decide, from the state where v1 is stable, to promote it ...
      publish(policy, 2, 0.85);
      holdA.awaitDecided();
      holdB.awaitDecided();
      // ... and before either writes that, an operator rolls back to the base weights.
      RolloutView back = b.registry().rollback(policy, 0, "v2 must not ship", "op");
      assertThat(back.mode()).isEqualTo("MANUAL");
      await().atMost(Duration.ofSeconds(30)).until(() -> a.status(policy).stableVersion().equals(Optional.of(0L)));
      holdA.release.countDown();
      holdB.release.countDown();
      a.feed().awaitAutomationAnswered(2);
      b.feed().awaitAutomationAnswered(2);

      RolloutView end = awaitConverged(policy, a, b);
      assertThat(end.stableVersion()).contains(0L);
      assertThat(end.mode()).isEqualTo("MANUAL");
      List<RolloutState> log = rolloutLog(policy);
      RolloutState last = log.getLast();
      assertThat(last.getStableVersion()).isEqualTo(0L);
      assertThat(last.getMode()).isEqualTo(RolloutMode.MANUAL);
      assertThat(last.getReason()).isEqualTo("v2 must not ship");
    }
  }

  @Test
  void aReplicaThatDecidedEarlierDoesNotRegressANewerPromotion() throws Exception {
    String policy = "race-regress";
    HoldPromotion holdB = new HoldPromotion(1);
    try (Replica b = replica("b", policy, holdB)) {
      publish(policy, 1, 0.80);
      // B decides to promote v1 from the empty state, and is held there.
      holdB.awaitDecided();
      try (Replica a = replica("a", policy, RegistryHooks.NONE)) {
        // A promotes v1, then v2; B sees both states while its v1 decision is still pending.
        await().atMost(Duration.ofSeconds(30)).until(() -> b.status(policy).stableVersion().equals(Optional.of(1L)));
        publish(policy, 2, 0.85);
        await().atMost(Duration.ofSeconds(30)).until(() -> b.status(policy).stableVersion().equals(Optional.of(2L)));
        holdB.release.countDown();
        b.feed().awaitAutomationAnswered(1);

        RolloutView end = awaitConverged(policy, a, b);
        assertThat(end.stableVersion()).contains(2L);
        assertThat(a.registry().residentVersions(policy)).contains(2L);
        assertThat(b.registry().residentVersions(policy)).contains(2L);
        // The stable version on the topic never went back: no state ever undid v2.
        List<Long> stables = rolloutLog(policy).stream().map(RolloutState::getStableVersion).toList();
        assertThat(stables).as("stable versions on %s in log order", Topics.ROLLOUT).isSorted().endsWith(2L);
      }
    }
  }
}
