package io.prefstream.learner.loop;

import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.checkpoint.kafka.KafkaVersionStore;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.serde.SingleObjectCodec;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a policy has published on {@code prefstream.policy-updates}: its newest {@link PolicyUpdate}
 * (read back from the end in windows, so a long topic costs little), and, for a learner starting on
 * a machine that does not have the policy's checkpoints, that version fetched through the Kafka
 * checkpoint store into the local store it restores from.
 */
public final class PublishedUpdates {
  private static final Logger log = LoggerFactory.getLogger(PublishedUpdates.class);
  private static final SingleObjectCodec<PolicyUpdate> CODEC = new SingleObjectCodec<>(PolicyUpdate.class);

  private PublishedUpdates() {}

  /** The newest committed update of {@code config.policyId()}, if it published any. */
  static Optional<PolicyUpdate> newest(LearnerConfig config) {
    PolicyUpdate best = null;
    try (KafkaConsumer<String, byte[]> c = LearnerClients.consumer(config, null, 500)) {
      List<TopicPartition> tps = LearnerClients.partitions(c, config.updatesTopic());
      c.assign(tps);
      Map<TopicPartition, Long> begin = c.beginningOffsets(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps);
      for (TopicPartition tp : tps) {
        c.pause(tps.stream().filter(t -> !t.equals(tp)).toList());
        c.resume(List.of(tp));
        PolicyUpdate u = newestIn(c, config.policyId(), tp, begin.get(tp), end.get(tp));
        if (u != null && (best == null || u.getVersion() > best.getVersion())) best = u;
      }
    }
    return Optional.ofNullable(best);
  }

  /** Reads windows of 256 records back from {@code end} until one holds an update of this policy. */
  private static PolicyUpdate newestIn(KafkaConsumer<String, byte[]> c, String policy, TopicPartition tp, long begin, long end) {
    long hi = end;
    PolicyUpdate found = null;
    while (found == null && hi > begin) {
      long lo = Math.max(begin, hi - 256);
      c.seek(tp, lo);
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (c.position(tp) < hi) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("timed out reading " + tp + " to find the last published version");
        }
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          if (r.offset() >= hi || !policy.equals(r.key()) || r.value() == null) continue;
          try {
            PolicyUpdate u = CODEC.decode(r.value());
            if (policy.equals(u.getPolicyId()) && (found == null || u.getVersion() > found.getVersion())) found = u;
          } catch (RuntimeException e) {
            log.warn("{} offset {}: not a PolicyUpdate ({}); ignored", tp, r.offset(), e.getMessage());
          }
        }
      }
      hi = lo;
    }
    return found;
  }

  /**
   * Before a learner of {@code config.policyId()} opens its session: when the policy's newest update
   * names a checkpoint in the Kafka store ({@code kafka:} URI) that {@code local} does not have
   * (nor a newer one), fetches it through {@code config.versionStore()} (verified against the
   * update's sha256) and writes it into {@code local}, so the session resumes from it. This is how a
   * policy moves between machines that share nothing but Kafka: the checkpoint carries the adapter,
   * the optimiser state and the input offsets. Returns the version fetched, if any.
   */
  public static Optional<Long> fetchNewest(LearnerConfig config, CheckpointStore local) throws IOException {
    // Only the Kafka store has checkpoints a local directory may lack; with the directory store the
    // scan of the updates topic would be start-up work for nothing.
    if (!(config.versionStore() instanceof KafkaVersionStore)) return Optional.empty();
    Optional<PolicyUpdate> newest = newest(config);
    if (newest.isEmpty()) return Optional.empty();
    PolicyUpdate u = newest.get();
    URI uri = URI.create(u.getCheckpointUri());
    if (!KafkaVersionStore.SCHEME.equals(uri.getScheme()) || !config.versionStore().reads(uri)) return Optional.empty();
    String policy = config.policyId();
    long have = local.latestComplete(policy).map(Checkpoint::version).orElse(0L);
    if (have >= u.getVersion()) return Optional.empty();
    config.versionStore().open(uri, policy, u.getVersion(), u.getSha256());
    if (!local.list(policy).contains(u.getVersion())) {
      throw new IllegalStateException("fetched " + uri + " but it is not in " + local.root() + ": the Kafka checkpoint"
          + " store must cache into the learner's checkpoint directory");
    }
    log.info("policy {}: fetched v{} (step {}) from {} into {}: it was not on this machine", policy, u.getVersion(),
        u.getStep(), uri, local.root());
    return Optional.of(u.getVersion());
  }
}
