package io.prefstream.serving.feedback;

import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.serde.PreferenceEventSerializer;
import io.prefstream.schemas.topic.Topics;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Publishes events to prefstream.events in Avro single-object encoding with an idempotent producer
 * (acks=all), so an acknowledged Submit is durable and a producer retry does not duplicate it.
 */
public final class KafkaFeedbackSink implements FeedbackSink {
  private final KafkaProducer<String, PreferenceEvent> producer;

  public KafkaFeedbackSink(String bootstrapServers, Map<String, Object> overrides) {
    Map<String, Object> cfg = new HashMap<>();
    cfg.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    cfg.put(ProducerConfig.ACKS_CONFIG, "all");
    cfg.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    // Feedback arrives one event per request: do not hold it back waiting for a batch.
    cfg.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    cfg.put(ProducerConfig.CLIENT_ID_CONFIG, "prefstream-serving-feedback");
    cfg.putAll(overrides);
    producer = new KafkaProducer<>(cfg, new StringSerializer(), new PreferenceEventSerializer());
  }

  @Override
  public CompletableFuture<Void> publish(String key, PreferenceEvent event) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    producer.send(new ProducerRecord<>(Topics.EVENTS, key, event), (md, err) -> {
      if (err != null) done.completeExceptionally(err);
      else done.complete(null);
    });
    return done;
  }

  @Override
  public void close() {
    producer.close();
  }
}
