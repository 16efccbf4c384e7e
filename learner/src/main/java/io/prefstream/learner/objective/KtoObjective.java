package io.prefstream.learner.objective;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * KTO (Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic Optimization"), as TRL's
 * {@code KTOTrainer} computes it, for unpaired thumbs. With r = log π(y|x) − log π_ref(y|x) on summed
 * log-probs and the reference point z0 = max(0, mean_j(log π(y_j|x_i) − log π_ref(y_j|x_i))) over
 * mismatched pairs, held constant (detached, no gradient, as TRL):
 * desirable ℓ = λ_D (1 − σ(β(r − z0))), undesirable ℓ = λ_U (1 − σ(β(z0 − r))).
 * The batch loss is (1/N) Σ w_i ℓ_i over all N examples (TRL's mean over the concatenated losses;
 * weights as in {@link PairObjective}).
 */
public record KtoObjective(double beta, double desirableWeight, double undesirableWeight) {
  public KtoObjective {
    PairObjective.requireBeta(beta);
    if (!(desirableWeight >= 0) || Double.isInfinite(desirableWeight)
        || !(undesirableWeight >= 0) || Double.isInfinite(undesirableWeight)) {
      throw new IllegalArgumentException("desirable/undesirable weights = " + desirableWeight + "/"
          + undesirableWeight + ": expected finite weights >= 0");
    }
  }

  /** KTO with TRL's default weights λ_D = λ_U = 1. */
  public KtoObjective(double beta) {
    this(beta, 1.0, 1.0);
  }

  /**
   * For each example i, the index j of the response paired with prompt i to form a mismatched
   * (prompt, response) sequence: the previous example's, cyclically (j = i − 1 mod n). Needs n ≥ 2,
   * since a single example has no other response.
   */
  public static int[] mismatchedIndex(int n) {
    if (n < 2) {
      throw new IllegalArgumentException("mismatched pairs need at least 2 examples, got " + n);
    }
    int[] j = new int[n];
    for (int i = 0; i < n; i++) {
      j[i] = (i + n - 1) % n;
    }
    return j;
  }

  /** The reference point z0 for a batch (0 when it has no mismatched sequences). */
  public static double referencePoint(KtoBatch batch) {
    if (batch.policyMismatched().length == 0) {
      return 0.0;
    }
    return Math.max(0.0, KlEstimate.perSequence(batch.policyMismatched(),
        batch.referenceMismatched()));
  }

  /** Loss, gradients, z0 and metrics for a batch. */
  public KtoResult evaluate(KtoBatch batch) {
    int n = batch.size();
    double z0 = referencePoint(batch);
    double[] grad = new double[n];
    double lossSum = 0;
    double rewardsChosen = 0;
    double rewardsRejected = 0;
    double logpsChosen = 0;
    double logpsRejected = 0;
    int countChosen = 0;
    int countRejected = 0;
    for (int i = 0; i < n; i++) {
      double r = batch.policy()[i] - batch.reference()[i];
      double w = batch.weights()[i];
      // u is the argument of the sigmoid; ℓ = λ(1 − σ(u)) and dσ/du = σ(u)σ(−u), evaluated stably.
      boolean good = batch.desirable()[i];
      double u = good ? beta * (r - z0) : beta * (z0 - r);
      double lambda = good ? desirableWeight : undesirableWeight;
      if (w != 0) {
        double s = StableMath.sigmoid(u);
        lossSum += w * lambda * (1 - s);
        double dLossDu = -lambda * s * StableMath.sigmoid(-u);
        double duDr = good ? beta : -beta;
        grad[i] = w * dLossDu * duDr / n;
      }
      if (good) {
        countChosen++;
        rewardsChosen += beta * r;
        logpsChosen += batch.policy()[i];
      } else {
        countRejected++;
        rewardsRejected += beta * r;
        logpsRejected += batch.policy()[i];
      }
    }
    double loss = lossSum / n;
    Map<String, Double> metrics = new LinkedHashMap<>();
    metrics.put(MetricNames.LOSS, loss);
    // A class absent from the batch has no mean: its metrics are left out rather than reported as 0.
    if (countChosen > 0) {
      metrics.put(MetricNames.REWARDS_CHOSEN, rewardsChosen / countChosen);
      metrics.put(MetricNames.LOGPS_CHOSEN, logpsChosen / countChosen);
    }
    if (countRejected > 0) {
      metrics.put(MetricNames.REWARDS_REJECTED, rewardsRejected / countRejected);
      metrics.put(MetricNames.LOGPS_REJECTED, logpsRejected / countRejected);
    }
    if (countChosen > 0 && countRejected > 0) {
      metrics.put(MetricNames.REWARDS_MARGINS,
          rewardsChosen / countChosen - rewardsRejected / countRejected);
    }
    metrics.put(MetricNames.KL, z0);
    metrics.put(MetricNames.COUNT_CHOSEN, (double) countChosen);
    metrics.put(MetricNames.COUNT_REJECTED, (double) countRejected);
    return new KtoResult(loss, grad, z0, metrics);
  }
}
