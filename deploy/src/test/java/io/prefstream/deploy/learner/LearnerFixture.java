package io.prefstream.deploy.learner;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.learner.loop.LearnerConfig;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.trainer.Staleness;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import io.prefstream.schemas.serde.SingleObjectCodec;
import io.prefstream.schemas.topic.TopicSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Topics of one test on the shared embedded broker, and producing/reading the learner's records. */
final class LearnerFixture {
  static final SingleObjectCodec<MicroBatch> BATCH = new SingleObjectCodec<>(MicroBatch.class);
  static final SingleObjectCodec<PolicyUpdate> UPDATE = new SingleObjectCodec<>(PolicyUpdate.class);
  static final SingleObjectCodec<ControlCommand> CONTROL = new SingleObjectCodec<>(ControlCommand.class);

  /** Thrown by a test's fault hook: the learner stops there as if the process died. */
  static final class SimulatedCrash extends RuntimeException {
    SimulatedCrash(String m) {
      super(m);
    }
  }

  final EmbeddedKafka kafka;
  final String batches;
  final String eval;
  final String control;
  final String suffix;

  LearnerFixture(EmbeddedKafka kafka) {
    this.kafka = kafka;
    this.suffix = UUID.randomUUID().toString().substring(0, 8);
    this.batches = "batches-" + suffix;
    this.eval = "eval-" + suffix;
    this.control = "control-" + suffix;
    kafka.ensureTopics(List.of(spec(batches), spec(eval), spec(control)));
  }

  private static TopicSpec spec(String name) {
    return new TopicSpec(name, 1, (short) 1, Map.of());
  }

  /** A fresh updates topic (one per learner run that must not see another's updates). */
  String updatesTopic(String name) {
    String t = "updates-" + name + "-" + suffix;
    kafka.ensureTopics(List.of(spec(t)));
    return t;
  }

  LearnerConfig.Builder config(String policy, String updates) {
    return LearnerConfig.builder(policy, kafka.bootstrapServers())
        .topics(batches, eval, control, updates)
        .transactionalId("learner-" + policy + "-" + updates)
        .pollTimeout(Duration.ofMillis(100))
        .checkpointInterval(Duration.ofHours(1))
        .evalMaxPairs(16);
  }

  static TrainerConfig trainerConfig() {
    return trainerConfig(Staleness.off());
  }

  static TrainerConfig trainerConfig(Staleness staleness) {
    return TrainerConfig.builder().maxLength(32).maxPromptLength(12).staleness(staleness)
        .schedule(new LrSchedule.WarmupConstant(3e-3, 2)).build();
  }

  static String word(SplittableRandom rnd, String alphabet) {
    int n = 3 + rnd.nextInt(4);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < n; i++) sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
    return sb.toString();
  }

  static MicroBatch batch(String id, String policy, long seq, SplittableRandom rnd, int pairs) {
    return batch(id, policy, seq, rnd, pairs, 0);
  }

  /** A micro-batch of {@code pairs} preference pairs and {@code thumbs} unpaired thumbs (alternating up/down). */
  static MicroBatch batch(String id, String policy, long seq, SplittableRandom rnd, int pairs, int thumbs) {
    return batch(id, policy, seq, rnd, pairs, thumbs, null);
  }

  /** As {@link #batch(String, String, long, SplittableRandom, int, int)}, every example produced by {@code version}. */
  static MicroBatch batch(String id, String policy, long seq, SplittableRandom rnd, int pairs, int thumbs,
      Long version) {
    List<UnpairedExample> us = new ArrayList<>();
    for (int i = 0; i < thumbs; i++) {
      boolean up = i % 2 == 0;
      us.add(UnpairedExample.newBuilder().setPrompt("Q" + rnd.nextInt(100) + ":")
          .setResponse(" " + word(rnd, up ? "aeiou" : "xzqkv")).setDesirable(up).setSourceEventId(id + "-t" + i)
          .setPolicyVersion(version).build());
    }
    List<PreferencePair> ps = new ArrayList<>();
    for (int i = 0; i < pairs; i++) {
      ps.add(PreferencePair.newBuilder().setPrompt("Q" + rnd.nextInt(100) + ":").setChosen(" " + word(rnd, "aeiou"))
          .setRejected(" " + word(rnd, "xzqkv")).setSourceEventIds(List.of(id + "-" + i)).setPolicyVersion(version).build());
    }
    Instant now = Instant.ofEpochMilli(1_700_000_000_000L + seq);
    return MicroBatch.newBuilder().setBatchId(id).setPolicyId(policy).setSequence(seq).setPairs(ps)
        .setUnpaired(us).setEventTimeStart(now).setEventTimeEnd(now).setCreatedAt(now).build();
  }

  private KafkaProducer<String, byte[]> producer() {
    return new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.ACKS_CONFIG, "all"), new StringSerializer(), new ByteArraySerializer());
  }

  void send(String topic, String key, byte[] value) throws Exception {
    try (KafkaProducer<String, byte[]> p = producer()) {
      p.send(new ProducerRecord<>(topic, key, value)).get();
    }
  }

  void sendBatches(List<MicroBatch> list) throws Exception {
    try (KafkaProducer<String, byte[]> p = producer()) {
      for (MicroBatch b : list) p.send(new ProducerRecord<>(batches, b.getPolicyId(), BATCH.encode(b))).get();
    }
  }

  long endOffset(String topic) {
    try (KafkaConsumer<String, byte[]> c = consumer()) {
      TopicPartition tp = new TopicPartition(topic, 0);
      return c.endOffsets(List.of(tp)).get(tp);
    }
  }

  private KafkaConsumer<String, byte[]> consumer() {
    return new KafkaConsumer<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed", ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false),
        new StringDeserializer(), new ByteArrayDeserializer());
  }

  /** Every committed PolicyUpdate on {@code topic}, in order. */
  List<PolicyUpdate> updates(String topic) {
    List<PolicyUpdate> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> c = consumer()) {
      TopicPartition tp = new TopicPartition(topic, 0);
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      long end = c.endOffsets(List.of(tp)).get(tp);
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (c.position(tp) < end && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) out.add(UPDATE.decode(r.value()));
      }
    }
    return out;
  }
}
