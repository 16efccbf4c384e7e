package io.prefstream.serving.grpc;

import io.grpc.Context;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.prefstream.model.generate.FinishReason;
import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.TokenListener;
import io.prefstream.model.generate.TokenText;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.tokenizer.StreamingDecoder;
import io.prefstream.model.tokenizer.Tokenizer;
import io.prefstream.schemas.grpc.ChatChunk;
import io.prefstream.schemas.grpc.ChatRequest;
import io.prefstream.schemas.grpc.ChatResponse;
import io.prefstream.schemas.grpc.GenerateChunk;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerateResponse;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.PolicyRef;
import io.prefstream.schemas.grpc.ResponseScore;
import io.prefstream.schemas.grpc.ScoreRequest;
import io.prefstream.schemas.grpc.ScoreResponse;
import io.prefstream.serving.feedback.RecentResponses;
import io.prefstream.serving.fluency.ServedFluency;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.registry.Lease;
import io.prefstream.serving.registry.PolicyRegistry;
import io.prefstream.serving.registry.RefusedVersionException;
import io.prefstream.serving.engine.BatchEngine;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.locks.LockSupport;

/**
 * Generate, GenerateStream, Chat, ChatStream and Score. Each call validates its request, takes a
 * concurrency permit and a {@link Lease} on one policy version, and runs start to finish on that
 * version; generation runs as one sequence of the replica's {@link BatchEngine}, batched with every
 * other running request; the response names the policy, the version and a fresh response id. Chat is a thin layer:
 * it turns the messages into prompt ids with the model's chat template, then runs the very path
 * Generate runs. Every generated response is remembered in {@link RecentResponses} so that feedback
 * can name it by id. With {@code sampling.best_of} a unary call samples several candidates and
 * returns the one with the highest implicit reward ({@link BestOfN}). Token callbacks stop the work
 * as soon as the call is cancelled or its deadline passes. The streams honour flow control: they wait (holding the permit) while the client is not
 * ready for more.
 */
public final class GenerationService extends GenerationGrpc.GenerationImplBase {
  private final PolicyRegistry registry;
  private final Tokenizer tokenizer;
  private final RequestValidation validation;
  private final ConcurrencyLimiter limiter;
  private final ServingMetrics metrics;
  private final ServingConfig config;
  private final RecentResponses recent;
  private final Rpc rpc;
  private final java.util.Set<Integer> eos;
  private final BatchEngine engine;
  private final ServedFluency fluency;

  GenerationService(PolicyRegistry registry, ServingConfig config, ConcurrencyLimiter limiter, ServingMetrics metrics,
      RecentResponses recent, BatchEngine engine, ServedFluency fluency) {
    this.registry = registry;
    this.engine = engine;
    this.fluency = fluency;
    this.tokenizer = registry.base().tokenizer();
    this.config = config;
    this.validation = new RequestValidation(config, registry.base().config().maxPositions(), registry.settings().defaultPolicy(),
        tokenizer);
    this.limiter = limiter;
    this.metrics = metrics;
    this.recent = recent;
    this.rpc = new Rpc(metrics);
    this.eos = registry.base().stopTokenIds();
  }

  private TokenText text() {
    return ids -> tokenizer.decode(ids, false);
  }

  private static PolicyRef ref(Lease lease) {
    return PolicyRef.newBuilder().setPolicyId(lease.policyId()).setVersion(lease.version()).build();
  }

  static String finishReason(FinishReason r) {
    return r.name().toLowerCase(Locale.ROOT);
  }

  private static TokenListener cancellable(Context ctx, TokenListener inner) {
    return token -> {
      if (ctx.isCancelled()) throw new Rpc.Cancelled();
      if (inner != null) inner.onToken(token);
    };
  }

  /** One finished generation: on which version, under which response id, what it produced (and, best-of-n, how it won). */
  private record Generated(PolicyRef policy, String responseId, GenerationResult result, BestOfN.Outcome bestOf,
      List<String> candidateIds) {
    String finishReason() {
      return GenerationService.finishReason(result.finishReason());
    }

    double implicitReward() {
      return bestOf == null ? 0 : bestOf.chosen().reward();
    }

    List<io.prefstream.schemas.grpc.Candidate> candidates(RequestValidation.Generation g) {
      return bestOf == null || !g.bestOf().returnCandidates() ? List.of() : bestOf.ranked(candidateIds);
    }
  }

  /** What a prompt is, to remember with its response: Generate's text, or Chat's conversation and rendering. */
  private record Prompt(String text, List<ChatMessage> messages) {}

  /** Sends one streamed piece: the text new since the last piece and the tokens generated so far. */
  @FunctionalInterface
  private interface Piece {
    void send(PolicyRef policy, String responseId, String text, int completionTokens);
  }

