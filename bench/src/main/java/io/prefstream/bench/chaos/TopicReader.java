package io.prefstream.bench.chaos;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads a whole topic as a {@code read_committed} consumer without a group (assign + seek to the
 * beginning, up to the last stable offset of each partition), so the checks see exactly what
 * committed transactions and plain producers wrote, and nothing of an aborted transaction.
 */
final class TopicReader {
  private TopicReader() {}

  /** Every committed record of {@code topic}, partition by partition, in offset order. */
  static List<ConsumerRecord<String, byte[]>> readAll(String bootstrap, String topic) {
    try (KafkaConsumer<String, byte[]> c = consumer(bootstrap)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (PartitionInfo p : c.partitionsFor(topic, Duration.ofSeconds(30))) {
        tps.add(new TopicPartition(topic, p.partition()));
      }
      c.assign(tps);
      c.seekToBeginning(tps);
      // For read_committed, endOffsets is the last stable offset: everything below it is decided.
      Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofSeconds(30));
      List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
      long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
      while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        if (System.nanoTime() > deadline) throw new IllegalStateException("could not read " + topic + " to its end");
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(500))) {
          if (r.offset() < end.get(new TopicPartition(r.topic(), r.partition()))) out.add(r);
        }
      }
      return out;
    }
  }

  /** The last stable offset of each partition of {@code topic}, keyed {@code topic-partition}. */
  static Map<String, Long> endOffsets(String bootstrap, String topic) {
    try (KafkaConsumer<String, byte[]> c = consumer(bootstrap)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (PartitionInfo p : c.partitionsFor(topic, Duration.ofSeconds(30))) {
        tps.add(new TopicPartition(topic, p.partition()));
      }
      Map<String, Long> out = new java.util.TreeMap<>();
      c.endOffsets(tps, Duration.ofSeconds(30)).forEach((tp, o) -> out.put(tp.topic() + "-" + tp.partition(), o));
      return out;
    }
  }

  /**
   * One past the last committed record of each partition of {@code records}' topic, keyed
   * {@code topic-partition}: where a reader that consumed every record stands. (The end offset is
   * past that when the last thing written was a transaction marker, which no reader consumes.)
   */
  static Map<String, Long> pastLastRecord(List<ConsumerRecord<String, byte[]>> records) {
    Map<String, Long> out = new java.util.TreeMap<>();
    for (ConsumerRecord<String, byte[]> r : records) {
      out.merge(r.topic() + "-" + r.partition(), r.offset() + 1, Math::max);
    }
    return out;
  }

  private static KafkaConsumer<String, byte[]> consumer(String bootstrap) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, "prefstream-chaos-check");
    return new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
  }
}
