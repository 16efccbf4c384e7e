package io.prefstream.learner.objective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import org.junit.jupiter.api.Test;

/** Limiting cases, identities between the variants, numerical stability and input validation. */
class PairObjectiveLimitsTest {

  @Property(tries = 200)
  void conservativeAndRobustWithoutSmoothingAreDpo(@ForAll long seed) {
    PreferenceBatch b = PairObjectiveGradientTest.randomBatch(seed);
    PairResult dpo = new Dpo(0.3).evaluate(b);
    for (PairObjective same : List.of(new ConservativeDpo(0.3, 0.0), new RobustDpo(0.3, 0.0))) {
      PairResult r = same.evaluate(b);
      assertThat(r.loss()).isCloseTo(dpo.loss(), within(1e-15 * Math.max(1, dpo.loss())));
      assertThat(r.gradPolicyChosen()).containsExactly(dpo.gradPolicyChosen(), within(1e-17));
      assertThat(r.gradPolicyRejected()).containsExactly(dpo.gradPolicyRejected(), within(1e-17));
      assertThat(r.metrics()).isEqualTo(dpo.metrics());
    }
  }

  @Property(tries = 300)
  void robustLossIsUnbiasedUnderLabelFlips(@ForAll @DoubleRange(min = -200, max = 200) double h,
      @ForAll @DoubleRange(min = 0, max = 0.45) double epsilon) {
    // Chowdhury et al.'s defining property: averaging over a flip with probability ε recovers DPO.
    RobustDpo robust = new RobustDpo(0.1, epsilon);
    double expected = new Dpo(0.1).pairLoss(h);
    double flipped = (1 - epsilon) * robust.pairLoss(h) + epsilon * robust.pairLoss(-h);
    assertThat(flipped).isCloseTo(expected, within(1e-12 * Math.max(1, Math.abs(expected))));
  }

  @Property(tries = 300)
  void conservativeDpoIsMinimalAtItsFiniteMargin(
      @ForAll @DoubleRange(min = 0.01, max = 0.49) double epsilon) {
    ConservativeDpo c = new ConservativeDpo(0.5, epsilon);
    double hStar = Math.log((1 - epsilon) / epsilon) / 0.5;
    assertThat(c.pairLossSlope(hStar)).isCloseTo(0.0, within(1e-12));
  }

  @Test
  void largeBetaTurnsDpoIntoAHingeAtZero() {
    // softplus(−βh)/β → relu(−h) as β grows.
    double beta = 1e6;
    Dpo dpo = new Dpo(beta);
    assertThat(dpo.pairLoss(0.5) / beta).isCloseTo(0.0, within(1e-12));
    assertThat(dpo.pairLoss(-0.5) / beta).isCloseTo(0.5, within(1e-12));
    assertThat(dpo.pairLossSlope(0.5)).isCloseTo(0.0, within(1e-12));
    assertThat(dpo.pairLossSlope(-0.5) / beta).isCloseTo(-1.0, within(1e-12));
  }

  @Test
  void largeBetaMovesTheIpoTargetToZero() {
    Ipo ipo = new Ipo(1e9, LengthNormalization.SUM);
    assertThat(ipo.pairLoss(3.0)).isCloseTo(9.0, within(1e-8));
    assertThat(ipo.pairLossSlope(3.0)).isCloseTo(6.0, within(1e-8));
  }

  @Test
  void dpoAtZeroMarginIsLogTwo() {
    assertThat(new Dpo(0.1).pairLoss(0)).isEqualTo(Math.log(2));
    assertThat(new Dpo(0.1).pairLossSlope(0)).isEqualTo(-0.05);
  }

  @Test
  void hugeMarginsStayFinite() {
    double[] margins = {1e6, -1e6, 1e300, -1e300, 800, -800};
    for (PairObjective o : List.of(new Dpo(0.1), new ConservativeDpo(0.1, 0.2),
        new RobustDpo(0.1, 0.2), new HingeLoss(0.1))) {
      for (double h : margins) {
        assertThat(o.pairLoss(h)).as("%s ℓ(%s)", o, h).isFinite();
        assertThat(o.pairLossSlope(h)).as("%s ℓ'(%s)", o, h).isFinite();
      }
    }
    // −log σ(βh) for a hopeless pair is linear in h, not inf.
    assertThat(new Dpo(1.0).pairLoss(-1e6)).isEqualTo(1e6);
    assertThat(new Dpo(1.0).pairLoss(1e6)).isZero();
    assertThat(new Ipo(0.1).pairLoss(1e6)).isFinite();
  }

