package io.prefstream.model.llama;

/**
 * Per-sequence results of scoring a batch: the sum of the response tokens' log-probabilities
 * (accumulated in double), the number of response tokens, and each response token's log-prob.
 */
public record SequenceLogProbs(double[] sums, int[] tokenCounts, float[][] tokenLogProbs) {
  public int size() {
    return sums.length;
  }

  public double sum(int i) {
    return sums[i];
  }
}
