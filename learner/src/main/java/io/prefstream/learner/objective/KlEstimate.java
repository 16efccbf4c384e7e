package io.prefstream.learner.objective;

/**
 * Cheap estimates of the policy's KL divergence from the reference, for metrics only. Both average
 * log π(y|x) − log π_ref(y|x) over responses y already in the batch. That is the Monte-Carlo estimator
 * of KL(π‖π_ref) only when y was sampled from π; for logged human choices (the chosen responses of
 * past policies) it is an estimate of how far the policy has moved on the data it learns from, which
 * can even be negative. Use it to watch drift, not as a bound.
 */
public final class KlEstimate {
  private KlEstimate() {}

  /** Σ_i (log π_i − log π_ref,i) / Σ_i tokens_i: nats per token. */
  public static double perToken(double[] policy, double[] reference, int[] tokens) {
    check(policy, reference);
    if (tokens.length != policy.length) {
      throw new IllegalArgumentException("tokens has " + tokens.length + " entries, expected "
          + policy.length);
    }
    double diff = 0;
    long count = 0;
    for (int i = 0; i < policy.length; i++) {
      diff += policy[i] - reference[i];
      count += tokens[i];
    }
    return count == 0 ? 0.0 : diff / count;
  }

  /** mean_i (log π_i − log π_ref,i): nats per sequence (0 for no sequences). */
  public static double perSequence(double[] policy, double[] reference) {
    check(policy, reference);
    double diff = 0;
    for (int i = 0; i < policy.length; i++) {
      diff += policy[i] - reference[i];
    }
    return policy.length == 0 ? 0.0 : diff / policy.length;
  }

  private static void check(double[] policy, double[] reference) {
    if (policy.length != reference.length) {
      throw new IllegalArgumentException("policy has " + policy.length + " log-probs but reference has "
          + reference.length + "; expected one per sequence in both");
    }
  }
}
