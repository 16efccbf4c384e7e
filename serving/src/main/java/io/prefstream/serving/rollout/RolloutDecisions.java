package io.prefstream.serving.rollout;

import io.prefstream.schemas.avro.RolloutAuthor;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;

/**
 * The next desired states of a policy, as pure functions of its current state: what an operator's
 * promote, rollback, canary, mode and pin make of it, and whether automation (AUTO mode and the
 * {@link PromotionGate}) promotes a version. Every result is a proposal based on the state it was
 * computed from ({@link RolloutChain}), so it can only be written on top of that state. Tested
 * without threads in {@code RolloutDecisionsTest}.
 */
public final class RolloutDecisions {
  private RolloutDecisions() {}

  /** Who proposes and when; {@code defaultMode} is the mode of a policy that has no state yet. */
  public record Author(RolloutAuthor kind, String name, RolloutMode defaultMode, Instant at) {}

  /** A copy of {@code current} (or a policy's first state) as a proposal based on it, with no reason yet. */
  public static RolloutState.Builder basedOn(RolloutState current, String policyId, Author author) {
    RolloutState.Builder b = current == null
        ? RolloutState.newBuilder().setPolicyId(policyId).setMode(author.defaultMode())
        : RolloutState.newBuilder(current);
    return b.setBaseRevision(RolloutChain.revisionOf(current)).setRevision(RolloutChain.nextRevision(current))
        .setAuthor(author.kind()).setUpdatedBy(author.name()).setUpdatedAt(author.at()).setReason(null);
  }

  /** {@code version} becomes stable (and stops being the canary). */
  public static RolloutState promote(RolloutState current, String policyId, Author author, long version, String reason) {
    RolloutState.Builder b = basedOn(current, policyId, author).setStableVersion(version).setReason(blankToNull(reason));
    if (b.getCanaryVersion() != null && b.getCanaryVersion() == version) b.setCanaryVersion(null).setCanaryPercent(0);
    return b.build();
  }

  /** Back to {@code version}, canary ended, and MANUAL so that automation does not promote past it again. */
  public static RolloutState rollback(RolloutState current, String policyId, Author author, long version, String reason) {
    return basedOn(current, policyId, author).setStableVersion(version).setCanaryVersion(null).setCanaryPercent(0)
        .setMode(RolloutMode.MANUAL).setReason(reason == null || reason.isBlank() ? "rollback" : reason).build();
  }

  /** {@code percent} of users to {@code version}; 0 ends the canary. */
  public static RolloutState canary(RolloutState current, String policyId, Author author, long version, double percent) {
    return basedOn(current, policyId, author).setCanaryVersion(percent > 0 ? version : null).setCanaryPercent(percent)
        .setReason(percent > 0 ? "canary v" + version + " at " + percent + "%" : "canary ended").build();
  }

  public static RolloutState mode(RolloutState current, String policyId, Author author, RolloutMode mode) {
    return basedOn(current, policyId, author).setMode(mode).setReason("mode " + mode).build();
  }

  /** Records the reference the learner was asked to pin ("base" or "v&lt;n&gt;"). */
  public static RolloutState pin(RolloutState current, String policyId, Author author, String reference) {
    return basedOn(current, policyId, author).setPinnedReference(reference).setReason("pin reference " + reference).build();
  }

  /** What automation makes of one version. */
  public sealed interface Auto {
    /** Write this state (the version becomes stable). */
    record Promote(RolloutState next) implements Auto {}

    /** The gate holds the version; the reason starts with "held: ". */
    record Held(String reason) implements Auto {}

    /** Not automation's call: MANUAL mode, or the version is not newer than the stable one. */
    record NotApplicable() implements Auto {}
  }

  /** The stable version a state names; 0 (the base weights) when none. */
  public static long stableOf(RolloutState state) {
    return state == null || state.getStableVersion() == null ? 0 : state.getStableVersion();
  }

  /**
   * Automation's decision on {@code version} (with {@code candidate} metrics) given the current
   * state and the metrics of the version it names as stable.
   */
  public static Auto autoPromote(RolloutState current, String policyId, Author author, PromotionGate gate, long version,
      Map<String, Double> candidate, Map<String, Double> stable) {
    RolloutMode mode = current == null ? author.defaultMode() : current.getMode();
    if (mode != RolloutMode.AUTO || version <= stableOf(current)) return new Auto.NotApplicable();
    Optional<String> held = gate.check(candidate == null ? Map.of() : candidate, stable == null ? Map.of() : stable);
    if (held.isPresent()) return new Auto.Held(held.get());
    return new Auto.Promote(basedOn(current, policyId, author).setStableVersion(version)
        .setReason("auto: passed the gate on " + PromotionGate.METRIC).build());
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s;
  }
}
