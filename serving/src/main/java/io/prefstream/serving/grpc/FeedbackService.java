package io.prefstream.serving.grpc;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.prefstream.schemas.avro.ChatMessage;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.schemas.grpc.ComparisonFeedback;
import io.prefstream.schemas.grpc.FeedbackGrpc;
import io.prefstream.schemas.grpc.SubmitFeedbackRequest;
import io.prefstream.schemas.grpc.SubmitFeedbackResponse;
import io.prefstream.serving.feedback.EventKeys;
import io.prefstream.serving.feedback.FeedbackSink;
import io.prefstream.serving.feedback.RecentResponses;
import io.prefstream.serving.metrics.ServingMetrics;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Feedback.Submit: validates the feedback, publishes it as a {@link PreferenceEvent} keyed by
 * {@link EventKeys#key} and answers with its event id once it is durable. A client-chosen event
 * id makes a retried submit idempotent (the ingest de-duplicates by it); the response id from
 * Generate or Chat travels in the event's attributes as {@code response_id}.
 *
 * <p>Feedback may name responses instead of echoing texts: a thumb with {@code response_id} and no
 * {@code thumb.response}, or a comparison with {@code chosen_response_id} and
 * {@code rejected_response_id} (both answers to the same prompt). The {@link RecentResponses} this
 * replica keeps supply the policy, version, prompt and replies; a Chat response's conversation goes
 * into the event's {@code prompt_messages} (and its rendering into {@code prompt}), so the learner
 * trains on the conversation as it was given to the model. An id this replica does not hold (never
 * produced here, dropped for room, or past its TTL) is NOT_FOUND with what to send instead. Texts
 * sent explicitly are published as before, whatever ids come with them.
 */
public final class FeedbackService extends FeedbackGrpc.FeedbackImplBase {
  static final int MAX_EVENT_ID_CHARS = 128;
  static final int MAX_ATTRIBUTES = 32;
  static final int MAX_ATTRIBUTE_CHARS = 1024;

  private final FeedbackSink sink;
  private final RequestValidation validation;
  private final ServingConfig config;
  private final ServingMetrics metrics;
  private final RecentResponses recent;
  private final Rpc rpc;

  FeedbackService(FeedbackSink sink, RequestValidation validation, ServingConfig config, ServingMetrics metrics,
      RecentResponses recent) {
    this.sink = sink;
    this.validation = validation;
    this.config = config;
    this.metrics = metrics;
    this.recent = recent;
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
    String id = req.getEventId().isEmpty() ? UUID.randomUUID().toString() : req.getEventId();
    if (id.length() > MAX_EVENT_ID_CHARS) throw Rpc.invalid("event_id", "at most " + MAX_EVENT_ID_CHARS + " characters");
    if (req.hasPolicyVersion() && req.getPolicyVersion() < 0) {
      throw Rpc.invalid("policy_version", "must be >= 0, got " + req.getPolicyVersion());
    }
    if (req.getUserId().length() > RequestValidation.MAX_USER_ID_CHARS) {
      throw Rpc.invalid("user_id", "at most " + RequestValidation.MAX_USER_ID_CHARS + " characters");
    }
    Map<String, String> attrs = attributes(req);
    Subject subject = switch (req.getFeedbackCase()) {
      case THUMB -> thumb(req);
      case COMPARISON -> comparison(req, attrs);
      case FEEDBACK_NOT_SET -> throw Rpc.invalid("feedback", "set either thumb or comparison");
    };
    return PreferenceEvent.newBuilder().setEventId(id).setPolicyId(subject.policyId()).setPolicyVersion(subject.version())
        .setTimestamp(Instant.now()).setUserId(req.getUserId().isEmpty() ? null : req.getUserId())
        .setPrompt(subject.prompt()).setPromptMessages(subject.messages()).setFeedback(subject.feedback())
        .setAttributes(attrs).build();
  }

  /** What the event is about, from the request's texts or from remembered responses. */
  private record Subject(String policyId, Long version, String prompt, List<ChatMessage> messages, Object feedback) {}

  private Subject thumb(SubmitFeedbackRequest req) {
    boolean up = req.getThumb().getUp();
    if (req.getThumb().getResponse().isEmpty() && !req.getResponseId().isEmpty()) {
      RecentResponses.Remembered r = remembered(req.getResponseId(), "response_id");
      checkAgainst(req, r, "response_id");
      text(r.reply(), "thumb.response (the reply of response_id " + r.responseId() + ")");
      return new Subject(r.policyId(), r.version(), r.prompt(), avro(r.messages()), new Thumb(r.reply(), up ? Rating.UP : Rating.DOWN));
    }
    if (req.getThumb().getResponse().isEmpty()) {
      throw Rpc.invalid("thumb.response", "must not be empty; send the response's text, or leave it empty and set"
          + " response_id to a response this replica produced (from Generate or Chat)");
    }
    return byText(req, new Thumb(req.getThumb().getResponse(), up ? Rating.UP : Rating.DOWN), "thumb.response");
  }

  private Subject comparison(SubmitFeedbackRequest req, Map<String, String> attrs) {
    ComparisonFeedback c = req.getComparison();
    boolean byIds = !c.getChosenResponseId().isEmpty() || !c.getRejectedResponseId().isEmpty();
    if (!byIds) return byText(req, new Comparison(c.getChosen(), c.getRejected()), "comparison.chosen", "comparison.rejected");
    if (!c.getChosen().isEmpty() || !c.getRejected().isEmpty()) {
      throw Rpc.invalid("comparison", "give either the texts (chosen and rejected) or the response ids"
          + " (chosen_response_id and rejected_response_id), not both");
    }
    if (c.getChosenResponseId().isEmpty() || c.getRejectedResponseId().isEmpty()) {
      throw Rpc.invalid(c.getChosenResponseId().isEmpty() ? "comparison.chosen_response_id" : "comparison.rejected_response_id",
          "must not be empty: a comparison by response ids names both responses");
    }
    if (c.getChosenResponseId().equals(c.getRejectedResponseId())) {
      throw Rpc.invalid("comparison", "chosen_response_id and rejected_response_id are the same response");
    }
    RecentResponses.Remembered chosen = remembered(c.getChosenResponseId(), "comparison.chosen_response_id");
    RecentResponses.Remembered rejected = remembered(c.getRejectedResponseId(), "comparison.rejected_response_id");
    if (!chosen.policyId().equals(rejected.policyId())) {
      throw Rpc.invalid("comparison", "response " + chosen.responseId() + " came from policy '" + chosen.policyId()
          + "' and response " + rejected.responseId() + " from '" + rejected.policyId() + "'; compare responses of one policy");
    }
    if (!chosen.samePromptAs(rejected)) {
      throw Rpc.invalid("comparison", "responses " + chosen.responseId() + " and " + rejected.responseId()
          + " answer different prompts; a comparison needs two responses to the same prompt (or conversation)");
    }
    checkAgainst(req, chosen, "comparison.chosen_response_id");
    text(chosen.reply(), "comparison.chosen (the reply of " + chosen.responseId() + ")");
    text(rejected.reply(), "comparison.rejected (the reply of " + rejected.responseId() + ")");
    if (chosen.reply().equals(rejected.reply())) {
      throw Rpc.invalid("comparison", "responses " + chosen.responseId() + " and " + rejected.responseId()
          + " are the same text; there is no preference to learn");
    }
    attrs.put("chosen_response_id", chosen.responseId());
    attrs.put("rejected_response_id", rejected.responseId());
    // The older of the two, as the ingest does for a pair of thumbs: staleness counts from it.
    return new Subject(chosen.policyId(), Math.min(chosen.version(), rejected.version()), chosen.prompt(),
        avro(chosen.messages()), new Comparison(chosen.reply(), rejected.reply()));
  }

  /** Feedback with its texts in the request, as before response ids existed. */
  private Subject byText(SubmitFeedbackRequest req, Object feedback, String... fields) {
    String policy = validation.policyId(req.getPolicyId());
    text(req.getPrompt(), "prompt");
    if (feedback instanceof Thumb t) text(t.getResponse(), fields[0]);
    if (feedback instanceof Comparison c) {
      text(c.getChosen(), fields[0]);
      text(c.getRejected(), fields[1]);
      if (c.getChosen().equals(c.getRejected())) throw Rpc.invalid("comparison", "chosen and rejected are the same text");
    }
    return new Subject(policy, req.hasPolicyVersion() ? req.getPolicyVersion() : null, req.getPrompt(), null, feedback);
  }

  private RecentResponses.Remembered remembered(String responseId, String field) {
    if (responseId.length() > MAX_EVENT_ID_CHARS) throw Rpc.invalid(field, "at most " + MAX_EVENT_ID_CHARS + " characters");
    return recent.find(responseId).orElseThrow(() -> Status.NOT_FOUND.withDescription(field + ": response "
        + responseId + " is not among this replica's recent responses (it keeps the last " + recent.limits().describe()
        + "; the id may be older, or from another replica); send the texts instead: prompt and thumb.response, or"
        + " comparison.chosen and comparison.rejected").asRuntimeException());
  }

  /** What the request says besides the ids must agree with what the server remembers. */
  private static void checkAgainst(SubmitFeedbackRequest req, RecentResponses.Remembered r, String field) {
    if (!req.getPolicyId().isEmpty() && !req.getPolicyId().equals(r.policyId())) {
      throw Rpc.invalid("policy_id", "'" + RequestValidation.abbreviate(req.getPolicyId()) + "', but " + field + " "
          + r.responseId() + " came from policy '" + r.policyId() + "'; leave policy_id empty");
    }
    if (req.hasPolicyVersion() && req.getPolicyVersion() != r.version()) {
      throw Rpc.invalid("policy_version", req.getPolicyVersion() + ", but " + field + " " + r.responseId()
          + " came from version " + r.version() + "; leave policy_version unset");
    }
    if (!req.getPrompt().isEmpty() && !req.getPrompt().equals(r.prompt())) {
      throw Rpc.invalid("prompt", "differs from the prompt of " + field + " " + r.responseId() + "; leave prompt empty"
          + " when naming responses by id");
    }
  }

  /** The conversation as the event carries it. */
  private static List<ChatMessage> avro(List<io.prefstream.model.text.ChatMessage> messages) {
    if (messages == null) return null;
    List<ChatMessage> out = new ArrayList<>(messages.size());
    for (var m : messages) out.add(new ChatMessage(m.role(), m.content()));
    return out;
  }

  private Map<String, String> attributes(SubmitFeedbackRequest req) {
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
    return attrs;
  }

  private void text(String s, String field) {
    if (s.isEmpty()) throw Rpc.invalid(field, "must not be empty");
    if (s.length() > config.maxPromptChars()) {
      throw Rpc.invalid(field, s.length() + " characters, more than the limit of " + config.maxPromptChars());
    }
  }
}
