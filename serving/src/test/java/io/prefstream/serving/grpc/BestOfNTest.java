package io.prefstream.serving.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.grpc.BestOfScore;
import io.prefstream.schemas.grpc.ComparisonFeedback;
import io.prefstream.schemas.grpc.FeedbackGrpc;
import io.prefstream.schemas.grpc.SubmitFeedbackRequest;
import io.prefstream.schemas.grpc.Candidate;
import io.prefstream.schemas.grpc.ChatResponse;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerateResponse;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.SamplingParams;
import io.prefstream.schemas.grpc.ScoreRequest;
import io.prefstream.schemas.grpc.ScoreResponse;
import io.prefstream.serving.Fixture;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Best-of-n over gRPC, on a trained version against its base reference: the candidates are the
 * replies plain Generate calls give with seeds seed..seed+n-1, each scored exactly as Score scores
 * the same text, and the best one is returned.
 */
class BestOfNTest {
  @TempDir static Path root;
  static Fixture fx;
  static TestServer ts;
  static GenerationGrpc.GenerationBlockingStub gen;
  static final String PROMPT = "Q: where is my parcel?\nA:";

  @BeforeAll
  static void start() throws Exception {
    fx = Fixture.withAssistantTemplate(root);
    ts = new TestServer(fx, TestServer.config(), RolloutMode.AUTO, false).servingTrainedVersion(fx);
    gen = GenerationGrpc.newBlockingStub(ts.channel);
  }

  @AfterAll
  static void stop() throws Exception {
    ts.close();
  }

  private static SamplingParams.Builder sampled(long seed) {
    return SamplingParams.newBuilder().setMaxNewTokens(12).setTemperature(1f).setSeed(seed);
  }

  private static GenerateRequest request(SamplingParams.Builder s) {
    return GenerateRequest.newBuilder().setPrompt(PROMPT).setSampling(s).build();
  }

  @Test
  void returnsTheCandidateWithTheHighestImplicitRewardAsScoreComputesIt() {
    GenerateResponse r = gen.generate(request(sampled(7).setBestOf(4).setReturnCandidates(true)));
    assertThat(r.getPolicy().getVersion()).isEqualTo(1);
    List<Candidate> cands = r.getCandidatesList();
    assertThat(cands).hasSize(4);
    // Best first, and the reply returned is the best.
    for (int i = 1; i < cands.size(); i++) assertThat(cands.get(i - 1).getImplicitReward()).isGreaterThanOrEqualTo(cands.get(i).getImplicitReward());
    assertThat(r.getText()).isEqualTo(cands.getFirst().getText());
    assertThat(r.getImplicitReward()).isEqualTo(cands.getFirst().getImplicitReward());
    assertThat(r.getCompletionTokens()).isEqualTo(cands.getFirst().getCompletionTokens());
    // The candidates are what plain Generate gives with seeds 7..10.
    Set<String> alone = new HashSet<>();
    for (long seed = 7; seed < 11; seed++) alone.add(gen.generate(request(sampled(seed))).getText());
    assertThat(cands.stream().map(Candidate::getText).toList()).containsExactlyInAnyOrderElementsOf(alone);
    // Each reward is Score's implicit reward for the same text (same encoder, same beta).
    ScoreRequest.Builder score = ScoreRequest.newBuilder().setPrompt(PROMPT);
    cands.stream().filter(c -> !c.getText().isEmpty()).forEach(c -> score.addResponses(c.getText()));
    ScoreResponse scored = gen.score(score.build());
    int k = 0;
    for (Candidate c : cands) {
      if (c.getText().isEmpty()) continue;
      var s = scored.getScores(k++);
      assertThat(c.getPolicyLogp()).isCloseTo(s.getPolicyLogp(), Offset.offset(1e-6));
      assertThat(c.getReferenceLogp()).isCloseTo(s.getReferenceLogp(), Offset.offset(1e-6));
      assertThat(c.getImplicitReward()).isCloseTo(s.getImplicitReward(), Offset.offset(1e-6));
      assertThat(c.getScoredTokens()).as("tokens the log-probs cover").isEqualTo(s.getTokens());
    }
    // A trained version against the base: the candidates' rewards differ, so the choice means something.
    assertThat(cands.stream().mapToDouble(Candidate::getImplicitReward).distinct().count()).isGreaterThan(1);
    // Seeded, so repeatable.
    assertThat(gen.generate(request(sampled(7).setBestOf(4))).getText()).isEqualTo(r.getText());
  }

