package io.prefstream.learner.eval;

import io.prefstream.learner.objective.MetricNames;
import io.prefstream.learner.objective.PairResult;
import io.prefstream.learner.objective.PreferenceBatch;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.llama.PromptResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Scores held-out preference pairs with the current policy against the pinned reference, without
 * gradients: the implicit reward of a response is β·(log π − log π_ref), and the pair is ranked right
 * when the chosen response's reward is strictly higher (TRL's {@code rewards/accuracies}). Reports
 * TRL's eval names: {@code eval/rewards/accuracies}, {@code eval/rewards/margins},
 * {@code eval/rewards/chosen}, {@code eval/rewards/rejected}, {@code eval/loss} (the training
 * objective on these pairs), {@code eval/logps/chosen}, {@code eval/logps/rejected}, plus
 * {@code eval/count}. Pairs are scored in chunks so memory stays bounded.
 */
public final class HeldOutEvaluator {
  public static final String PREFIX = "eval/";
  public static final String ACCURACY = PREFIX + MetricNames.REWARDS_ACCURACIES;
  public static final String MARGIN = PREFIX + MetricNames.REWARDS_MARGINS;
  private static final int CHUNK_PAIRS = 32;

  private HeldOutEvaluator() {}

  /** Metrics over {@code pairs} (empty map when there are none or none could be encoded). */
  public static Map<String, Double> evaluate(DpoTrainer trainer, List<TrainingBatch.Pair> pairs) {
    List<PromptResponse> chosen = new ArrayList<>(), rejected = new ArrayList<>();
    for (TrainingBatch.Pair p : pairs) {
      try {
        PromptResponse c = trainer.encoder().encode(p.prompt(), p.chosen());
        PromptResponse r = trainer.encoder().encode(p.prompt(), p.rejected());
        chosen.add(c);
        rejected.add(r);
      } catch (IllegalArgumentException e) {
        // An eval pair with nothing to score carries no signal; it is left out of the count.
      }
    }
    int n = chosen.size();
    if (n == 0) return Map.of();
    double[] pc = new double[n], pr = new double[n], rc = new double[n], rr = new double[n];
    int[] tc = new int[n], tr = new int[n];
    for (int from = 0; from < n; from += CHUNK_PAIRS) {
      int to = Math.min(n, from + CHUNK_PAIRS);
      List<PromptResponse> seqs = new ArrayList<>(chosen.subList(from, to));
      seqs.addAll(rejected.subList(from, to));
      int k = to - from;
      var ref = trainer.reference().logProbs(seqs);
      var pol = trainer.policy().logProbs(seqs);
      for (int i = 0; i < k; i++) {
        pc[from + i] = pol.sum(i);
        pr[from + i] = pol.sum(k + i);
        rc[from + i] = ref.sum(i);
        rr[from + i] = ref.sum(k + i);
        tc[from + i] = pol.tokenCounts()[i];
        tr[from + i] = pol.tokenCounts()[k + i];
      }
    }
    PairResult result = trainer.config().pairObjective().evaluate(PreferenceBatch.unweighted(pc, pr, rc, rr, tc, tr));
    Map<String, Double> out = new LinkedHashMap<>();
    result.metrics().forEach((k, v) -> {
      if (!k.equals(MetricNames.KL)) out.put(PREFIX + k, v);
    });
    out.put(PREFIX + "count", (double) n);
    return out;
  }
}
