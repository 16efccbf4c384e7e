package io.prefstream.learner.objective;

import java.util.Arrays;

/**
 * The inputs of {@link KtoObjective} for one micro-batch of unpaired thumbs: per example, the summed
 * policy and reference log-probs of the response, whether it is desirable (thumb up), its token count
 * and a weight (1 = full). The mismatched arrays hold the policy and reference log-probs of
 * (prompt_i, response_j), j ≠ i, used only to estimate the KL reference point z0; they may be empty,
 * which sets z0 = 0 (TRL's {@code calculate_KL=False}). {@link KtoObjective#mismatchedIndex} pairs them.
 * Arrays are not copied.
 */
public record KtoBatch(
    double[] policy,
    double[] reference,
    boolean[] desirable,
    int[] tokens,
    double[] weights,
    double[] policyMismatched,
    double[] referenceMismatched) {

  public KtoBatch {
    int n = PreferenceBatch.requireLength("policy", policy, -1);
    if (n == 0) {
      throw new IllegalArgumentException("a KTO batch needs at least one example, got 0");
    }
    PreferenceBatch.requireLength("reference", reference, n);
    if (desirable == null || desirable.length != n) {
      throw new IllegalArgumentException("desirable must have " + n + " entries, got "
          + (desirable == null ? "none" : desirable.length));
    }
    PreferenceBatch.requireTokens("tokens", tokens, n);
    if (weights == null) {
      weights = new double[n];
      Arrays.fill(weights, 1.0);
    }
    PreferenceBatch.requireWeights(weights, n);
    if (policyMismatched == null) {
      policyMismatched = new double[0];
    }
    if (referenceMismatched == null) {
      referenceMismatched = new double[0];
    }
    PreferenceBatch.requireLength("referenceMismatched", referenceMismatched, policyMismatched.length);
  }

  /** Number of examples. */
  public int size() {
    return policy.length;
  }
}
