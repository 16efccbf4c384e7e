package io.prefstream.serving.grpc;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.schemas.grpc.FeedbackGrpc;
import io.prefstream.schemas.grpc.SubmitFeedbackRequest;
import io.prefstream.schemas.grpc.SubmitFeedbackResponse;
import io.prefstream.serving.feedback.EventKeys;
import io.prefstream.serving.feedback.FeedbackSink;
import io.prefstream.serving.metrics.ServingMetrics;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Feedback.Submit: validates the feedback, publishes it as a {@link PreferenceEvent} keyed by
 * {@link EventKeys#key} and answers with its event id once it is durable. A client-chosen event
 * id makes a retried submit idempotent (the ingest de-duplicates by it); the response id from
 * Generate travels in the event's attributes as {@code response_id}.
 */
public final class FeedbackService extends FeedbackGrpc.FeedbackImplBase {
  static final int MAX_EVENT_ID_CHARS = 128;
  static final int MAX_ATTRIBUTES = 32;
  static final int MAX_ATTRIBUTE_CHARS = 1024;

  private final FeedbackSink sink;
  private final RequestValidation validation;
  private final ServingConfig config;
  private final ServingMetrics metrics;
  private final Rpc rpc;

  FeedbackService(FeedbackSink sink, RequestValidation validation, ServingConfig config, ServingMetrics metrics) {
    this.sink = sink;
    this.validation = validation;
    this.config = config;
    this.metrics = metrics;
    this.rpc = new Rpc(metrics);
  }

  @Override
  public void submit(SubmitFeedbackRequest req, StreamObserver<SubmitFeedbackResponse> obs) {
    rpc.run("Submit", obs, () -> {
      PreferenceEvent event = event(req);
      long waitMs = Context.current().getDeadline() == null ? 10_000
          : Math.max(1, Context.current().getDeadline().timeRemaining(TimeUnit.MILLISECONDS));
      try {
        sink.publish(EventKeys.key(event.getPolicyId(), event.getPrompt()), event).get(waitMs, TimeUnit.MILLISECONDS);
      } catch (ExecutionException e) {
        throw Status.UNAVAILABLE.withDescription("could not publish the event: " + e.getCause()).withCause(e.getCause())
            .asRuntimeException();
      } catch (TimeoutException e) {
        throw Status.DEADLINE_EXCEEDED.withDescription("the event was not acknowledged within " + waitMs + " ms; retry with"
            + " the same event_id").asRuntimeException();
      }
      metrics.feedbackPublished.labelValues(event.getPolicyId()).inc();
      obs.onNext(SubmitFeedbackResponse.newBuilder().setEventId(event.getEventId()).build());
      obs.onCompleted();
    });
  }

  PreferenceEvent event(SubmitFeedbackRequest req) {
    String policy = validation.policyId(req.getPolicyId());
    String id = req.getEventId().isEmpty() ? UUID.randomUUID().toString() : req.getEventId();
    if (id.length() > MAX_EVENT_ID_CHARS) throw Rpc.invalid("event_id", "at most " + MAX_EVENT_ID_CHARS + " characters");
    if (req.hasPolicyVersion() && req.getPolicyVersion() < 0) {
      throw Rpc.invalid("policy_version", "must be >= 0, got " + req.getPolicyVersion());
    }
    if (req.getUserId().length() > RequestValidation.MAX_USER_ID_CHARS) {
      throw Rpc.invalid("user_id", "at most " + RequestValidation.MAX_USER_ID_CHARS + " characters");
    }
    text(req.getPrompt(), "prompt");
    Object feedback = switch (req.getFeedbackCase()) {
      case THUMB -> {
        text(req.getThumb().getResponse(), "thumb.response");
        yield new Thumb(req.getThumb().getResponse(), req.getThumb().getUp() ? Rating.UP : Rating.DOWN);
      }
      case COMPARISON -> {
        text(req.getComparison().getChosen(), "comparison.chosen");
        text(req.getComparison().getRejected(), "comparison.rejected");
        if (req.getComparison().getChosen().equals(req.getComparison().getRejected())) {
          throw Rpc.invalid("comparison", "chosen and rejected are the same text");
        }
        yield new Comparison(req.getComparison().getChosen(), req.getComparison().getRejected());
      }
      case FEEDBACK_NOT_SET -> throw Rpc.invalid("feedback", "set either thumb or comparison");
    };
    if (req.getAttributesCount() > MAX_ATTRIBUTES) {
      throw Rpc.invalid("attributes", "at most " + MAX_ATTRIBUTES + " entries, got " + req.getAttributesCount());
    }
    Map<String, String> attrs = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : req.getAttributesMap().entrySet()) {
      if (e.getKey().isEmpty() || e.getKey().length() > 128 || e.getValue().length() > MAX_ATTRIBUTE_CHARS) {
        throw Rpc.invalid("attributes['" + RequestValidation.abbreviate(e.getKey()) + "']",
            "keys need 1 to 128 characters and values at most " + MAX_ATTRIBUTE_CHARS);
      }
      attrs.put(e.getKey(), e.getValue());
    }
    if (!req.getResponseId().isEmpty()) {
      if (req.getResponseId().length() > MAX_EVENT_ID_CHARS) throw Rpc.invalid("response_id", "at most " + MAX_EVENT_ID_CHARS + " characters");
      attrs.put("response_id", req.getResponseId());
    }
    return PreferenceEvent.newBuilder().setEventId(id).setPolicyId(policy)
        .setPolicyVersion(req.hasPolicyVersion() ? req.getPolicyVersion() : null).setTimestamp(Instant.now())
        .setUserId(req.getUserId().isEmpty() ? null : req.getUserId()).setPrompt(req.getPrompt()).setFeedback(feedback)
        .setAttributes(attrs).build();
  }

  private void text(String s, String field) {
    if (s.isEmpty()) throw Rpc.invalid(field, "must not be empty");
    if (s.length() > config.maxPromptChars()) {
      throw Rpc.invalid(field, s.length() + " characters, more than the limit of " + config.maxPromptChars());
    }
  }
}
