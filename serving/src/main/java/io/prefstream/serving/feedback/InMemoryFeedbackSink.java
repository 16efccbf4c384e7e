package io.prefstream.serving.feedback;

import io.prefstream.schemas.avro.PreferenceEvent;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/** A {@link FeedbackSink} that keeps events in memory, in order, with their keys. */
public final class InMemoryFeedbackSink implements FeedbackSink {
  /** One published event and its key. */
  public record Keyed(String key, PreferenceEvent event) {}

  private final List<Keyed> events = new CopyOnWriteArrayList<>();

  @Override
  public CompletableFuture<Void> publish(String key, PreferenceEvent event) {
    events.add(new Keyed(key, event));
    return CompletableFuture.completedFuture(null);
  }

  public List<Keyed> events() {
    return List.copyOf(events);
  }

  @Override
  public void close() {}
}
