package io.prefstream.serving.rollout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.schemas.avro.RolloutAuthor;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Operators' and automation's next states, as pure functions of the current one. */
class RolloutDecisionsTest {
  static final RolloutDecisions.Author OP = RolloutChainTest.OP;
  static final RolloutDecisions.Author AUTO = RolloutChainTest.AUTO;
  static final PromotionGate GATE = new PromotionGate(0.05);
  static final String ACC = PromotionGate.METRIC;

  @Test
  void automationPromotesANewerVersionThatPassesTheGateHoldsAWorseOneAndLeavesManualAlone() {
    RolloutState stable3 = RolloutDecisions.promote(null, "p", OP, 3, "ship");
    assertThat(RolloutDecisions.autoPromote(stable3, "p", AUTO, GATE, 4, Map.of(ACC, 0.78), Map.of(ACC, 0.80)))
        .isInstanceOfSatisfying(RolloutDecisions.Auto.Promote.class, p -> {
          assertThat(p.next().getStableVersion()).isEqualTo(4L);
          assertThat(p.next().getBaseRevision()).isEqualTo(stable3.getRevision());
          assertThat(p.next().getAuthor()).isEqualTo(RolloutAuthor.AUTOMATION);
          assertThat(p.next().getUpdatedBy()).isEqualTo("auto@a");
        });
    assertThat(RolloutDecisions.autoPromote(stable3, "p", AUTO, GATE, 4, Map.of(ACC, 0.70), Map.of(ACC, 0.80)))
        .isInstanceOfSatisfying(RolloutDecisions.Auto.Held.class, h -> assertThat(h.reason()).startsWith("held: "));
    assertThat(RolloutDecisions.autoPromote(stable3, "p", AUTO, GATE, 2, Map.of(ACC, 0.99), Map.of(ACC, 0.80)))
        .isInstanceOf(RolloutDecisions.Auto.NotApplicable.class);
    RolloutState manual = RolloutDecisions.rollback(stable3, "p", OP, 1, "");
    assertThat(RolloutDecisions.autoPromote(manual, "p", AUTO, GATE, 4, Map.of(ACC, 0.99), Map.of()))
        .isInstanceOf(RolloutDecisions.Auto.NotApplicable.class);
  }

