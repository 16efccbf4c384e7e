package io.prefstream.serving.rollout;

import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The auto-promotion gate. A candidate is promoted when its held-out reward accuracy
 * ({@value #METRIC}, the share of eval pairs where the implicit reward ranks the chosen response
 * higher) is not below the stable version's minus a margin. A stable version without the metric
 * (e.g. the base weights) lets any candidate through; a candidate without it is held when the
 * stable version has one, since nothing shows it is not worse.
 *
 * <p>With a fluency margin, candidates are also held while the replies served by the stable version
 * cost the reference model more than that fraction above what the base model's own replies cost
 * (NLL per token, {@value #SERVED_NLL} against {@value #SERVED_NLL_BASE}, measured on this replica by
 * sampling): a line of versions drifting into broken text stops being rolled forward, and the held
 * reason says why, until an operator rolls back or promotes. Without both measurements (a replica
 * that never served the base, or too few replies scored yet) the check passes.
 *
 * @param margin        how much accuracy a candidate may lose against the stable version (e.g. 0.05)
 * @param fluencyMargin how far above the base model's the stable version's served-reply NLL may be
 *                      (0.1 = 10%); 0 turns the check off
 */
public record PromotionGate(double margin, double fluencyMargin) {
  public static final String METRIC = "eval/rewards/accuracies";
  /** The stable version's served replies' reference NLL per token, as the replica measured it. */
  public static final String SERVED_NLL = "served/ref_nll";
  /** The base model's (version 0's) served replies' reference NLL per token, as the replica measured it. */
  public static final String SERVED_NLL_BASE = "served/ref_nll_base";

  public PromotionGate {
    if (!(margin >= 0 && margin <= 1)) throw new IllegalArgumentException("gate margin must be in [0, 1], got " + margin);
    if (!(fluencyMargin >= 0) || Double.isInfinite(fluencyMargin)) {
      throw new IllegalArgumentException("fluency margin must be a finite fraction >= 0 (0 = off), got " + fluencyMargin);
    }
  }

  /** The accuracy check only. */
  public PromotionGate(double margin) {
    this(margin, 0);
  }

  /**
   * Empty when the candidate passes, else why it is held. {@code stable} holds the stable version's
   * learner metrics and, when measured, {@link #SERVED_NLL} and {@link #SERVED_NLL_BASE}.
   */
  public Optional<String> check(Map<String, Double> candidate, Map<String, Double> stable) {
    Double servedNll = stable.get(SERVED_NLL), baseNll = stable.get(SERVED_NLL_BASE);
    if (fluencyMargin > 0 && servedNll != null && baseNll != null && baseNll > 0 && servedNll > baseNll * (1 + fluencyMargin)) {
      return Optional.of(String.format(Locale.ROOT, "held: the stable version's served replies cost the reference %.4f"
          + " nats per token, %.1f%% above the base model's %.4f (fluency margin %.1f%%)", servedNll,
          100 * (servedNll / baseNll - 1), baseNll, 100 * fluencyMargin));
    }
    Double s = stable.get(METRIC);
    if (s == null || !Double.isFinite(s)) return Optional.empty();
    Double c = candidate.get(METRIC);
    if (c == null || !Double.isFinite(c)) {
      return Optional.of("held: no " + METRIC + " while the stable version has " + s);
    }
    if (c < s - margin) {
      return Optional.of(String.format(Locale.ROOT, "held: %s %.4f is below stable's %.4f minus margin %.4f",
          METRIC, c, s, margin));
    }
    return Optional.empty();
  }
}
