package io.prefstream.learner.objective;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The batch arithmetic shared by every {@link PairObjective}: forms h per pair, averages the weighted
 * per-pair losses, applies the chain rule back to the summed policy log-probs, and collects TRL's
 * metrics. Only the per-pair ℓ and dℓ/dh differ between objectives.
 */
final class PairEvaluator {
  private PairEvaluator() {}

  static PairResult evaluate(PairObjective objective, PreferenceBatch batch) {
    int n = batch.size();
    double beta = objective.beta();
    LengthNormalization norm = objective.normalization();
    double[] gradChosen = new double[n];
    double[] gradRejected = new double[n];
    double lossSum = 0;
    double rewardsChosen = 0;
    double rewardsRejected = 0;
    double accurate = 0;
    double logpsChosen = 0;
    double logpsRejected = 0;
    double refNllChosen = 0;
    long tokensChosen = 0;
    for (int i = 0; i < n; i++) {
      refNllChosen -= batch.referenceChosen()[i];
      tokensChosen += batch.chosenTokens()[i];
      double scaleChosen = norm.scale(batch.chosenTokens()[i]);
      double scaleRejected = norm.scale(batch.rejectedTokens()[i]);
      double pc = batch.policyChosen()[i] * scaleChosen;
      double pr = batch.policyRejected()[i] * scaleRejected;
      double chosenRatio = pc - batch.referenceChosen()[i] * scaleChosen;
      double rejectedRatio = pr - batch.referenceRejected()[i] * scaleRejected;
      double h = chosenRatio - rejectedRatio;
      double w = batch.weights()[i];
      // A zero weight drops the pair; skipping the product keeps a non-finite ℓ of a dropped pair out.
      if (w != 0) {
        lossSum += w * objective.pairLoss(h);
        double slope = w * objective.pairLossSlope(h) / n;
        // ∂h/∂pc = +scale, ∂h/∂pr = −scale.
        gradChosen[i] = slope * scaleChosen;
        gradRejected[i] = -slope * scaleRejected;
      }
      double rc = beta * chosenRatio;
      double rr = beta * rejectedRatio;
      rewardsChosen += rc;
      rewardsRejected += rr;
      accurate += rc > rr ? 1 : 0;
      logpsChosen += pc;
      logpsRejected += pr;
    }
    double loss = lossSum / n;
    Map<String, Double> metrics = new LinkedHashMap<>();
    metrics.put(MetricNames.LOSS, loss);
    metrics.put(MetricNames.REWARDS_CHOSEN, rewardsChosen / n);
    metrics.put(MetricNames.REWARDS_REJECTED, rewardsRejected / n);
    metrics.put(MetricNames.REWARDS_ACCURACIES, accurate / n);
    metrics.put(MetricNames.REWARDS_MARGINS, (rewardsChosen - rewardsRejected) / n);
    metrics.put(MetricNames.LOGPS_CHOSEN, logpsChosen / n);
    metrics.put(MetricNames.LOGPS_REJECTED, logpsRejected / n);
    if (tokensChosen > 0) {
      metrics.put(MetricNames.REF_NLL_CHOSEN, refNllChosen / tokensChosen);
      metrics.put(MetricNames.TOKENS_CHOSEN, (double) tokensChosen);
    }
    metrics.put(MetricNames.KL, KlEstimate.perToken(batch.policyChosen(), batch.referenceChosen(),
        batch.chosenTokens()));
    return new PairResult(loss, gradChosen, gradRejected, metrics);
  }
}
