package io.prefstream.learner.objective;

import java.util.Arrays;

/**
 * The inputs of a pair objective for one micro-batch: per pair, the summed log-probability of the
 * chosen and of the rejected response under the policy and under the pinned reference, each
 * response's token count, and a weight (1 = full weight; less for stale examples, see
 * {@link PairObjective}). Arrays are indexed by pair and are not copied: the caller must not change them
 * while the batch is in use. Log-probs may be non-finite (the result then is, and the trainer skips the
 * batch); counts and weights are validated here.
 */
public record PreferenceBatch(
    double[] policyChosen,
    double[] policyRejected,
    double[] referenceChosen,
    double[] referenceRejected,
    int[] chosenTokens,
    int[] rejectedTokens,
    double[] weights) {

  public PreferenceBatch {
    int n = requireLength("policyChosen", policyChosen, -1);
    if (n == 0) {
      throw new IllegalArgumentException("a preference batch needs at least one pair, got 0");
    }
    requireLength("policyRejected", policyRejected, n);
    requireLength("referenceChosen", referenceChosen, n);
    requireLength("referenceRejected", referenceRejected, n);
    requireTokens("chosenTokens", chosenTokens, n);
    requireTokens("rejectedTokens", rejectedTokens, n);
    if (weights == null) {
      weights = new double[n];
      Arrays.fill(weights, 1.0);
    }
    requireWeights(weights, n);
  }

  /** A batch where every pair has weight 1. */
  public static PreferenceBatch unweighted(double[] policyChosen, double[] policyRejected,
      double[] referenceChosen, double[] referenceRejected, int[] chosenTokens, int[] rejectedTokens) {
    return new PreferenceBatch(policyChosen, policyRejected, referenceChosen, referenceRejected,
        chosenTokens, rejectedTokens, null);
  }

  /** Number of pairs. */
  public int size() {
    return policyChosen.length;
  }

  static int requireLength(String name, double[] a, int expected) {
    if (a == null) {
      throw new IllegalArgumentException(name + " is missing");
    }
    if (expected >= 0 && a.length != expected) {
      throw new IllegalArgumentException(name + " has " + a.length + " entries, expected " + expected);
    }
    return a.length;
  }

  static void requireTokens(String name, int[] tokens, int n) {
    if (tokens == null || tokens.length != n) {
      throw new IllegalArgumentException(name + " must have " + n + " entries, got "
          + (tokens == null ? "none" : tokens.length));
    }
    for (int i = 0; i < n; i++) {
      if (tokens[i] < 1) {
        throw new IllegalArgumentException(name + "[" + i + "] = " + tokens[i]
            + ": a response has at least one token");
      }
    }
  }

  static void requireWeights(double[] weights, int n) {
    if (weights.length != n) {
      throw new IllegalArgumentException("weights has " + weights.length + " entries, expected " + n);
    }
    for (int i = 0; i < n; i++) {
      if (!(weights[i] >= 0) || Double.isInfinite(weights[i])) {
        throw new IllegalArgumentException("weights[" + i + "] = " + weights[i]
            + ": expected a finite weight >= 0");
      }
    }
  }
}
