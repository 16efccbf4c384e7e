package io.prefstream.learner.loop;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** The learner's Kafka clients, built one way from its {@link LearnerConfig}. */
public final class LearnerClients {
  private LearnerClients() {}

  private static Map<String, Object> base(LearnerConfig config) {
    Map<String, Object> p = new HashMap<>();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.putAll(config.clientProperties());
    return p;
  }

  /**
   * A consumer of committed records only, never committing by itself (the offsets that count are in
   * the checkpoint), reading at most {@code maxPollRecords} per poll, in {@code group} when not null.
   */
  static KafkaConsumer<String, byte[]> consumer(LearnerConfig config, String group, int maxPollRecords) {
    Map<String, Object> p = base(config);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, maxPollRecords);
    if (group != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    return new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
  }

  /** The transactional, idempotent producer whose initialisation fences an older learner of the policy. */
  static KafkaProducer<String, byte[]> transactionalProducer(LearnerConfig config) {
    Map<String, Object> p = base(config);
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, config.transactionalId());
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    KafkaProducer<String, byte[]> prod = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    try {
      prod.initTransactions();
    } catch (KafkaException e) {
      prod.close(Duration.ZERO);
      throw e;
    }
    return prod;
  }

  /** Every partition of {@code topic}, in partition order; throws when the topic does not exist. */
  static List<TopicPartition> partitions(KafkaConsumer<?, ?> c, String topic) {
    List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofSeconds(30));
    if (infos == null || infos.isEmpty()) {
      throw new IllegalStateException("topic " + topic + " does not exist; create the prefstream topics first");
    }
    return infos.stream().map(i -> new TopicPartition(i.topic(), i.partition()))
        .sorted((a, b) -> Integer.compare(a.partition(), b.partition())).toList();
  }

  /**
   * The partition of {@code topic} that holds {@code policy}'s records: the one Kafka's default
   * partitioner (and Kafka Streams') picks for the key {@code policy}, murmur2 of its UTF-8 bytes
   * modulo the partition count. Batches and control commands are keyed by policy, so a learner
   * reads this partition only; with one partition it is partition 0.
   */
  static TopicPartition policyPartition(KafkaConsumer<?, ?> c, String topic, String policy) {
    return new TopicPartition(topic, partitionOf(policy, partitions(c, topic).size()));
  }

  /** {@link #policyPartition}'s rule: the partition of key {@code policy} among {@code partitions}. */
  public static int partitionOf(String policy, int partitions) {
    byte[] key = policy.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    return org.apache.kafka.common.utils.Utils.toPositive(org.apache.kafka.common.utils.Utils.murmur2(key)) % partitions;
  }

  /** A partition's key in {@code trainer_state.json}'s offsets: {@code <topic>-<partition>}. */
  static String key(TopicPartition tp) {
    return tp.topic() + "-" + tp.partition();
  }
}
