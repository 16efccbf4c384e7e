package io.prefstream.serving.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.grpc.ComparisonFeedback;
import io.prefstream.schemas.grpc.FeedbackGrpc;
import io.prefstream.schemas.grpc.GenerateChunk;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerateResponse;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.ListVersionsRequest;
import io.prefstream.schemas.grpc.PinReferenceRequest;
import io.prefstream.schemas.grpc.PromoteRequest;
import io.prefstream.schemas.grpc.RollbackRequest;
import io.prefstream.schemas.grpc.RolloutGrpc;
import io.prefstream.schemas.grpc.SamplingParams;
import io.prefstream.schemas.grpc.ScoreRequest;
import io.prefstream.schemas.grpc.ScoreResponse;
import io.prefstream.schemas.grpc.SetCanaryRequest;
import io.prefstream.schemas.grpc.SetModeRequest;
import io.prefstream.schemas.grpc.StatusRequest;
import io.prefstream.schemas.grpc.StatusResponse;
import io.prefstream.schemas.grpc.SubmitFeedbackRequest;
import io.prefstream.schemas.grpc.ThumbFeedback;
import io.prefstream.serving.Fixture;
import io.prefstream.serving.feedback.EventKeys;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every RPC over the in-process transport, with the failures each can answer. */
class GrpcServicesTest {
  @TempDir static Path root;
  static Fixture fx;
  static TestServer ts;
  static GenerationGrpc.GenerationBlockingStub gen;
  static RolloutGrpc.RolloutBlockingStub admin;

  @BeforeAll
  static void start() throws Exception {
    fx = new Fixture(root);
    ts = new TestServer(fx, TestServer.config(), RolloutMode.MANUAL, false);
    gen = GenerationGrpc.newBlockingStub(ts.channel);
    admin = TestServer.withToken(RolloutGrpc.newBlockingStub(ts.channel), TestServer.TOKEN);
    ts.feed.publishUpdate(fx.writeVersion("default", 1, 0.8));
    ts.feed.publishUpdate(fx.writeVersion("default", 2, 0.8));
  }

  @AfterAll
  static void stop() throws Exception {
    ts.close();
  }

  static GenerateRequest greedy(String prompt, int maxNew) {
    return GenerateRequest.newBuilder().setPrompt(prompt)
        .setSampling(SamplingParams.newBuilder().setMaxNewTokens(maxNew).setTemperature(0)).build();
  }

  /**
   * A prompt whose greedy stream has at least three chunks before the final one (random weights
   * may stop early or emit bytes that only decode together), so a reader can stall mid-stream.
   */
  static String longStreamPrompt(io.grpc.Channel channel) {
    var stub = GenerationGrpc.newBlockingStub(channel);
    for (String p : List.of("tell me a long story", "hold the permit", "a", "The quick brown fox", "0123", "hello world")) {
      List<GenerateChunk> chunks = new ArrayList<>();
      stub.generateStream(greedy(p, 64)).forEachRemaining(chunks::add);
      if (chunks.size() >= 4) return p;
    }
    throw new IllegalStateException("no prompt gives a long enough stream with this random model");
  }

