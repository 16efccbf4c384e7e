package io.prefstream.learner.objective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/**
 * Each pair objective on one fixed batch against values computed by hand from the closed forms in
 * float64 (Python's math module as the calculator). The batch has margins h = 1.5, −2 and 1.25 on
 * summed log-probs.
 */
class PairObjectiveClosedFormTest {
  static final double TOL = 1e-14;

  static PreferenceBatch batch(double[] weights) {
    return new PreferenceBatch(
        new double[] {-10.0, -20.0, -7.0},
        new double[] {-12.0, -15.0, -9.0},
        new double[] {-11.0, -19.0, -7.5},
        new double[] {-11.5, -16.0, -8.25},
        new int[] {5, 8, 3},
        new int[] {6, 4, 7},
        weights);
  }

  static void assertResult(PairResult r, double loss, double[] gradChosen, double[] gradRejected) {
    assertThat(r.loss()).isCloseTo(loss, within(TOL));
    for (int i = 0; i < gradChosen.length; i++) {
      assertThat(r.gradPolicyChosen()[i]).as("dL/dpc[%d]", i).isCloseTo(gradChosen[i], within(TOL));
      assertThat(r.gradPolicyRejected()[i]).as("dL/dpr[%d]", i)
          .isCloseTo(gradRejected[i], within(TOL));
    }
    assertThat(r.isFinite()).isTrue();
  }

  @Test
  void theChosenRepliesReferenceNllPerTokenIsReported() {
    // Reference log-probs of the chosen -11, -19, -7.5 over 5 + 8 + 3 tokens: 37.5 / 16.
    var m = new Dpo(0.1).evaluate(batch(null)).metrics();
    assertThat(m.get(MetricNames.REF_NLL_CHOSEN)).isCloseTo(2.34375, within(TOL));
    assertThat(m.get(MetricNames.TOKENS_CHOSEN)).isEqualTo(16.0);
  }

  @Test
  void dpoSigmoidMatchesClosedForm() {
    assertResult(new Dpo(0.1).evaluate(batch(null)), 0.6838983174960976,
        new double[] {-0.015419005155208351, -0.018327799910415932, -0.015626354220874793},
        new double[] {0.015419005155208351, 0.018327799910415932, 0.015626354220874793});
  }

  @Test
  void weightsScaleEachPairAndTheMeanStaysOverAllPairs() {
    assertResult(new Dpo(0.1).evaluate(batch(new double[] {1.0, 0.5, 2.0})), 0.7617415177048888,
        new double[] {-0.015419005155208351, -0.009163899955207966, -0.031252708441749585},
        new double[] {0.015419005155208351, 0.009163899955207966, 0.031252708441749585});
  }

  @Test
  void conservativeDpoMatchesClosedForm() {
    assertResult(new ConservativeDpo(0.1, 0.2).evaluate(batch(null)), 0.6888983174960975,
        new double[] {-0.008752338488541683, -0.011661133243749263, -0.008959687554208123},
        new double[] {0.008752338488541683, 0.011661133243749263, 0.008959687554208123});
  }

  @Test
  void robustDpoMatchesClosedForm() {
    assertResult(new RobustDpo(0.1, 0.2).evaluate(batch(null)), 0.6755649841627642,
        new double[] {-0.026530116266319462, -0.029438911021527046, -0.02673746533198591},
        new double[] {0.026530116266319462, 0.029438911021527046, 0.02673746533198591});
  }

  @Test
  void hingeMatchesClosedFormInsideTheMargin() {
    double third = 1.0 / 30;
    assertResult(new HingeLoss(0.1).evaluate(batch(null)), 0.975,
        new double[] {-third, -third, -third}, new double[] {third, third, third});
  }

  @Test
  void hingeGivesNoGradientToPairsBeyondTheMargin() {
    // β = 1: pairs with h = 1.5 and 1.25 are past the margin of 1, only h = −2 contributes 3/3.
    assertResult(new HingeLoss(1.0).evaluate(batch(null)), 1.0,
        new double[] {0.0, -1.0 / 3, 0.0}, new double[] {0.0, 1.0 / 3, 0.0});
  }

