package io.prefstream.schemas.topic;

import java.util.Map;
import java.util.Objects;

/**
 * One topic's name and the settings it is created with. Settings are Kafka topic configs
 * ({@code cleanup.policy}, {@code retention.ms} …); partitions and replication are separate because
 * the admin API takes them apart from the config map.
 */
public record TopicSpec(String name, int partitions, short replicationFactor, Map<String, String> configs) {
  public TopicSpec {
    Objects.requireNonNull(name, "name");
    if (name.isBlank()) throw new IllegalArgumentException("topic name must not be blank");
    if (partitions < 1) throw new IllegalArgumentException("partitions must be >= 1, got " + partitions);
    if (replicationFactor < 1) throw new IllegalArgumentException("replicationFactor must be >= 1, got " + replicationFactor);
    configs = Map.copyOf(configs);
  }

  /** The same topic with another replication factor (1 on the embedded single-node broker). */
  public TopicSpec withReplicationFactor(short rf) {
    return new TopicSpec(name, partitions, rf, configs);
  }
}
