package io.prefstream.learner.loop;

import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.schemas.avro.CheckpointFormat;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.serde.SingleObjectCodec;
import java.time.Duration;
import java.net.URI;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes a policy's {@link PolicyUpdate}s to {@code prefstream.policy-updates}, each in its own
 * transaction of the producer {@code transactionalId}: opening a publisher fences any older one
 * with the same id (the second one-writer fence), so a zombie learner cannot publish after its
 * successor started. Finds the newest version already published, so a checkpoint whose update a
 * crash lost is published on the next start. Owned by the learner's thread.
 */
final class UpdatePublisher implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(UpdatePublisher.class);

  private final LearnerConfig config;
  private final KafkaProducer<String, byte[]> producer;
  private final SingleObjectCodec<PolicyUpdate> codec = new SingleObjectCodec<>(PolicyUpdate.class);

  UpdatePublisher(LearnerConfig config) {
    this.config = config;
    this.producer = LearnerClients.transactionalProducer(config);
  }

  /**
   * Publishes the update of checkpoint {@code cp}, reachable at {@code uri}, with {@code state}'s finite metrics plus
   * {@code extraMetrics} (the evaluation); returns the metrics it carried.
   */
  Map<String, Double> publish(Checkpoint cp, URI uri, TrainerState state, Map<String, Double> extraMetrics) {
    Map<String, Double> m = new LinkedHashMap<>(state.metrics());
    m.entrySet().removeIf(e -> !Double.isFinite(e.getValue()));
    m.putAll(extraMetrics);
    PolicyUpdate update = PolicyUpdate.newBuilder()
        .setPolicyId(config.policyId())
        .setVersion(cp.version())
        .setParentVersion(state.parentVersion())
        .setReferenceId(state.referenceId())
        .setCheckpointUri(uri.toString())
        .setSha256(cp.manifestSha256())
        .setFormat(CheckpointFormat.valueOf(cp.format()))
        .setStep(state.step())
        .setExamplesSeen(state.examplesSeen())
        .setMetrics(m)
        .setCreatedAt(Instant.now())
        .build();
    producer.beginTransaction();
    try {
      producer.send(new ProducerRecord<>(config.updatesTopic(), config.policyId(), codec.encode(update)));
      producer.commitTransaction();
    } catch (KafkaException e) {
      try {
        producer.abortTransaction();
      } catch (KafkaException abort) {
        e.addSuppressed(abort);
      }
      throw e;
    }
    return m;
  }

  /** The newest version of this policy on the updates topic (0 when none), scanning back from the end. */
  long lastPublishedVersion() {
    return PublishedUpdates.newest(config).map(PolicyUpdate::getVersion).orElse(0L);
  }

  @Override
  public void close() {
    producer.close(Duration.ofSeconds(5));
  }
}
