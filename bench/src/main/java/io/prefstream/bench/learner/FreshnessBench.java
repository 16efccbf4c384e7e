package io.prefstream.bench.learner;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.ingest.IngestApp;
import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.learner.loop.Learner;
import io.prefstream.learner.loop.LearnerConfig;
import io.prefstream.learner.loop.LearnerHooks;
import io.prefstream.learner.policy.LearnerCheckpoints;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.AppliedBatch;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.serde.AvroSerdes;
import io.prefstream.schemas.serde.Encoding;
import io.prefstream.schemas.serde.PreferenceEventSerializer;
import io.prefstream.schemas.topic.Topics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Freshness of the whole loop on one machine: embedded broker, ingest (default batch settings:
 * 32 items or 2 s), learner on the tiny preset (default checkpointing: every 10 steps or 30 s) and
 * this bench, all in one JVM. Comparisons are published at {@code --rate} events/s for
 * {@code --seconds}; a read_committed consumer follows {@code prefstream.batches},
 * {@code prefstream.eval} and {@code prefstream.policy-updates}. For each PolicyUpdate the
 * checkpoint's {@code batches.json} names the batches it consumed since its parent; an event's
 * freshness is the update's arrival time minus the event's publication ({@code send()}) time, for
 * the first update whose batches hold the event. Held-out (eval) events never reach training and
 * are counted apart. Usage: {@code FreshnessBench [--rate 20] [--seconds 75] [--drain-seconds 45]}.
 * Prints results; asserts nothing.
 */
public final class FreshnessBench {
  private static final String POLICY = "default";

  private FreshnessBench() {}