  @Test
  void hingeSlopeAtTheKinkIsZeroAsTorchRelu() {
    HingeLoss hinge = new HingeLoss(0.5);
    assertThat(hinge.pairLoss(2.0)).isZero();
    assertThat(hinge.pairLossSlope(2.0)).isZero();
    assertThat(hinge.pairLossSlope(1.999)).isEqualTo(-0.5);
  }

  @Test
  void ipoOnSummedLogpsMatchesClosedForm() {
    assertResult(new Ipo(0.1, LengthNormalization.SUM).evaluate(batch(null)), 25.104166666666668,
        new double[] {-2.3333333333333335, -4.666666666666667, -2.5},
        new double[] {2.3333333333333335, 4.666666666666667, 2.5});
  }

  @Test
  void ipoAveragesLogpsPerTokenByDefaultAsTrl() {
    Ipo ipo = new Ipo(0.1);
    assertThat(ipo.normalization()).isEqualTo(LengthNormalization.MEAN);
    assertResult(ipo.evaluate(batch(null)), 24.49148195389267,
        new double[] {-0.6288888888888889, -0.4479166666666667, -1.0502645502645502},
        new double[] {0.524074074074074, 0.8958333333333334, 0.4501133786848073});
  }

  @Test
  void metricsUseTrlNamesAndValues() {
    PairResult r = new Dpo(0.1).evaluate(batch(null));
    assertThat(r.metrics()).containsOnlyKeys(MetricNames.LOSS, MetricNames.REWARDS_CHOSEN,
        MetricNames.REWARDS_REJECTED, MetricNames.REWARDS_ACCURACIES, MetricNames.REWARDS_MARGINS,
        MetricNames.LOGPS_CHOSEN, MetricNames.LOGPS_REJECTED, MetricNames.KL, MetricNames.REF_NLL_CHOSEN,
        MetricNames.TOKENS_CHOSEN);
    assertThat(r.metrics().get("loss")).isEqualTo(r.loss());
    assertThat(r.metrics().get("rewards/chosen")).isCloseTo(0.016666666666666666, within(TOL));
    assertThat(r.metrics().get("rewards/rejected")).isCloseTo(-0.008333333333333337, within(TOL));
    assertThat(r.metrics().get("rewards/accuracies")).isCloseTo(2.0 / 3, within(TOL));
    assertThat(r.metrics().get("rewards/margins")).isCloseTo(0.025000000000000005, within(TOL));
    assertThat(r.metrics().get("logps/chosen")).isCloseTo(-12.333333333333334, within(TOL));
    assertThat(r.metrics().get("logps/rejected")).isCloseTo(-12.0, within(TOL));
    assertThat(r.metrics().get("kl")).isCloseTo(0.03125, within(TOL));
  }

  @Test
  void metricsKeepAFixedOrder() {
    assertThat(new Dpo(0.1).evaluate(batch(null)).metrics().keySet()).startsWith(
        "loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins");
  }

  @Test
  void metricsIgnoreWeightsWhileTheLossUsesThem() {
    PairResult weighted = new Dpo(0.1).evaluate(batch(new double[] {1.0, 0.5, 2.0}));
    PairResult plain = new Dpo(0.1).evaluate(batch(null));
    assertThat(weighted.metrics().get("rewards/margins"))
        .isEqualTo(plain.metrics().get("rewards/margins"));
    assertThat(weighted.loss()).isNotEqualTo(plain.loss());
  }

  @Test
  void zeroWeightDropsAPairEvenWithNonFiniteLogps() {
    PreferenceBatch b = new PreferenceBatch(new double[] {-1, Double.NEGATIVE_INFINITY},
        new double[] {-2, -3}, new double[] {-1.5, -2}, new double[] {-1.5, -2}, new int[] {1, 1},
        new int[] {1, 1}, new double[] {1.0, 0.0});
    PairResult r = new Dpo(0.1).evaluate(b);
    assertThat(r.isFinite()).isTrue();
    assertThat(r.loss()).isCloseTo(StableMath.softplus(-0.1 * 1.0) / 2, within(TOL));
  }

  @Test
  void nonFiniteLogpsGiveANonFiniteResult() {
    PreferenceBatch b = PreferenceBatch.unweighted(new double[] {Double.NaN}, new double[] {-2},
        new double[] {-1}, new double[] {-1}, new int[] {1}, new int[] {1});
    assertThat(new Dpo(0.1).evaluate(b).isFinite()).isFalse();
  }
}
