package io.prefstream.deploy.ingest;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import io.prefstream.schemas.serde.AvroSerdes;
import io.prefstream.schemas.topic.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * What the ingest published, as the learner would read it: {@code prefstream.batches}, {@code
 * prefstream.eval} and {@code prefstream.events.dlq} from the beginning with {@code
 * isolation.level=read_committed}, so aborted transactions never show. Call {@link #poll()} until
 * what is expected has arrived.
 */
final class Outputs implements AutoCloseable {
  final List<MicroBatch> batches = new ArrayList<>();
  final List<MicroBatch> eval = new ArrayList<>();
  final List<DeadLetter> deadLetters = new ArrayList<>();
  private final KafkaConsumer<String, byte[]> consumer;
  private final org.apache.kafka.common.serialization.Deserializer<MicroBatch> batchReader =
      AvroSerdes.singleObject(MicroBatch.class).deserializer();
  private final org.apache.kafka.common.serialization.Deserializer<DeadLetter> letterReader =
      AvroSerdes.singleObject(DeadLetter.class).deserializer();

  Outputs(String bootstrap) {
    consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false),
        new StringDeserializer(), new ByteArrayDeserializer());
    // Batches are keyed by policy over several partitions: read them all.
    List<TopicPartition> partitions = java.util.stream.Stream.of(Topics.BATCHES, Topics.EVAL, Topics.EVENTS_DLQ)
        .flatMap(t -> consumer.partitionsFor(t, Duration.ofSeconds(30)).stream().map(i -> new TopicPartition(t, i.partition())))
        .toList();
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
  }

  /** Reads what is there now; returns this for chaining in awaits. */
  Outputs poll() {
    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
      switch (r.topic()) {
        case Topics.BATCHES -> batches.add(checkKey(r, batchReader.deserialize(r.topic(), r.value())));
        case Topics.EVAL -> eval.add(checkKey(r, batchReader.deserialize(r.topic(), r.value())));
        default -> deadLetters.add(letterReader.deserialize(r.topic(), r.value()));
      }
    }
    return this;
  }

  private static MicroBatch checkKey(ConsumerRecord<String, byte[]> r, MicroBatch b) {
    assertThat(r.key()).as("key of batch %s", b.getBatchId()).isEqualTo(b.getPolicyId());
    return b;
  }

  /** How many times each event id appears in a pair or unpaired example, on either topic. */
  Map<String, Integer> appearances() {
    Map<String, Integer> count = new HashMap<>();
    for (List<MicroBatch> topic : List.of(batches, eval)) {
      for (MicroBatch b : topic) {
        for (PreferencePair p : b.getPairs()) p.getSourceEventIds().forEach(id -> count.merge(id, 1, Integer::sum));
        for (UnpairedExample u : b.getUnpaired()) count.merge(u.getSourceEventId(), 1, Integer::sum);
      }
    }
    return count;
  }

  /** True once every id in {@code ids} appears at least once. */
  boolean containsAll(Set<String> ids) {
    return appearances().keySet().containsAll(ids);
  }

  /** Sequences on each topic run 0, 1, 2 … per policy, with no gap and no repeat. */
  void assertContiguousSequences() {
    for (List<MicroBatch> topic : List.of(batches, eval)) {
      Map<String, Long> next = new HashMap<>();
      for (MicroBatch b : topic) {
        long expected = next.getOrDefault(b.getPolicyId(), 0L);
        assertThat(b.getSequence()).as("sequence of %s", b.getBatchId()).isEqualTo(expected);
        next.put(b.getPolicyId(), expected + 1);
      }
    }
  }

  @Override
  public void close() {
    consumer.close();
  }
}