  public static void main(String[] args) throws Exception {
    int rate = 20, seconds = 75, drainSeconds = 45;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--rate" -> rate = Integer.parseInt(args[++i]);
        case "--seconds" -> seconds = Integer.parseInt(args[++i]);
        case "--drain-seconds" -> drainSeconds = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + "; expected --rate, --seconds, --drain-seconds");
      }
    }
    System.out.println("machine: " + LearnerStepBench.machine());
    Path work = Files.createTempDirectory("freshness-bench-");
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      kafka.ensureDefaultTopics();
      run(kafka, work, rate, seconds, drainSeconds);
    } finally {
      LearnerStepBench.deleteRecursively(work);
    }
  }

  private static void run(EmbeddedKafka kafka, Path work, int rate, int seconds, int drainSeconds) throws Exception {
    Path modelDir = work.resolve("model");
    ModelInit.writeRandomModel(modelDir, ModelPresets.tiny(), 1, List.of(), DType.F32);
    IngestConfig ingestConfig = IngestConfig.builder(kafka.bootstrapServers(), work.resolve("ingest-state"))
        .replicationFactor(1).build();
    LearnerConfig learnerConfig = LearnerConfig.builder(POLICY, kafka.bootstrapServers()).build();
    TrainerConfig trainerConfig = TrainerConfig.builder().build();
    System.out.printf(Locale.ROOT, "settings: ingest batch size %d, batch max age %d ms; learner checkpoint every %d steps"
            + " or %d s; trainer %s β %.2f, LoRA r %d; %d events/s for %d s%n",
        ingestConfig.batchSize(), ingestConfig.batchMaxAge().toMillis(), learnerConfig.checkpointEverySteps(),
        learnerConfig.checkpointInterval().toSeconds(), trainerConfig.lossType(), trainerConfig.beta(),
        trainerConfig.lora().rank(), rate, seconds);

    Map<String, Long> sentAt = new ConcurrentHashMap<>();
    Map<String, List<String>> eventsOfBatch = new HashMap<>();
    Set<String> heldOut = new HashSet<>();
    Set<String> covered = new HashSet<>();
    List<Long> freshness = new ArrayList<>();
    Deque<Object[]> pendingUpdates = new ArrayDeque<>(); // {PolicyUpdate, arrival nanos}
    List<String> updateLines = new ArrayList<>();
    int total = rate * seconds;
    Deserializer<MicroBatch> batchReader = AvroSerdes.singleObject(MicroBatch.class).deserializer();
    Deserializer<PolicyUpdate> updateReader = AvroSerdes.singleObject(PolicyUpdate.class).deserializer();
    AtomicBoolean stop = new AtomicBoolean();
    CheckpointStore store = new CheckpointStore(work.resolve("checkpoints"));

    try (HfModel base = HfModelDir.load(modelDir);
        KafkaConsumer<String, byte[]> consumer = consumer(kafka);
        IngestApp ingest = IngestApp.start(ingestConfig, new PrometheusRegistry())) {
      ingest.awaitRunning(Duration.ofMinutes(2));
      PolicySession session = PolicySession.open(base, new CpuBackend(), store, POLICY, trainerConfig);
      Learner learner = Learner.start(learnerConfig, session, new PrometheusRegistry(), LearnerHooks.NONE);
      Thread learnerThread = Thread.ofPlatform().name("bench-learner").start(() -> {
        try {
          learner.run(stop::get);
        } catch (Exception e) {
          throw new IllegalStateException("learner failed", e);
        }
      });
      final int n = total;
      Thread sender = Thread.ofPlatform().name("bench-producer").start(() -> publish(kafka, rate, n, sentAt));
      long publishEnd = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
      long deadline = publishEnd + Duration.ofSeconds(drainSeconds).toNanos();
      while (System.nanoTime() < deadline) {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(20))) {
          long at = System.nanoTime();
          if (r.topic().equals(Topics.POLICY_UPDATES)) {
            pendingUpdates.add(new Object[] {updateReader.deserialize(r.topic(), r.value()), at});
          } else {
            MicroBatch b = batchReader.deserialize(r.topic(), r.value());
            List<String> ids = new ArrayList<>();
            for (PreferencePair p : b.getPairs()) ids.addAll(p.getSourceEventIds());
            if (r.topic().equals(Topics.EVAL)) heldOut.addAll(ids);
            else eventsOfBatch.put(b.getBatchId(), ids);
          }
        }
        resolve(pendingUpdates, store, eventsOfBatch, sentAt, covered, freshness, updateLines);
        boolean allIn = !sender.isAlive() && covered.size() + heldOut.size() >= total;
        if (allIn) break;
      }
      stop.set(true);
      sender.join();
      learnerThread.join(Duration.ofMinutes(2));
      learner.close();

      long[] ns = freshness.stream().mapToLong(Long::longValue).sorted().toArray();
      updateLines.forEach(System.out::println);
      System.out.printf(Locale.ROOT, "events: %d published, %d in training batches covered by an update, %d held out (eval),"
          + " %d not yet in an update when the run ended%n", total, covered.size(), heldOut.size(),
          total - covered.size() - heldOut.size());
      System.out.printf(Locale.ROOT, "freshness (publication -> first PolicyUpdate including it, read_committed):"
              + " p50 %.0f ms, p99 %.0f ms, min %.0f ms, max %.0f ms over %d events%n",
          q(ns, 0.50), q(ns, 0.99), ns.length == 0 ? Double.NaN : ns[0] / 1e6,
          ns.length == 0 ? Double.NaN : ns[ns.length - 1] / 1e6, ns.length);
      System.out.printf(Locale.ROOT, "learner: %d steps, last version %d%n", learner.trainer().stepCount(),
          learner.publishedVersion());
    }
  }

  /** Attributes each update whose batches are all known; waits (keeps it pending) otherwise. */
  private static void resolve(Deque<Object[]> pending, CheckpointStore store, Map<String, List<String>> eventsOfBatch,
      Map<String, Long> sentAt, Set<String> covered, List<Long> freshness, List<String> lines) throws Exception {
    while (!pending.isEmpty()) {
      PolicyUpdate u = (PolicyUpdate) pending.peekFirst()[0];
      long at = (Long) pending.peekFirst()[1];
      List<AppliedBatch> batches = LearnerCheckpoints.batches(store.open(POLICY, u.getVersion()));
      if (!batches.stream().allMatch(b -> eventsOfBatch.containsKey(b.batchId()))) return;
      pending.removeFirst();
      int fresh = 0;
      long sum = 0;
      for (AppliedBatch b : batches) {
        for (String id : eventsOfBatch.get(b.batchId())) {
          Long sent = sentAt.get(id);
          if (sent != null && covered.add(id)) {
            freshness.add(at - sent);
            sum += at - sent;
            fresh++;
          }
        }
      }
      lines.add(String.format(Locale.ROOT, "update v%d: step %d, %d batches, %d new events, mean freshness %.0f ms",
          u.getVersion(), u.getStep(), batches.size(), fresh, fresh == 0 ? Double.NaN : sum / 1e6 / fresh));
    }
  }

  private static void publish(EmbeddedKafka kafka, int rate, int total, Map<String, Long> sentAt) {
    PreferenceEventSerializer serializer = new PreferenceEventSerializer(Encoding.SINGLE_OBJECT);
    SplittableRandom rnd = new SplittableRandom(11);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.LINGER_MS_CONFIG, 0),
        new ByteArraySerializer(), new ByteArraySerializer())) {
      long start = System.nanoTime();
      for (int i = 0; i < total; i++) {
        // Open loop: event i is due at start + i / rate, whatever happened before.
        long wait = start + (long) (i * 1e9 / rate) - System.nanoTime();
        if (wait > 0) LockSupport.parkNanos(wait);
        String id = "f" + i;
        PreferenceEvent e = PreferenceEvent.newBuilder().setEventId(id).setTimestamp(Instant.now())
            .setPrompt("Q" + rnd.nextInt(1000) + ": say something")
            .setFeedback(new Comparison(" " + word(rnd, "aeiou"), " " + word(rnd, "xzqkv")))
            .setAttributes(Map.of()).build();
        byte[] value = serializer.serialize(Topics.EVENTS, e);
        sentAt.put(id, System.nanoTime());
        producer.send(new ProducerRecord<>(Topics.EVENTS, value));
      }
    }
  }

  private static String word(SplittableRandom rnd, String alphabet) {
    int n = 3 + rnd.nextInt(6);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < n; i++) sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
    return sb.toString();
  }

  private static KafkaConsumer<String, byte[]> consumer(EmbeddedKafka kafka) {
    KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false),
        new StringDeserializer(), new ByteArrayDeserializer());
    List<TopicPartition> parts = new ArrayList<>();
    for (String t : List.of(Topics.BATCHES, Topics.EVAL, Topics.POLICY_UPDATES)) {
      consumer.partitionsFor(t).forEach(p -> parts.add(new TopicPartition(t, p.partition())));
    }
    consumer.assign(parts);
    consumer.seekToBeginning(parts);
    return consumer;
  }

  private static double q(long[] sortedNanos, double q) {
    if (sortedNanos.length == 0) return Double.NaN;
    return sortedNanos[Math.max(0, Math.min(sortedNanos.length - 1, (int) Math.ceil(q * sortedNanos.length) - 1))] / 1e6;
  }
}
