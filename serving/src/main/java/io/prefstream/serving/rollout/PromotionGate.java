package io.prefstream.serving.rollout;

import java.util.Map;
import java.util.Optional;

/**
 * The auto-promotion gate: a candidate is promoted when its held-out reward accuracy
 * ({@value #METRIC}, the share of eval pairs where the implicit reward ranks the chosen response
 * higher) is not below the stable version's minus a margin. A stable version without the metric
 * (e.g. the base weights) lets any candidate through; a candidate without it is held when the
 * stable version has one, since nothing shows it is not worse.
 *
 * @param margin how much accuracy a candidate may lose against the stable version (e.g. 0.05)
 */
public record PromotionGate(double margin) {
  public static final String METRIC = "eval/rewards/accuracies";

  public PromotionGate {
    if (!(margin >= 0 && margin <= 1)) throw new IllegalArgumentException("gate margin must be in [0, 1], got " + margin);
  }

  /** Empty when the candidate passes, else why it is held. */
  public Optional<String> check(Map<String, Double> candidate, Map<String, Double> stable) {
    Double s = stable.get(METRIC);
    if (s == null || !Double.isFinite(s)) return Optional.empty();
    Double c = candidate.get(METRIC);
    if (c == null || !Double.isFinite(c)) {
      return Optional.of("held: no " + METRIC + " while the stable version has " + s);
    }
    if (c < s - margin) {
      return Optional.of(String.format(java.util.Locale.ROOT, "held: %s %.4f is below stable's %.4f minus margin %.4f",
          METRIC, c, s, margin));
    }
    return Optional.empty();
  }
}
