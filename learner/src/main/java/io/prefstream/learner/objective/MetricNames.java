package io.prefstream.learner.objective;

/**
 * The metric keys the objectives report, spelled as TRL logs them, so dashboards and the
 * {@code PolicyUpdate} metrics map read the same as a TRL run's.
 */
public final class MetricNames {
  private MetricNames() {}

  public static final String LOSS = "loss";
  public static final String REWARDS_CHOSEN = "rewards/chosen";
  public static final String REWARDS_REJECTED = "rewards/rejected";
  public static final String REWARDS_ACCURACIES = "rewards/accuracies";
  public static final String REWARDS_MARGINS = "rewards/margins";
  public static final String LOGPS_CHOSEN = "logps/chosen";
  public static final String LOGPS_REJECTED = "logps/rejected";
  /** Pair objectives: {@link KlEstimate#perToken}; KTO: TRL's reference point z0. */
  public static final String KL = "kl";
  /** Mean negative log-likelihood per token of the chosen responses (the SFT term, before α). */
  public static final String NLL_LOSS = "nll_loss";
  /**
   * Mean negative log-likelihood per token of the chosen responses under the pinned reference: how
   * fluent, to the reference, the replies the policy is pushed towards are (step 12's fluency guard
   * compares it with the served replies'). Not a TRL metric.
   */
  public static final String REF_NLL_CHOSEN = "fluency/ref_nll_chosen";
  /** Completion tokens of the chosen responses the metric above averages over. */
  public static final String TOKENS_CHOSEN = "fluency/chosen_tokens";
  public static final String COUNT_CHOSEN = "count/chosen";
  public static final String COUNT_REJECTED = "count/rejected";
  public static final String GRAD_NORM = "grad_norm";
}
