package io.prefstream.serving.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerateResponse;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.ResponseScore;
import io.prefstream.schemas.grpc.SamplingParams;
import io.prefstream.schemas.grpc.ScoreRequest;
import io.prefstream.serving.Fixture;
import io.prefstream.serving.fluency.ServedFluency;
import java.nio.file.Path;
import java.time.Duration;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The serving half of the fluency guard, over gRPC on a trained version whose reference is the
 * base: with every reply sampled, the replica's served-reply counters equal the reference NLL that
 * Score reports for the same texts (reference_logp, which a scoring of the policy would not give),
 * per policy and per version; best-of-n replies count the reference log-probability they were
 * chosen with.
 */
class ServedFluencyTest {
  @TempDir static Path root;
  static Fixture fx;
  static TestServer ts;
  static GenerationGrpc.GenerationBlockingStub gen;
  static final String PROMPT = "Q: where is my parcel?\nA:";

  @BeforeAll
  static void start() throws Exception {
    fx = Fixture.withAssistantTemplate(root);
    ts = new TestServer(fx, TestServer.config().withFluencySampleRate(1.0), RolloutMode.AUTO, false).servingTrainedVersion(fx);
    gen = GenerationGrpc.newBlockingStub(ts.channel);
  }

  @AfterAll
  static void stop() throws Exception {
    ts.close();
  }

  private static double samples() {
    return ts.metrics.servedReplySamples.labelValues("default").get();
  }

  private static GenerateResponse generate(SamplingParams.Builder s) {
    return gen.generate(GenerateRequest.newBuilder().setPrompt(PROMPT).setSampling(s).build());
  }

  @Test
  void sampledRepliesAreScoredUnderTheReferenceAsScoreScoresThem() {
    double nats0 = ts.metrics.servedReplyRefNats.labelValues("default").get();
    double tokens0 = ts.metrics.servedReplyRefTokens.labelValues("default").get();
    double samples0 = samples();
    long before = ts.server.fluency().ofVersion("default", 1).map(ServedFluency.Nll::replies).orElse(0L);
    ScoreRequest.Builder score = ScoreRequest.newBuilder().setPrompt(PROMPT);
    int replies = 4; // one Score call ranks at most 4 in this configuration
    for (int seed = 0; seed < replies; seed++) {
      GenerateResponse r = generate(SamplingParams.newBuilder().setMaxNewTokens(12).setTemperature(1f).setSeed(seed));
      assertThat(r.getPolicy().getVersion()).isEqualTo(1);
      score.addResponses(r.getText());
    }
    await().atMost(Duration.ofSeconds(30)).until(() -> samples() >= samples0 + replies);
    double nats = 0, tokens = 0;
    for (ResponseScore s : gen.score(score.build()).getScoresList()) {
      nats -= s.getReferenceLogp();
      tokens += s.getTokens();
      // The trained version differs from its reference: scoring under the policy would show.
      assertThat(s.getPolicyLogp()).isNotCloseTo(s.getReferenceLogp(), Offset.offset(1e-3));
    }
    assertThat(ts.metrics.servedReplyRefTokens.labelValues("default").get() - tokens0).isEqualTo(tokens);
    assertThat(ts.metrics.servedReplyRefNats.labelValues("default").get() - nats0).isCloseTo(nats, Offset.offset(1e-3 * nats));
    ServedFluency.Nll v1 = ts.server.fluency().ofVersion("default", 1).orElseThrow();
    assertThat(v1.replies() - before).isEqualTo(replies);
    assertThat(v1.perToken()).isGreaterThan(0);
    assertThat(ts.server.fluency().ofVersion("default", 7)).isEmpty();
    assertThat(ts.metrics.servedReplyRefNll.labelValues("default").get()).isGreaterThan(0);
  }