  static void assertInvalid(Runnable call, String field) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(e.getStatus().getDescription()).startsWith(field + ":");
    });
  }

  @Test
  void generateAnswersWithTheGreedyTextOfTheServedVersionAndNamesIt() {
    GenerateResponse r = gen.generate(greedy("The cat", 6));
    assertThat(r.getPolicy().getPolicyId()).isEqualTo("default");
    long v = r.getPolicy().getVersion();
    assertThat(r.getResponseId()).hasSize(36);
    assertThat(r.getText()).isEqualTo(fx.greedy(v, "The cat", 6));
    assertThat(r.getCompletionTokens()).isBetween(1, 6);
    assertThat(r.getPromptTokens()).isEqualTo(fx.base.tokenizer().encode("The cat", true).length);
    assertThat(r.getFinishReason()).isIn("length", "eos");
  }

  @Test
  void ignoreEosGeneratesTheWholeBudgetWhereTheSameSampleStoppedAtTheEndToken() {
    int budget = 24;
    GenerateRequest stopped = null;
    GenerateResponse early = null;
    for (long seed = 1; seed <= 200 && early == null; seed++) {
      GenerateRequest req = GenerateRequest.newBuilder().setPrompt("The cat")
          .setSampling(SamplingParams.newBuilder().setMaxNewTokens(budget).setTemperature(1).setSeed(seed)).build();
      GenerateResponse r = gen.generate(req);
      if (r.getFinishReason().equals("eos")) {
        stopped = req;
        early = r;
      }
    }
    assertThat(early).as("a seed whose sample ends at the end token within %d tokens", budget).isNotNull();
    assertThat(early.getCompletionTokens()).isLessThan(budget);
    GenerateResponse fixed = gen.generate(stopped.toBuilder().setSampling(stopped.getSampling().toBuilder().setIgnoreEos(true)).build());
    assertThat(fixed.getCompletionTokens()).isEqualTo(budget);
    assertThat(fixed.getFinishReason()).isEqualTo("length");
  }

  @Test
  void generateStreamSendsChunksThatAddUpToTheTextAndEndWithAFinishedOne() {
    List<GenerateChunk> chunks = new ArrayList<>();
    gen.generateStream(greedy("Once upon", 8)).forEachRemaining(chunks::add);
    GenerateChunk last = chunks.getLast();
    assertThat(last.getFinished()).isTrue();
    assertThat(chunks.subList(0, chunks.size() - 1)).allMatch(c -> !c.getFinished());
    assertThat(chunks).extracting(GenerateChunk::getResponseId).containsOnly(last.getResponseId());
    assertThat(chunks).extracting(c -> c.getPolicy().getVersion()).containsOnly(last.getPolicy().getVersion());
    String text = chunks.stream().map(GenerateChunk::getText).reduce("", String::concat);
    assertThat(text).isEqualTo(fx.greedy(last.getPolicy().getVersion(), "Once upon", 8));
    assertThat(last.getCompletionTokens()).isPositive();
  }

  @Test
  void streamWithAStopStringNeverSendsTheStopOrWhatFollows() {
    String full = fx.greedy(ts.registry.status("default").servingVersion(), "abc", 12);
    // An ASCII character after the first one, so the cut is inside the text and not in a split byte sequence.
    int at = -1;
    for (int i = 1; i < full.length() && at < 0; i++) if (full.charAt(i) > 32 && full.charAt(i) < 127) at = i;
    org.junit.jupiter.api.Assumptions.assumeTrue(at > 0, "the greedy text has no ASCII character to stop at");
    String stop = full.substring(at, at + 1);
    GenerateRequest req = GenerateRequest.newBuilder(greedy("abc", 12))
        .setSampling(SamplingParams.newBuilder().setMaxNewTokens(12).setTemperature(0).addStop(stop)).build();
    List<GenerateChunk> chunks = new ArrayList<>();
    gen.generateStream(req).forEachRemaining(chunks::add);
    String text = chunks.stream().map(GenerateChunk::getText).reduce("", String::concat);
    assertThat(text).isEqualTo(full.substring(0, full.indexOf(stop)));
    assertThat(chunks.getLast().getFinishReason()).isEqualTo("stop");
  }

  @Test
  void scoreGivesPolicyAndReferenceLogProbsAndTheImplicitReward() {
    long v = ts.registry.status("default").servingVersion();
    ScoreResponse r = gen.score(ScoreRequest.newBuilder().setPrompt("Q: 2+2?").addResponses(" 4").addResponses(" five")
        .setBeta(0.5f).build());
    assertThat(r.getPolicy().getVersion()).isEqualTo(v);
    assertThat(r.getReferenceId()).isEqualTo("base");
    assertThat(r.getBeta()).isEqualTo(0.5);
    assertThat(r.getScoresCount()).isEqualTo(2);
    // built as training builds it (TRL's rule): the tokenizer's EOS ends the scored response
    PromptResponse seq = io.prefstream.model.text.SequenceEncoder.unlimited(fx.base.tokenizer()).encode("Q: 2+2?", " 4");
    int[] prompt = seq.prompt();
    int[] resp = seq.response();
    assertThat(resp[resp.length - 1]).isEqualTo(fx.base.tokenizer().eosId().getAsInt());
    SequenceLogProbs pol = fx.model(v).logProbs(List.of(new PromptResponse(prompt, resp)));
    SequenceLogProbs ref = fx.model(0).logProbs(List.of(new PromptResponse(prompt, resp)));
    var s = r.getScores(0);
    assertThat(s.getResponse()).isEqualTo(" 4");
    assertThat(s.getTokens()).isEqualTo(resp.length);
    assertThat(s.getPolicyLogp()).isCloseTo(pol.sum(0), org.assertj.core.data.Offset.offset(1e-6));
    assertThat(s.getReferenceLogp()).isCloseTo(ref.sum(0), org.assertj.core.data.Offset.offset(1e-6));
    assertThat(s.getImplicitReward()).isCloseTo(0.5 * (pol.sum(0) - ref.sum(0)), org.assertj.core.data.Offset.offset(1e-9));
    // Without beta the configured default applies.
    assertThat(gen.score(ScoreRequest.newBuilder().setPrompt("x").addResponses("y").build()).getBeta()).isCloseTo(0.1,
        org.assertj.core.data.Offset.offset(1e-9));
  }

  @Test
  void feedbackIsPublishedAsAPreferenceEventKeyedByPolicyAndPromptHash() {
    FeedbackGrpc.FeedbackBlockingStub fb = FeedbackGrpc.newBlockingStub(ts.channel);
    String id = fb.submit(SubmitFeedbackRequest.newBuilder().setPrompt("Why?").setUserId("u1").setPolicyVersion(2)
        .setResponseId("resp-1").setComparison(ComparisonFeedback.newBuilder().setChosen("because").setRejected("no"))
        .putAttributes("app", "chat").build()).getEventId();
    String given = fb.submit(SubmitFeedbackRequest.newBuilder().setEventId("evt-7").setPrompt("Why?")
        .setThumb(ThumbFeedback.newBuilder().setResponse("because").setUp(true)).build()).getEventId();
    assertThat(given).isEqualTo("evt-7");
    var events = ts.sink.events();
    var first = events.stream().filter(e -> e.event().getEventId().equals(id)).findFirst().orElseThrow();
    assertThat(first.key()).isEqualTo("default/" + EventKeys.promptHash("Why?")).isEqualTo(EventKeys.key("default", "Why?"));
    assertThat(first.event().getFeedback()).isEqualTo(new Comparison("because", "no"));
    assertThat(first.event().getPolicyVersion()).isEqualTo(2L);
    assertThat(first.event().getUserId()).isEqualTo("u1");
    assertThat(first.event().getAttributes()).containsEntry("response_id", "resp-1").containsEntry("app", "chat");

    assertInvalid(() -> fb.submit(SubmitFeedbackRequest.newBuilder().setPrompt("p").build()), "feedback");
    assertInvalid(() -> fb.submit(SubmitFeedbackRequest.newBuilder().setPrompt("")
        .setThumb(ThumbFeedback.newBuilder().setResponse("r")).build()), "prompt");
    assertInvalid(() -> fb.submit(SubmitFeedbackRequest.newBuilder().setPrompt("p")
        .setComparison(ComparisonFeedback.newBuilder().setChosen("a").setRejected("a")).build()), "comparison");
    assertInvalid(() -> fb.submit(SubmitFeedbackRequest.newBuilder().setPrompt("p").setPolicyId("bad id!")
        .setThumb(ThumbFeedback.newBuilder().setResponse("r")).build()), "policy_id");
  }

  @Test
  void chatOnAModelWithoutAChatTemplateIsInvalidArgumentSayingSo() {
    var req = io.prefstream.schemas.grpc.ChatRequest.newBuilder()
        .addMessages(io.prefstream.schemas.grpc.ChatMessage.newBuilder().setRole("user").setContent("Hi")).build();
    assertInvalid(() -> gen.chat(req), "messages");
    assertThatThrownBy(() -> gen.chat(req)).hasMessageContaining("no chat_template");
  }

  @Test
  void invalidGenerationRequestsNameTheField() {
    assertInvalid(() -> gen.generate(greedy("", 4)), "prompt");
    assertInvalid(() -> gen.generate(greedy("x".repeat(2_001), 4)), "prompt");
    assertInvalid(() -> gen.generate(greedy("hi", 65)), "sampling.max_new_tokens");
    assertInvalid(() -> gen.generate(greedy("hi", -1)), "sampling.max_new_tokens");
    assertInvalid(() -> gen.generate(GenerateRequest.newBuilder().setPrompt("hi")
        .setSampling(SamplingParams.newBuilder().setTemperature(2.5f)).build()), "sampling.temperature");
    assertInvalid(() -> gen.generate(GenerateRequest.newBuilder().setPrompt("hi")
        .setSampling(SamplingParams.newBuilder().setTemperature(Float.NaN)).build()), "sampling.temperature");
    assertInvalid(() -> gen.generate(GenerateRequest.newBuilder().setPrompt("hi")
        .setSampling(SamplingParams.newBuilder().setTopP(0f)).build()), "sampling.top_p");
    assertInvalid(() -> gen.generate(GenerateRequest.newBuilder().setPrompt("hi")
        .setSampling(SamplingParams.newBuilder().setTopP(1.5f)).build()), "sampling.top_p");
    assertInvalid(() -> gen.generate(GenerateRequest.newBuilder().setPrompt("hi")
        .setSampling(SamplingParams.newBuilder().setTopK(-3)).build()), "sampling.top_k");
    assertInvalid(() -> gen.generate(GenerateRequest.newBuilder().setPrompt("hi")
        .setSampling(SamplingParams.newBuilder().addStop("")).build()), "sampling.stop[0]");
    assertInvalid(() -> gen.generateStream(greedy("", 4)).hasNext(), "prompt");
    assertInvalid(() -> gen.score(ScoreRequest.newBuilder().setPrompt("p").build()), "responses");
    assertInvalid(() -> gen.score(ScoreRequest.newBuilder().setPrompt("p").addResponses("").build()), "responses[0]");
    assertInvalid(() -> gen.score(ScoreRequest.newBuilder().setPrompt("p").addResponses("a").setBeta(-1).build()), "beta");
    assertInvalid(() -> gen.generate(GenerateRequest.newBuilder(greedy("hi", 2)).setPolicyId("../etc").build()), "policy_id");
    // Within the character limit but longer than the model's context (512 tokens of single bytes).
    assertThatThrownBy(() -> gen.generate(greedy("y".repeat(600), 4))).isInstanceOfSatisfying(StatusRuntimeException.class,
        e -> assertThat(e.getStatus().getDescription()).startsWith("prompt:").contains("context is 512 tokens"));
  }

  @Test
  void unknownPolicyIsNotFound() {
    assertThatThrownBy(() -> gen.generate(GenerateRequest.newBuilder(greedy("hi", 2)).setPolicyId("other").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
  }

  @Test
  void rolloutRequiresTheBearerToken() {
    var noToken = RolloutGrpc.newBlockingStub(ts.channel);
    var wrong = TestServer.withToken(RolloutGrpc.newBlockingStub(ts.channel), "guess");
    for (var stub : List.of(noToken, wrong)) {
      assertThatThrownBy(() -> stub.status(StatusRequest.getDefaultInstance()))
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
    }
    // Generation stays open without a token.
    assertThat(gen.generate(greedy("hi", 1)).getPolicy().getPolicyId()).isEqualTo("default");
  }

  @Test
  void rolloutRpcsListPromoteCanaryPinRollbackAndSwitchMode() {
    assertThat(admin.listVersions(ListVersionsRequest.getDefaultInstance()).getVersionsList())
        .extracting(v -> v.getVersion()).contains(1L, 2L);
    var info = admin.listVersions(ListVersionsRequest.getDefaultInstance()).getVersions(0);
    assertThat(info.getSha256()).hasSize(64);
    assertThat(info.getMetricsMap()).containsKey("eval/rewards/accuracies");
    assertThat(info.getCheckpointUri()).startsWith("file:");

    StatusResponse st = admin.promote(PromoteRequest.newBuilder().setVersion(2).setReason("test").build());
    assertThat(st.getStableVersion()).isEqualTo(2);
    await().atMost(Duration.ofSeconds(20))
        .until(() -> admin.status(StatusRequest.getDefaultInstance()).getServingVersion() == 2);
    assertThat(gen.generate(greedy("hi", 2)).getPolicy().getVersion()).isEqualTo(2);

    st = admin.setCanary(SetCanaryRequest.newBuilder().setVersion(1).setPercent(50).build());
    assertThat(st.getCanaryVersion()).isEqualTo(1);
    assertThat(st.getCanaryPercent()).isEqualTo(50);
    st = admin.setCanary(SetCanaryRequest.newBuilder().setVersion(1).setPercent(0).build());
    assertThat(st.hasCanaryVersion()).isFalse();

    st = admin.pinReference(PinReferenceRequest.newBuilder().setVersion(1).build());
    assertThat(st.getPinnedReference()).isEqualTo("v1");
    assertThat(ts.feed.controlCommands()).isNotEmpty();

    st = admin.setMode(SetModeRequest.newBuilder().setMode("auto").build());
    assertThat(st.getMode()).isEqualTo("AUTO");
    st = admin.rollback(RollbackRequest.newBuilder().setVersion(1).build());
    assertThat(st.getMode()).isEqualTo("MANUAL");
    assertThat(st.getStableVersion()).isEqualTo(1);
    await().atMost(Duration.ofSeconds(20))
        .until(() -> admin.status(StatusRequest.getDefaultInstance()).getServingVersion() == 1);

    assertThatThrownBy(() -> admin.promote(PromoteRequest.newBuilder().setVersion(99).build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
    assertInvalid(() -> admin.setCanary(SetCanaryRequest.newBuilder().setVersion(1).setPercent(101).build()), "percent");
    assertInvalid(() -> admin.setMode(SetModeRequest.newBuilder().setMode("sometimes").build()), "mode");
    assertInvalid(() -> admin.promote(PromoteRequest.newBuilder().setVersion(-1).build()), "version");
  }

  @Test
  void healthReportsServingAndReflectionListsTheServices() throws Exception {
    HealthCheckResponse h = HealthGrpc.newBlockingStub(ts.channel)
        .check(HealthCheckRequest.newBuilder().setService(GenerationGrpc.SERVICE_NAME).build());
    assertThat(h.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);

    BlockingQueue<ServerReflectionResponse> got = new LinkedBlockingQueue<>();
    StreamObserver<ServerReflectionRequest> req = ServerReflectionGrpc.newStub(ts.channel).serverReflectionInfo(
        new StreamObserver<>() {
          public void onNext(ServerReflectionResponse r) {
            got.add(r);
          }

          public void onError(Throwable t) {}

          public void onCompleted() {}
        });
    req.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
    ServerReflectionResponse r = got.poll(10, TimeUnit.SECONDS);
    req.onCompleted();
    assertThat(r.getListServicesResponse().getServiceList()).extracting(s -> s.getName())
        .contains(GenerationGrpc.SERVICE_NAME, io.prefstream.schemas.grpc.FeedbackGrpc.SERVICE_NAME, RolloutGrpc.SERVICE_NAME,
            "grpc.health.v1.Health");
  }

  @Test
  void aStreamWhoseClientStopsReadingEndsWithDeadlineExceeded() throws Exception {
    // The client asks for one message and no more; the server waits for it, holding its permit,
    // until the deadline passes.
    ClientCall<GenerateRequest, GenerateChunk> call = ts.channel.newCall(GenerationGrpc.getGenerateStreamMethod(),
        io.grpc.CallOptions.DEFAULT.withDeadlineAfter(400, TimeUnit.MILLISECONDS));
    BlockingQueue<Status> closed = new LinkedBlockingQueue<>();
    call.start(new ClientCall.Listener<>() {
      @Override
      public void onClose(Status status, Metadata trailers) {
        closed.add(status);
      }
    }, new Metadata());
    call.request(1);
    call.sendMessage(greedy(longStreamPrompt(ts.channel), 64));
    call.halfClose();
    Status s = closed.poll(10, TimeUnit.SECONDS);
    assertThat(s).isNotNull();
    assertThat(s.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    await().atMost(Duration.ofSeconds(5)).until(() -> ts.metrics.inFlight.get() == 0);
  }
}
