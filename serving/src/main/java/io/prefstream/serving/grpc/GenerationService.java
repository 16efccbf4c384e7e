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
import io.prefstream.model.tokenizer.StreamingDecoder;
import io.prefstream.model.tokenizer.Tokenizer;
import io.prefstream.schemas.grpc.GenerateChunk;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerateResponse;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.PolicyRef;
import io.prefstream.schemas.grpc.ResponseScore;
import io.prefstream.schemas.grpc.ScoreRequest;
import io.prefstream.schemas.grpc.ScoreResponse;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.registry.Lease;
import io.prefstream.serving.registry.PolicyRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.locks.LockSupport;

/**
 * Generate, GenerateStream and Score. Each call validates its request, takes a concurrency permit
 * and a {@link Lease} on one policy version, and runs start to finish on that version; the
 * response names the policy, the version and a fresh response id. Token callbacks stop the work
 * as soon as the call is cancelled or its deadline passes. The stream honours flow control: it
 * waits (holding its permit) while the client is not ready for more.
 */
public final class GenerationService extends GenerationGrpc.GenerationImplBase {
  private final PolicyRegistry registry;
  private final Tokenizer tokenizer;
  private final RequestValidation validation;
  private final ConcurrencyLimiter limiter;
  private final ServingMetrics metrics;
  private final ServingConfig config;
  private final Rpc rpc;
  private final java.util.Set<Integer> eos;

  GenerationService(PolicyRegistry registry, ServingConfig config, ConcurrencyLimiter limiter, ServingMetrics metrics) {
    this.registry = registry;
    this.tokenizer = registry.base().tokenizer();
    this.config = config;
    this.validation = new RequestValidation(config, registry.base().config().maxPositions(), registry.settings().defaultPolicy(),
        tokenizer);
    this.limiter = limiter;
    this.metrics = metrics;
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

  @Override
  public void generate(GenerateRequest req, StreamObserver<GenerateResponse> obs) {
    rpc.run("Generate", obs, () -> {
      RequestValidation.Generation g = validation.generation(req, eos);
      Context ctx = Context.current();
      try (ConcurrencyLimiter.Permit p = limiter.acquire(); Lease lease = registry.acquire(g.policyId(), req.getUserId())) {
        GenerationResult r = lease.generate(g.prompt(), g.params(), text(), cancellable(ctx, null));
        metrics.tokensGenerated.labelValues(g.policyId()).inc(r.tokens().length);
        obs.onNext(GenerateResponse.newBuilder().setPolicy(ref(lease)).setResponseId(UUID.randomUUID().toString())
            .setText(r.text()).setPromptTokens(g.prompt().length).setCompletionTokens(r.tokens().length)
            .setFinishReason(finishReason(r.finishReason())).build());
      }
      obs.onCompleted();
    });
  }

  @Override
  public void generateStream(GenerateRequest req, StreamObserver<GenerateChunk> obs) {
    ServerCallStreamObserver<GenerateChunk> call = (ServerCallStreamObserver<GenerateChunk>) obs;
    // Cancellation is observed through the Context; this keeps onNext after a cancel from throwing.
    call.setOnCancelHandler(() -> {});
    rpc.run("GenerateStream", obs, () -> {
      RequestValidation.Generation g = validation.generation(req, eos);
      Context ctx = Context.current();
      try (ConcurrencyLimiter.Permit p = limiter.acquire(); Lease lease = registry.acquire(g.policyId(), req.getUserId())) {
        String responseId = UUID.randomUUID().toString();
        PolicyRef policy = ref(lease);
        StreamingDecoder decoder = tokenizer.streamDecoder();
        int holdBack = g.params().stopStrings().stream().mapToInt(String::length).max().orElse(1) - 1;
        int[] sent = {0};
        int[] count = {0};
        GenerationResult r = lease.generate(g.prompt(), g.params(), text(), cancellable(ctx, token -> {
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
            call.onNext(GenerateChunk.newBuilder().setPolicy(policy).setResponseId(responseId)
                .setText(so.substring(sent[0], safe)).setCompletionTokens(count[0]).build());
            sent[0] = safe;
          }
        }));
        metrics.tokensGenerated.labelValues(g.policyId()).inc(r.tokens().length);
        String all = r.text();
        String rest = all.length() > sent[0] ? all.substring(sent[0]) : "";
        awaitReady(call, ctx);
        call.onNext(GenerateChunk.newBuilder().setPolicy(policy).setResponseId(responseId).setText(rest).setFinished(true)
            .setFinishReason(finishReason(r.finishReason())).setCompletionTokens(r.tokens().length).build());
      }
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
          SequenceLogProbs pol = lease.logProbs(batch);
          Rpc.checkNotCancelled();
          SequenceLogProbs refLp = reference.logProbs(batch);
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