  @Test
  void aBestOfNReplyCountsTheReferenceLogProbabilityItWasChosenWith() {
    await().atMost(Duration.ofSeconds(30)).until(() -> ts.server.fluency().pending() == 0);
    double nats0 = ts.metrics.servedReplyRefNats.labelValues("default").get();
    double samples0 = samples();
    GenerateResponse r = generate(SamplingParams.newBuilder().setMaxNewTokens(12).setTemperature(1f).setSeed(5).setBestOf(3));
    // Recorded on the request's thread, before the response: no second scoring pass. Only the returned reply was served.
    assertThat(samples()).isEqualTo(samples0 + 1);
    double nats1 = ts.metrics.servedReplyRefNats.labelValues("default").get();
    // The same seed with its candidates shown: the same reply, best first, with the log-probability recorded above.
    GenerateResponse all = generate(SamplingParams.newBuilder().setMaxNewTokens(12).setTemperature(1f).setSeed(5).setBestOf(3)
        .setReturnCandidates(true));
    assertThat(all.getText()).isEqualTo(r.getText());
    assertThat(nats1 - nats0).isCloseTo(-all.getCandidates(0).getReferenceLogp(), Offset.offset(1e-9 * Math.abs(nats0 + 1)));
  }

  @Test
  void everyCandidateReturnedToTheAppCountsAsAServedReply() {
    await().atMost(Duration.ofSeconds(30)).until(() -> ts.server.fluency().pending() == 0);
    double nats0 = ts.metrics.servedReplyRefNats.labelValues("default").get();
    double samples0 = samples();
    // An A/B pair: both candidates are shown to the user, so both are served replies.
    GenerateResponse r = generate(SamplingParams.newBuilder().setMaxNewTokens(12).setTemperature(1f).setSeed(9).setBestOf(2)
        .setReturnCandidates(true));
    assertThat(samples()).isEqualTo(samples0 + 2);
    double nats = -r.getCandidates(0).getReferenceLogp() - r.getCandidates(1).getReferenceLogp();
    assertThat(ts.metrics.servedReplyRefNats.labelValues("default").get() - nats0).isCloseTo(nats, Offset.offset(1e-9 * Math.abs(nats0 + 1)));
  }

  @Test
  void theBaseModelsFirstRepliesAreAllScoredWhateverTheRate() throws Exception {
    // A replica still on the base weights (no update) with a tiny rate: the yardstick is measured anyway.
    try (TestServer base = new TestServer(fx, TestServer.config().withFluencySampleRate(1e-9), RolloutMode.AUTO, false)) {
      var stub = GenerationGrpc.newBlockingStub(base.channel);
      for (int seed = 0; seed < 3; seed++) {
        stub.generate(GenerateRequest.newBuilder().setPolicyId("default").setPrompt(PROMPT)
            .setSampling(SamplingParams.newBuilder().setMaxNewTokens(8).setTemperature(1f).setSeed(seed)).build());
      }
      await().atMost(Duration.ofSeconds(30))
          .until(() -> base.server.fluency().ofVersion("default", 0).map(ServedFluency.Nll::replies).orElse(0L) == 3);
      assertThat(base.metrics.servedReplySamples.labelValues("default").get()).isEqualTo(3);
    }
  }

  @Test
  void aReplyThatCannotBeEncodedForScoringIsCountedAsDroppedAndFailsNothing() throws Exception {
    double dropped = ts.metrics.servedReplySamplesDropped.labelValues("default").get();
    try (var lease = ts.registry.acquire("default", "")) {
      ts.server.fluency().offer(lease, () -> {
        throw new IllegalArgumentException("too long for the context");
      });
    }
    assertThat(ts.metrics.servedReplySamplesDropped.labelValues("default").get()).isEqualTo(dropped + 1);
  }

  @Test
  void aSampleRateOutsideZeroToOneIsRefused() {
    assertThatThrownBy(() -> ServingConfig.defaults().withFluencySampleRate(1.5))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("fluency sample rate");
    assertThatThrownBy(() -> new ServedFluency(ts.registry, ts.server.engine(), ts.metrics, -0.1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[0, 1]");
  }
}
