package io.prefstream.deploy.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PolicyUpdate;
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
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * What the pipeline committed, read as its consumers read it ({@code read_committed}, from the
 * beginning): the batches and eval batches of the ingest and the learner's PolicyUpdates.
 */
final class ClusterOutputs implements AutoCloseable {
  final List<MicroBatch> batches = new ArrayList<>();
  final List<MicroBatch> eval = new ArrayList<>();
  final List<PolicyUpdate> updates = new ArrayList<>();
  private final KafkaConsumer<String, byte[]> consumer;
  private final Deserializer<MicroBatch> batchReader = AvroSerdes.singleObject(MicroBatch.class).deserializer();
  private final Deserializer<PolicyUpdate> updateReader = AvroSerdes.singleObject(PolicyUpdate.class).deserializer();

  ClusterOutputs(String bootstrap) {
    this(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap));
  }

  /** @param clientConfig bootstrap servers and any security settings */
  ClusterOutputs(Map<String, Object> clientConfig) {
    Map<String, Object> c = new HashMap<>(clientConfig);
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    consumer = new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer());
    // Batches are keyed by policy over several partitions: read them all.
    List<TopicPartition> partitions = new ArrayList<>(consumer.partitionsFor(Topics.BATCHES, Duration.ofSeconds(30)).stream()
        .map(i -> new TopicPartition(Topics.BATCHES, i.partition())).toList());
    partitions.add(new TopicPartition(Topics.EVAL, 0));
    partitions.add(new TopicPartition(Topics.POLICY_UPDATES, 0));
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
  }

  /** Reads what is there now; returns this for chaining in awaits. */
  ClusterOutputs poll() {
    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
      switch (r.topic()) {
        case Topics.BATCHES -> batches.add(batchReader.deserialize(r.topic(), r.value()));
        case Topics.EVAL -> eval.add(batchReader.deserialize(r.topic(), r.value()));
        default -> updates.add(updateReader.deserialize(r.topic(), r.value()));
      }
    }
    return this;
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
