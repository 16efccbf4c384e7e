package io.prefstream.schemas.topic;

import java.util.List;
import java.util.Map;

/**
 * The topic names of DESIGN.md and the settings each is created with, in one place. Names are part
 * of the contract: apps publish to {@link #EVENTS}, operators read {@link #ROLLOUT}. Every message is
 * keyed by policy id (events by policy id + prompt hash).
 */
public final class Topics {
  private Topics() {}

  public static final String EVENTS = "prefstream.events";
  public static final String EVENTS_DLQ = "prefstream.events.dlq";
  public static final String BATCHES = "prefstream.batches";
  public static final String EVAL = "prefstream.eval";
  public static final String POLICY_UPDATES = "prefstream.policy-updates";
  public static final String ROLLOUT = "prefstream.rollout";
  public static final String CONTROL = "prefstream.control";
  /** LoRA checkpoints for replicas without a shared disk: chunks + manifest, keyed by policy/version/file/chunk. */
  public static final String CHECKPOINTS = "prefstream.checkpoints";

  private static final long DAY_MS = 24L * 60 * 60 * 1000;

  /**
   * Partitions of the topics keyed by policy that learners read ({@link #BATCHES}, {@link #CONTROL}):
   * the most learner instances that can share the policies, since a policy's batches and commands
   * are in one partition of each (the one Kafka's default partitioner picks for its id) and the
   * learner fleet assigns whole partitions. Learners and the ingest follow a topic's actual count,
   * so create the topics yourself with more partitions where more learner instances are wanted.
   */
  public static final int POLICY_PARTITIONS = 12;

  /**
   * All topics with their default settings for a cluster whose replication factor is {@code rf}.
   * Events are spread over partitions by prompt; batches and control commands over
   * {@link #POLICY_PARTITIONS} partitions by policy, so one policy's are in one partition, in order.
   */
  public static List<TopicSpec> all(short rf) {
    return List.of(
        // Raw feedback: a week, enough to replay after an ingest bug fix.
        new TopicSpec(EVENTS, 6, rf, Map.of("retention.ms", Long.toString(7 * DAY_MS))),
        // Dead letters are evidence for app teams: keep them longer than the events.
        new TopicSpec(EVENTS_DLQ, 1, rf, Map.of("retention.ms", Long.toString(30 * DAY_MS))),
        // Keyed by policy: a learner reads its policy's partition, a fleet spreads partitions over instances.
        new TopicSpec(BATCHES, POLICY_PARTITIONS, rf, Map.of("retention.ms", Long.toString(7 * DAY_MS))),
        new TopicSpec(EVAL, 1, rf, Map.of("retention.ms", Long.toString(7 * DAY_MS))),
        new TopicSpec(POLICY_UPDATES, 1, rf, Map.of("retention.ms", Long.toString(30 * DAY_MS))),
        // Desired rollout state per policy id: compacted, so the last word per key is kept forever.
        new TopicSpec(ROLLOUT, 1, rf, Map.of("cleanup.policy", "compact", "min.compaction.lag.ms", "0")),
        new TopicSpec(CONTROL, POLICY_PARTITIONS, rf, Map.of("retention.ms", Long.toString(30 * DAY_MS))),
        // Checkpoint chunks: compacted (every key is one chunk of one version, so all are kept);
        // a version's records go to its policy's partition. max.message.bytes stays the broker's
        // default (1 MiB), which the chunk size is derived from.
        new TopicSpec(CHECKPOINTS, 3, rf, Map.of("cleanup.policy", "compact", "min.compaction.lag.ms", "0")));
  }
}