  @Test
  void hugeLogpsInABatchStayFinite() {
    PreferenceBatch b = PreferenceBatch.unweighted(new double[] {-1e7, -1}, new double[] {-1, -1e7},
        new double[] {-1, -1}, new double[] {-1, -1}, new int[] {4096, 1}, new int[] {1, 4096});
    for (PairObjective o : List.of(new Dpo(0.1), new ConservativeDpo(0.1, 0.1),
        new RobustDpo(0.1, 0.1), new HingeLoss(0.1), new Ipo(0.1))) {
      PairResult r = o.evaluate(b);
      assertThat(r.isFinite()).as("%s", o).isTrue();
      assertThat(r.metrics().values()).allSatisfy(v -> assertThat(v).isFinite());
    }
  }

  @Test
  void stableMathMatchesNaiveFormulasWhereTheyDoNotOverflow() {
    for (double x = -30; x <= 30; x += 0.37) {
      assertThat(StableMath.softplus(x)).isCloseTo(Math.log(1 + Math.exp(x)), within(1e-13));
      assertThat(StableMath.sigmoid(x)).isCloseTo(1 / (1 + Math.exp(-x)), within(1e-15));
      assertThat(StableMath.logSigmoid(x)).isCloseTo(Math.log(1 / (1 + Math.exp(-x))), within(1e-13));
    }
    assertThat(StableMath.sigmoid(-1000)).isZero();
    assertThat(StableMath.sigmoid(1000)).isEqualTo(1.0);
  }

  @Test
  void factoryMapsTrlLossTypes() {
    assertThat(PairObjective.of("sigmoid", 0.1, 0)).isEqualTo(new Dpo(0.1));
    assertThat(PairObjective.of("sigmoid", 0.1, 0.1)).isEqualTo(new ConservativeDpo(0.1, 0.1));
    assertThat(PairObjective.of("robust", 0.1, 0.1)).isEqualTo(new RobustDpo(0.1, 0.1));
    assertThat(PairObjective.of("HINGE", 0.1, 0)).isEqualTo(new HingeLoss(0.1));
    assertThat(PairObjective.of("ipo", 0.1, 0)).isEqualTo(new Ipo(0.1));
    assertThat(PairObjective.of("ipo", 0.1, 0).lossType()).isEqualTo("ipo");
    assertThat(PairObjective.of("ipo", 0.1, 0, LengthNormalization.SUM))
        .isEqualTo(new Ipo(0.1, LengthNormalization.SUM));
    assertThat(PairObjective.of("robust", 0.1, 0.1, LengthNormalization.MEAN))
        .isEqualTo(new RobustDpo(0.1, 0.1, LengthNormalization.MEAN));
    assertThat(PairObjective.of("sigmoid", 0.1, 0, null)).isEqualTo(new Dpo(0.1));
    assertThatThrownBy(() -> PairObjective.of("simpo", 0.1, 0))
        .hasMessageContaining("unknown loss type 'simpo'");
    assertThatThrownBy(() -> PairObjective.of("ipo", 0.1, 0.2))
        .hasMessageContaining("not defined for ipo");
  }

  @Test
  void rejectsInvalidParameters() {
    assertThatThrownBy(() -> new Dpo(0)).hasMessageContaining("beta = 0.0");
    assertThatThrownBy(() -> new Dpo(Double.NaN)).hasMessageContaining("beta");
    assertThatThrownBy(() -> new RobustDpo(0.1, 0.5)).hasMessageContaining("[0, 0.5)");
    assertThatThrownBy(() -> new ConservativeDpo(0.1, -0.1)).hasMessageContaining("[0, 0.5]");
  }

  @Test
  void rejectsMalformedBatches() {
    double[] one = {-1};
    int[] len = {1};
    assertThatThrownBy(() -> PreferenceBatch.unweighted(new double[0], new double[0], new double[0],
        new double[0], new int[0], new int[0])).hasMessageContaining("at least one pair");
    assertThatThrownBy(() -> PreferenceBatch.unweighted(one, new double[] {1, 2}, one, one, len, len))
        .hasMessageContaining("policyRejected has 2 entries, expected 1");
    assertThatThrownBy(() -> PreferenceBatch.unweighted(one, one, one, one, new int[] {0}, len))
        .hasMessageContaining("chosenTokens[0] = 0");
    assertThatThrownBy(() -> new PreferenceBatch(one, one, one, one, len, len, new double[] {-1}))
        .hasMessageContaining("weights[0] = -1.0");
    assertThatThrownBy(() -> new PreferenceBatch(one, one, one, one, len, len,
        new double[] {Double.POSITIVE_INFINITY})).hasMessageContaining("finite weight");
  }
}