  /** Admission, lease on a version (canary-routed by user id), generation, metrics, memory: what every unary call does. */
  private Generated run(RequestValidation.Generation g, String userId, Prompt prompt) throws RefusedVersionException {
    Context ctx = Context.current();
    try (ConcurrencyLimiter.Permit p = limiter.acquire(); Lease lease = registry.acquire(g.policyId(), userId)) {
      if (g.bestOf() != null) return bestOf(g, lease, prompt, ctx);
      // No listener: a unary call needs only the end (the engine then sends no per-token events); a cancel is seen
      // through ctx::isCancelled within the engine's 20 ms poll.
      GenerationResult r = engine.generate(lease.model(), g.prompt(), g.params(), text(), null, ctx::isCancelled);
      return done(g, lease, UUID.randomUUID().toString(), r, prompt, null, List.of());
    }
  }

  /** Best-of-n on one lease; returned candidates are remembered too, so an app can show two and send the choice by ids. */
  private Generated bestOf(RequestValidation.Generation g, Lease lease, Prompt prompt, Context ctx) throws RefusedVersionException {
    BestOfN.Outcome o = BestOfN.run(engine, registry, lease, g, text(),
        reply -> validation.reply(prompt.text(), prompt.messages(), reply), ctx::isCancelled);
    int others = o.candidates().stream().mapToInt(c -> c.result().tokens().length).sum() - o.chosen().result().tokens().length;
    metrics.tokensGenerated.labelValues(g.policyId()).inc(others);
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < o.candidates().size(); i++) {
      String id = UUID.randomUUID().toString();
      ids.add(id);
      if (i != o.best() && g.bestOf().returnCandidates()) {
        recent.remember(new RecentResponses.Remembered(id, lease.policyId(), lease.version(), prompt.text(),
            prompt.messages(), o.candidates().get(i).result().text()));
      }
    }
    return done(g, lease, ids.get(o.best()), o.chosen().result(), prompt, o, ids);
  }

  private Generated done(RequestValidation.Generation g, Lease lease, String responseId, GenerationResult r, Prompt prompt,
      BestOfN.Outcome bestOf, List<String> candidateIds) {
    metrics.tokensGenerated.labelValues(g.policyId()).inc(r.tokens().length);
    if (bestOf == null) {
      fluency.offer(lease, () -> validation.reply(prompt.text(), prompt.messages(), r.text()));
    } else if (g.bestOf().returnCandidates()) {
      // Every candidate goes to the user (an A/B pair shows two): each is a served reply.
      for (BestOfN.Scored c : bestOf.candidates()) fluency.offerScored(lease, c.referenceLogp(), c.scoredTokens());
    } else {
      fluency.offerScored(lease, bestOf.chosen().referenceLogp(), bestOf.chosen().scoredTokens());
    }
    recent.remember(new RecentResponses.Remembered(responseId, lease.policyId(), lease.version(), prompt.text(),
        prompt.messages(), r.text()));
    return new Generated(ref(lease), responseId, r, bestOf, candidateIds);
  }

  /**
   * The streaming twin of {@link #run}: pieces go out as tokens are decoded; returns the result and
   * the text not sent yet (the caller sends it in the finished message).
   */
  private Streamed stream(ServerCallStreamObserver<?> call, RequestValidation.Generation g, String userId, Prompt prompt,
      Piece piece) {
    Context ctx = Context.current();
    try (ConcurrencyLimiter.Permit p = limiter.acquire(); Lease lease = registry.acquire(g.policyId(), userId)) {
      String responseId = UUID.randomUUID().toString();
      PolicyRef policy = ref(lease);
      StreamingDecoder decoder = tokenizer.streamDecoder();
      int holdBack = g.params().stopStrings().stream().mapToInt(String::length).max().orElse(1) - 1;
      int[] sent = {0};
      int[] count = {0};
      GenerationResult r = engine.generate(lease.model(), g.prompt(), g.params(), text(), cancellable(ctx, token -> {
        count[0]++;
        decoder.push(token);
        String so = decoder.text();
        // With stop strings, keep back what could still turn out to be the start of one.
        int safe = so.length() - holdBack;
        for (String stop : g.params().stopStrings()) {
          int at = so.indexOf(stop, Math.max(0, sent[0] - stop.length()));
          if (at >= 0) safe = Math.min(safe, at);
        }
        if (safe > sent[0]) {
          awaitReady(call, ctx);
          piece.send(policy, responseId, so.substring(sent[0], safe), count[0]);
          sent[0] = safe;
        }
      }), ctx::isCancelled);
      Generated generated = done(g, lease, responseId, r, prompt, null, List.of());
      String all = r.text();
      awaitReady(call, ctx);
      return new Streamed(generated, all.length() > sent[0] ? all.substring(sent[0]) : "");
    }
  }

  private record Streamed(Generated generated, String rest) {}

  @Override
  public void generate(GenerateRequest req, StreamObserver<GenerateResponse> obs) {
    rpc.run("Generate", obs, () -> {
      RequestValidation.Generation g = validation.generation(req, eos);
      Generated out = run(g, req.getUserId(), new Prompt(req.getPrompt(), null));
      obs.onNext(GenerateResponse.newBuilder().setPolicy(out.policy()).setResponseId(out.responseId())
          .setText(out.result().text()).setPromptTokens(g.prompt().length)
          .setCompletionTokens(out.result().tokens().length).setFinishReason(out.finishReason())
          .setImplicitReward(out.implicitReward()).addAllCandidates(out.candidates(g)).build());
      obs.onCompleted();
    });
  }

  @Override
  public void generateStream(GenerateRequest req, StreamObserver<GenerateChunk> obs) {
    ServerCallStreamObserver<GenerateChunk> call = (ServerCallStreamObserver<GenerateChunk>) obs;
    // Cancellation is observed through the Context; this keeps onNext after a cancel from throwing.
    call.setOnCancelHandler(() -> {});
    rpc.run("GenerateStream", obs, () -> {
      RequestValidation.Generation g = validation.generation(req, eos).streamable();
      Streamed s = stream(call, g, req.getUserId(), new Prompt(req.getPrompt(), null), (policy, id, text, tokens) ->
          call.onNext(GenerateChunk.newBuilder().setPolicy(policy).setResponseId(id).setText(text)
              .setCompletionTokens(tokens).build()));
      Generated out = s.generated();
      call.onNext(GenerateChunk.newBuilder().setPolicy(out.policy()).setResponseId(out.responseId()).setText(s.rest())
          .setFinished(true).setFinishReason(out.finishReason()).setCompletionTokens(out.result().tokens().length).build());
      call.onCompleted();
    });
  }

  @Override
  public void chat(ChatRequest req, StreamObserver<ChatResponse> obs) {
    rpc.run("Chat", obs, () -> {
      RequestValidation.Chat c = validation.chat(req, eos);
      Generated out = run(c.generation(), req.getUserId(), new Prompt(c.renderedPrompt(), c.messages()));
      obs.onNext(ChatResponse.newBuilder().setPolicy(out.policy()).setResponseId(out.responseId())
          .setText(out.result().text()).setPromptTokens(c.generation().prompt().length)
          .setCompletionTokens(out.result().tokens().length).setFinishReason(out.finishReason())
          .setRenderedPrompt(c.renderedPrompt()).setImplicitReward(out.implicitReward())
          .addAllCandidates(out.candidates(c.generation())).build());
      obs.onCompleted();
    });
  }

  @Override
  public void chatStream(ChatRequest req, StreamObserver<ChatChunk> obs) {
    ServerCallStreamObserver<ChatChunk> call = (ServerCallStreamObserver<ChatChunk>) obs;
    call.setOnCancelHandler(() -> {});
    rpc.run("ChatStream", obs, () -> {
      RequestValidation.Chat c = validation.chat(req, eos);
      Streamed s = stream(call, c.generation().streamable(), req.getUserId(), new Prompt(c.renderedPrompt(), c.messages()),
          (policy, id, text, tokens) -> call.onNext(ChatChunk.newBuilder().setPolicy(policy).setResponseId(id)
              .setText(text).setCompletionTokens(tokens).build()));
      Generated out = s.generated();
      call.onNext(ChatChunk.newBuilder().setPolicy(out.policy()).setResponseId(out.responseId()).setText(s.rest())
          .setFinished(true).setFinishReason(out.finishReason()).setCompletionTokens(out.result().tokens().length)
          .setPromptTokens(c.generation().prompt().length).setRenderedPrompt(c.renderedPrompt()).build());
      call.onCompleted();
    });
  }

  /**
   * Waits until the transport takes more messages. Polls, because the call's onReady callbacks run
   * on the call's serialising executor, which this (blocking) handler occupies.
   */
  private static void awaitReady(ServerCallStreamObserver<?> call, Context ctx) {
    long park = 50_000;
    while (!call.isReady()) {
      if (ctx.isCancelled()) throw new Rpc.Cancelled();
      LockSupport.parkNanos(park);
      park = Math.min(park * 2, 5_000_000);
    }
  }

  @Override
  public void score(ScoreRequest req, StreamObserver<ScoreResponse> obs) {
    rpc.run("Score", obs, () -> {
      RequestValidation.Scoring s = validation.scoring(req, config.defaultBeta());
      try (ConcurrencyLimiter.Permit p = limiter.acquire(); Lease lease = registry.acquire(s.policyId(), "")) {
        try (Lease reference = registry.acquireReference(s.policyId(), lease.referenceId())) {
          List<PromptResponse> batch = new ArrayList<>();
          for (int[] resp : s.responses()) batch.add(new PromptResponse(s.prompt(), resp));
          Rpc.checkNotCancelled();
          Context ctx = Context.current();
          List<SequenceLogProbs> lps = engine.score(List.of(lease.model(), reference.model()), batch, ctx::isCancelled);
          SequenceLogProbs pol = lps.get(0), refLp = lps.get(1);
          ScoreResponse.Builder out = ScoreResponse.newBuilder().setPolicy(ref(lease)).setReferenceId(lease.referenceId())
              .setBeta(s.beta());
          for (int i = 0; i < batch.size(); i++) {
            double lp = pol.sum(i), lr = refLp.sum(i);
            out.addScores(ResponseScore.newBuilder().setResponse(req.getResponses(i)).setPolicyLogp(lp).setReferenceLogp(lr)
                .setImplicitReward(s.beta() * (lp - lr)).setTokens(s.responses().get(i).length));
          }
          obs.onNext(out.build());
        }
      }
      obs.onCompleted();
    });
  }
}
