package io.prefstream.learner.trainer;

import java.util.Locale;

/**
 * What happens to an example produced by an old policy version. An example whose
 * {@code policy_version} is more than {@code maxLag} versions behind the learner's current version
 * is {@link Mode#DOWNWEIGHT down-weighted} (its loss term is multiplied by {@code staleWeight}) or
 * {@link Mode#DROP dropped}. Examples without a version (offline data, apps that do not report it)
 * count as fresh. A negative {@code maxLag} turns the rule off.
 */
public record Staleness(long maxLag, Mode mode, double staleWeight) {
  /** The two treatments of a stale example. */
  public enum Mode {
    DOWNWEIGHT,
    DROP;

    public static Mode parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("staleness mode '" + s + "': expected DOWNWEIGHT or DROP");
      }
    }
  }

  public Staleness {
    if (mode == null) {
      throw new IllegalArgumentException("staleness mode is missing: expected DOWNWEIGHT or DROP");
    }
    if (!(staleWeight >= 0 && staleWeight <= 1)) {
      throw new IllegalArgumentException("stale weight = " + staleWeight + ": expected a number in [0, 1]");
    }
  }

  /** No staleness rule: every example has weight 1. */
  public static Staleness off() {
    return new Staleness(-1, Mode.DOWNWEIGHT, 1.0);
  }

  /**
   * The weight of an example produced by {@code exampleVersion} when the learner is at
   * {@code currentVersion}: 1 when fresh, {@code staleWeight} when stale and down-weighted, 0 when
   * stale and dropped.
   */
  public double weight(Long exampleVersion, long currentVersion) {
    if (maxLag < 0 || exampleVersion == null || currentVersion - exampleVersion <= maxLag) {
      return 1.0;
    }
    return mode == Mode.DROP ? 0.0 : staleWeight;
  }
}
