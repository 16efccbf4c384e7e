package io.prefstream.learner.objective;

/**
 * How a sequence's summed log-probability enters an objective. {@link #SUM} uses the summed
 * log-probability as is (the DPO paper and TRL's default); {@link #MEAN} divides the policy's and the
 * reference's sums by the response's token count first, which is what TRL does for its IPO loss
 * ({@code loss_type="ipo"}: {@code all_logps / loss_mask.sum(-1)}), so that the IPO target margin
 * 1/(2β) does not depend on response length.
 */
public enum LengthNormalization {
  SUM,
  MEAN;

  /** The factor a summed log-prob of a {@code tokens}-long response is multiplied by. */
  double scale(int tokens) {
    return this == MEAN ? 1.0 / tokens : 1.0;
  }
}