  @Test
  void theFluencyMarginHoldsCandidatesWhileTheStableVersionsServedRepliesCostTheReferenceTooMuch() {
    PromotionGate gate = new PromotionGate(0.05, 0.10);
    String nll = PromotionGate.SERVED_NLL, base = PromotionGate.SERVED_NLL_BASE;
    RolloutState stable3 = RolloutDecisions.promote(null, "p", OP, 3, "ship");
    // 2.3 is 15% above the base model's 2.0: held, with both figures in the reason.
    assertThat(RolloutDecisions.autoPromote(stable3, "p", AUTO, gate, 4, Map.of(ACC, 0.9), Map.of(ACC, 0.8, nll, 2.3, base, 2.0)))
        .isInstanceOfSatisfying(RolloutDecisions.Auto.Held.class, h -> assertThat(h.reason())
            .startsWith("held: the stable version's served replies").contains("2.3000", "15.0%", "2.0000", "margin 10.0%"));
    // 2.1 is within 10%; without the base's (or the stable's) figure there is nothing to compare: both promote.
    for (Map<String, Double> evidence : List.of(Map.of(ACC, 0.8, nll, 2.1, base, 2.0), Map.of(ACC, 0.8, nll, 9.0),
        Map.of(ACC, 0.8, base, 2.0))) {
      assertThat(RolloutDecisions.autoPromote(stable3, "p", AUTO, gate, 4, Map.of(ACC, 0.9), evidence))
          .as("%s", evidence).isInstanceOf(RolloutDecisions.Auto.Promote.class);
    }
    // Off (the default): the accuracy check alone.
    assertThat(RolloutDecisions.autoPromote(stable3, "p", AUTO, GATE, 4, Map.of(ACC, 0.9), Map.of(ACC, 0.8, nll, 2.3, base, 2.0)))
        .isInstanceOf(RolloutDecisions.Auto.Promote.class);
    assertThatThrownBy(() -> new PromotionGate(0.05, -0.1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("fluency margin");
  }

  @Test
  void withStandardErrorsTheFluencyMarginHoldsOnlyARiseBeyondItsNoise() {
    PromotionGate gate = new PromotionGate(0.05, 0.10);
    String nll = PromotionGate.SERVED_NLL, base = PromotionGate.SERVED_NLL_BASE;
    String nllSe = PromotionGate.SERVED_NLL_SE, baseSe = PromotionGate.SERVED_NLL_BASE_SE;
    RolloutState stable3 = RolloutDecisions.promote(null, "p", OP, 3, "ship");
    // 15% above the base from a few dozen replies each (errors 0.2 and 0.1 nats per token): within the noise.
    assertThat(RolloutDecisions.autoPromote(stable3, "p", AUTO, gate, 4, Map.of(ACC, 0.9),
        Map.of(ACC, 0.8, nll, 2.3, base, 2.0, nllSe, 0.2, baseSe, 0.1))).isInstanceOf(RolloutDecisions.Auto.Promote.class);
    // The same rise measured tightly: 2.3 / 2.0 - 1.645 * 1.15 * hypot(0.01 / 2.3, 0.01 / 2.0) = 1.1375 > 1.10, held.
    assertThat(RolloutDecisions.autoPromote(stable3, "p", AUTO, gate, 4, Map.of(ACC, 0.9),
        Map.of(ACC, 0.8, nll, 2.3, base, 2.0, nllSe, 0.01, baseSe, 0.01)))
        .isInstanceOfSatisfying(RolloutDecisions.Auto.Held.class, h -> assertThat(h.reason())
            .contains("15.0% above the base model's 2.0000", "at least 13.7% with 95% confidence", "margin 10.0%"));
    // Errors of 0.05: the bound 1.0873 is below the margin though the figure is 15% above it.
    assertThat(RolloutDecisions.autoPromote(stable3, "p", AUTO, gate, 4, Map.of(ACC, 0.9),
        Map.of(ACC, 0.8, nll, 2.3, base, 2.0, nllSe, 0.05, baseSe, 0.05))).isInstanceOf(RolloutDecisions.Auto.Promote.class);
    // Only one error known: the figures as they are (held, as without errors).
    assertThat(RolloutDecisions.autoPromote(stable3, "p", AUTO, gate, 4, Map.of(ACC, 0.9),
        Map.of(ACC, 0.8, nll, 2.3, base, 2.0, nllSe, 0.2))).isInstanceOf(RolloutDecisions.Auto.Held.class);
  }

  @Test
  void operatorsChangesKeepWhatTheyDoNotTouch() {
    RolloutState s = RolloutDecisions.canary(RolloutDecisions.promote(null, "p", OP, 1, null), "p", OP, 2, 20);
    assertThat(s.getStableVersion()).isEqualTo(1L);
    assertThat(s.getCanaryVersion()).isEqualTo(2L);
    RolloutState promoted = RolloutDecisions.promote(s, "p", OP, 2, " ");
    assertThat(promoted.getCanaryVersion()).isNull();
    assertThat(promoted.getCanaryPercent()).isZero();
    assertThat(promoted.getReason()).isNull();
    RolloutState back = RolloutDecisions.rollback(s, "p", OP, 0, null);
    assertThat(back.getMode()).isEqualTo(RolloutMode.MANUAL);
    assertThat(back.getReason()).isEqualTo("rollback");
    assertThat(back.getCanaryVersion()).isNull();
    RolloutState pinned = RolloutDecisions.pin(s, "p", OP, "v1");
    assertThat(pinned.getPinnedReference()).isEqualTo("v1");
    assertThat(pinned.getCanaryVersion()).isEqualTo(2L);
    assertThat(RolloutDecisions.basedOn(null, "p", new RolloutDecisions.Author(RolloutAuthor.OPERATOR, "op",
        RolloutMode.MANUAL, Instant.EPOCH)).build().getMode()).isEqualTo(RolloutMode.MANUAL);
  }
}
