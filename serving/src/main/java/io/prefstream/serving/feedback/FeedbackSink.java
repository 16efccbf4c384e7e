package io.prefstream.serving.feedback;

import io.prefstream.schemas.avro.PreferenceEvent;
import java.util.concurrent.CompletableFuture;

/**
 * Where {@code Feedback.Submit} puts validated events: Kafka's prefstream.events in production
 * ({@link KafkaFeedbackSink}), an in-process list otherwise ({@link InMemoryFeedbackSink}). The key
 * is {@link EventKeys#key}.
 */
public interface FeedbackSink extends AutoCloseable {
  /** Completes when the event is durable (acknowledged by the broker). */
  CompletableFuture<Void> publish(String key, PreferenceEvent event);

  @Override
  void close();
}