  @Test
  void perTokenScoringDividesEachRewardByTheRepliesTokens() {
    GenerateResponse seq = gen.generate(request(sampled(21).setBestOf(3).setReturnCandidates(true)));
    GenerateResponse tok = gen.generate(request(sampled(21).setBestOf(3).setReturnCandidates(true)
        .setBestOfScore(BestOfScore.BEST_OF_SCORE_PER_TOKEN)));
    for (Candidate t : tok.getCandidatesList()) {
      Candidate s = seq.getCandidatesList().stream().filter(c -> c.getText().equals(t.getText())).findFirst().orElseThrow();
      assertThat(t.getImplicitReward()).isCloseTo(s.getImplicitReward() / scoredTokens(t), Offset.offset(1e-9));
    }
  }

  /** The tokens a candidate was scored on: its text as Score encodes it. */
  private static int scoredTokens(Candidate c) {
    return gen.score(ScoreRequest.newBuilder().setPrompt(PROMPT).addResponses(c.getText()).build()).getScores(0).getTokens();
  }

  @Test
  void chatTakesBestOfToo() {
    ChatResponse r = gen.chat(ChatServiceTest.chat(List.of(ChatMessage.user("Where is my order?")),
        sampled(3).setBestOf(3).setReturnCandidates(true)));
    assertThat(r.getCandidatesCount()).isEqualTo(3);
    assertThat(r.getText()).isEqualTo(r.getCandidates(0).getText());
    assertThat(r.getImplicitReward()).isEqualTo(r.getCandidates(0).getImplicitReward());
  }

  @Test
  void twoCandidatesAreAnABPairWhoseChoiceBecomesAComparisonByIds() {
    ChatResponse r = gen.chat(ChatServiceTest.chat(List.of(ChatMessage.user("Can I return shoes?")),
        sampled(11).setBestOf(2).setReturnCandidates(true)));
    Candidate a = r.getCandidates(0), b = r.getCandidates(1);
    assertThat(a.getResponseId()).isEqualTo(r.getResponseId()).isNotEqualTo(b.getResponseId());
    // The user preferred the second one: the app sends the two ids, no texts.
    String eventId = FeedbackGrpc.newBlockingStub(ts.channel).submit(SubmitFeedbackRequest.newBuilder()
        .setComparison(ComparisonFeedback.newBuilder().setChosenResponseId(b.getResponseId())
            .setRejectedResponseId(a.getResponseId())).build()).getEventId();
    PreferenceEvent e = ts.sink.events().stream().map(k -> k.event()).filter(x -> x.getEventId().equals(eventId))
        .findFirst().orElseThrow();
    assertThat(e.getFeedback()).isEqualTo(new Comparison(b.getText(), a.getText()));
    assertThat(e.getPolicyVersion()).isEqualTo(r.getPolicy().getVersion());
    assertThat(e.getPromptMessages()).singleElement().satisfies(m -> assertThat(m.getContent()).isEqualTo("Can I return shoes?"));
    // Without return_candidates only the returned reply is remembered.
    GenerateResponse quiet = gen.generate(request(sampled(12).setBestOf(2)));
    assertThat(quiet.getCandidatesCount()).isZero();
    assertThat(quiet.getResponseId()).hasSize(36);
  }

  @Test
  void badBestOfRequestsAreRefusedWithTheFieldNamed() {
    GrpcServicesTest.assertInvalid(() -> gen.generate(request(sampled(1).setBestOf(3).setTemperature(0))), "sampling.best_of");
    GrpcServicesTest.assertInvalid(() -> gen.generate(request(sampled(1).setBestOf(10_000))), "sampling.best_of");
    GrpcServicesTest.assertInvalid(() -> gen.generate(request(sampled(1).setBestOf(-1))), "sampling.best_of");
    GrpcServicesTest.assertInvalid(() -> gen.generate(request(sampled(1).setReturnCandidates(true))), "sampling.best_of");
    assertThatThrownBy(() -> gen.generateStream(request(sampled(1).setBestOf(2))).forEachRemaining(c -> {}))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
          assertThat(e.getStatus().getDescription()).contains("sampling.best_of").contains("not with the streams");
        });
    // Without best_of, nothing changes: no reward, no candidates.
    GenerateResponse plain = gen.generate(request(sampled(1)));
    assertThat(plain.getCandidatesCount()).isZero();
    assertThat(plain.getImplicitReward()).isZero();
  }
}
