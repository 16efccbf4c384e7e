package io.prefstream.serving.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class CanaryRouterTest {
  @Test
  void canaryShareOverManyUsersIsWithinToleranceOfThePercent() {
    int users = 20_000;
    for (double percent : new double[] {1, 10, 25, 50, 90}) {
      int in = 0;
      for (int u = 0; u < users; u++) if (CanaryRouter.inCanary("user-" + u, percent)) in++;
      double share = 100.0 * in / users;
      // Binomial standard deviation at 50% and 20k users is 0.35 points; allow about 4 of them.
      assertThat(share).as("share at %s%%", percent).isCloseTo(percent, org.assertj.core.data.Offset.offset(1.5));
    }
  }

  @Test
  void aUserStaysOnTheSameSideAndGrowingTheShareOnlyAddsUsers() {
    for (int u = 0; u < 2_000; u++) {
      String user = "u" + u;
      assertThat(CanaryRouter.bucket(user)).isEqualTo(CanaryRouter.bucket(user)).isBetween(0.0, 100.0);
      if (CanaryRouter.inCanary(user, 10)) assertThat(CanaryRouter.inCanary(user, 20)).isTrue();
    }
  }

  @Test
  void requestsWithoutAUserIdAndAZeroShareNeverGoToTheCanary() {
    assertThat(CanaryRouter.inCanary("", 100)).isFalse();
    assertThat(CanaryRouter.inCanary(null, 100)).isFalse();
    assertThat(CanaryRouter.inCanary("someone", 0)).isFalse();
    assertThat(CanaryRouter.inCanary("someone", 100)).isTrue();
  }

  @Test
  void gatePassesWithinTheMarginAndHoldsBelowItOrWithoutTheMetric() {
    PromotionGate gate = new PromotionGate(0.05);
    String m = PromotionGate.METRIC;
    assertThat(gate.check(Map.of(m, 0.76), Map.of(m, 0.80))).isEmpty();
    assertThat(gate.check(Map.of(m, 0.74), Map.of(m, 0.80))).get().asString().startsWith("held:");
    assertThat(gate.check(Map.of(), Map.of(m, 0.80))).get().asString().contains("no " + m);
    assertThat(gate.check(Map.of(), Map.of())).isEmpty();
    assertThat(gate.check(Map.of(m, 0.1), Map.of("loss", 0.3))).isEmpty();
  }
}
