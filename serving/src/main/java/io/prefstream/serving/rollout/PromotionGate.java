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
 * that never served the base, or too few replies scored yet) the check passes. With both figures' standard
 * errors ({@value #SERVED_NLL_SE}, {@value #SERVED_NLL_BASE_SE}) it holds only when the rise is beyond the margin
 * with 95% confidence (one-sided): figures from a few dozen sampled replies move by ±20% between identical
 * runs, and a version that is no worse must not be held on that noise.
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
  /** The standard error of {@link #SERVED_NLL}, from the same replies. */
  public static final String SERVED_NLL_SE = "served/ref_nll_se";
  /** The standard error of {@link #SERVED_NLL_BASE}, from the same replies. */
  public static final String SERVED_NLL_BASE_SE = "served/ref_nll_base_se";
  /** The one-sided 95% normal quantile: how many standard errors the rise must clear the margin by. */
  static final double Z_95_ONE_SIDED = 1.6449;

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
    Optional<String> fluency = fluencyCheck(stable);
    if (fluency.isPresent()) return fluency;
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

  /**
   * Why the stable version's served replies hold candidates back, if they do: their figure above the base model's by
   * more than the fluency margin, by its lower confidence bound when both standard errors are known.
   */
  private Optional<String> fluencyCheck(Map<String, Double> stable) {
    Double servedNll = stable.get(SERVED_NLL), baseNll = stable.get(SERVED_NLL_BASE);
    if (!(fluencyMargin > 0) || servedNll == null || baseNll == null || !(baseNll > 0)) return Optional.empty();
    double ratio = servedNll / baseNll;
    Double servedSe = stable.get(SERVED_NLL_SE), baseSe = stable.get(SERVED_NLL_BASE_SE);
    boolean withErrors = servedSe != null && baseSe != null && Double.isFinite(servedSe) && Double.isFinite(baseSe);
    double lower = withErrors ? ratio - Z_95_ONE_SIDED * ratio * Math.hypot(servedSe / servedNll, baseSe / baseNll) : ratio;
    if (!(lower > 1 + fluencyMargin)) return Optional.empty();
    return Optional.of(String.format(Locale.ROOT, "held: the stable version's served replies cost the reference %.4f"
        + " nats per token, %.1f%% above the base model's %.4f%s (fluency margin %.1f%%)", servedNll, 100 * (ratio - 1),
        baseNll, withErrors ? String.format(Locale.ROOT, "; at least %.1f%% with 95%% confidence", 100 * (lower - 1)) : "",
        100 * fluencyMargin));
  }
}
