package io.prefstream.serving.grpc;

import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.generate.TokenText;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.schemas.grpc.Candidate;
import io.prefstream.serving.engine.BatchEngine;
import io.prefstream.serving.registry.Lease;
import io.prefstream.serving.registry.PolicyRegistry;
import io.prefstream.serving.registry.RefusedVersionException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Function;

/**
 * Best-of-n by implicit reward (DPO's policy is also a reward model): the candidates are sampled as
 * sequences of the same engine steps (candidate i with seed + i, so a seeded request is repeatable),
 * then scored under the serving version and its pinned reference as scoring sequences of the engine
 * (both models' sequences share steps; the prompt comes from the prefix cache the candidates left):
 * reward = β·(log π(y|x) − log π_ref(y|x)), divided by the reply's tokens when scoring per token. The
 * best candidate wins; ties go to the lower index. Each reply is scored as training would encode it
 * (TRL's rule: its end token included), so the reward is the one Score gives for the same text.
 */
final class BestOfN {
  /** One candidate; {@code scoredTokens} is how many tokens its log-probabilities cover (the reply and its end). */
  record Scored(GenerationResult result, double policyLogp, double referenceLogp, double reward, int scoredTokens) {
    Candidate toProto(String responseId) {
      return Candidate.newBuilder().setResponseId(responseId).setText(result.text()).setImplicitReward(reward).setPolicyLogp(policyLogp)
          .setReferenceLogp(referenceLogp).setCompletionTokens(result.tokens().length)
          .setScoredTokens(scoredTokens).setFinishReason(GenerationService.finishReason(result.finishReason())).build();
    }
  }

  /** The candidates in request order, and which one won. */
  record Outcome(List<Scored> candidates, int best) {
    Scored chosen() {
      return candidates.get(best);
    }

    /** Every candidate, best first (then by index), under its response id. */
    List<Candidate> ranked(List<String> responseIds) {
      List<Integer> order = new ArrayList<>();
      for (int i = 0; i < candidates.size(); i++) order.add(i);
      order.sort(Comparator.comparingDouble((Integer i) -> -candidates.get(i).reward()).thenComparingInt(i -> i));
      return order.stream().map(i -> candidates.get(i).toProto(responseIds.get(i))).toList();
    }
  }

  private BestOfN() {}

  /**
   * @param encode a reply as training encodes it after the request's prompt (so the reward is the
   *     one the learner optimises, and the one Score gives for the same text)
   */
  static Outcome run(BatchEngine engine, PolicyRegistry registry, Lease lease, RequestValidation.Generation g, TokenText text,
      Function<String, PromptResponse> encode, BooleanSupplier cancelled) throws RefusedVersionException {
    RequestValidation.BestOf b = g.bestOf();
    List<SamplingParams> params = new ArrayList<>(b.n());
    for (int i = 0; i < b.n(); i++) params.add(g.params().withSeed(g.params().seed() + i));
    List<GenerationResult> results = engine.generateAll(lease.model(), g.prompt(), params, text, cancelled);
    List<PromptResponse> batch = new ArrayList<>(results.size());
    for (GenerationResult r : results) batch.add(encode.apply(r.text()));
    if (cancelled.getAsBoolean()) throw new Rpc.Cancelled();
    SequenceLogProbs policy, reference;
    try (Lease ref = registry.acquireReference(lease.policyId(), lease.referenceId())) {
      List<SequenceLogProbs> lps = engine.score(List.of(lease.model(), ref.model()), batch, cancelled);
      policy = lps.get(0);
      reference = lps.get(1);
    }
    List<Scored> scored = new ArrayList<>(results.size());
    int best = 0;
    for (int i = 0; i < results.size(); i++) {
      GenerationResult r = results.get(i);
      double lp = policy.sum(i), lr = reference.sum(i);
      double reward = b.beta() * (lp - lr);
      int tokens = batch.get(i).response().length; // as scored: the reply's tokens and its end
      if (b.perToken()) reward = tokens == 0 ? 0 : reward / tokens;
      scored.add(new Scored(r, lp, lr, reward, tokens));
      if (reward > scored.get(best).reward()) best = i;
    }
    return new Outcome(scored, best);
  }
}
