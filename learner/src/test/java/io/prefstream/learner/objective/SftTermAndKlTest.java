package io.prefstream.learner.objective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The SFT term's closed form and composition, and the KL estimates. */
class SftTermAndKlTest {
  static final double TOL = 1e-14;

  @Test
  void sftTermAddsWeightedPerTokenNllOfChosen() {
    PreferenceBatch b = PairObjectiveClosedFormTest.batch(new double[] {1.0, 0.5, 2.0});
    PairResult base = new Dpo(0.1).evaluate(b);
    PairResult r = new SftTerm(0.5).addTo(base, b);
    assertThat(r.loss()).isCloseTo(base.loss() + 1.3194444444444444, within(TOL));
    double[] added = {-0.03333333333333333, -0.010416666666666666, -0.1111111111111111};
    for (int i = 0; i < 3; i++) {
      assertThat(r.gradPolicyChosen()[i]).isCloseTo(base.gradPolicyChosen()[i] + added[i], within(TOL));
    }
    assertThat(r.gradPolicyRejected()).containsExactly(base.gradPolicyRejected());
    assertThat(r.metrics().get("nll_loss")).isCloseTo(2.277777777777778, within(TOL));
    assertThat(r.metrics().get("loss")).isEqualTo(r.loss());
    assertThat(r.metrics().get("rewards/chosen")).isEqualTo(base.metrics().get("rewards/chosen"));
  }

  @Test
  void sftTermWithZeroAlphaChangesNothingButReportsNll() {
    PreferenceBatch b = PairObjectiveClosedFormTest.batch(null);
    PairResult base = new Ipo(0.1).evaluate(b);
    PairResult r = new SftTerm(0).addTo(base, b);
    assertThat(r.loss()).isEqualTo(base.loss());
    assertThat(r.gradPolicyChosen()).containsExactly(base.gradPolicyChosen());
    assertThat(r.metrics()).containsKey("nll_loss");
  }

  @Test
  void sftTermOnKtoTouchesOnlyDesirableExamples() {
    KtoBatch b = KtoObjectiveTest.batch(null);
    KtoResult base = new KtoObjective(0.5).evaluate(b);
    KtoResult r = new SftTerm(2.0).addTo(base, b);
    // desirable: i=0 (−10 over 5 tokens), i=2 (−7 over 3 tokens); mean over all 4 examples.
    assertThat(r.loss()).isCloseTo(base.loss() + 2.0 * (2.0 + 7.0 / 3) / 4, within(TOL));
    assertThat(r.gradPolicy()[0]).isCloseTo(base.gradPolicy()[0] - 2.0 / (4 * 5), within(TOL));
    assertThat(r.gradPolicy()[1]).isEqualTo(base.gradPolicy()[1]);
    assertThat(r.gradPolicy()[2]).isCloseTo(base.gradPolicy()[2] - 2.0 / (4 * 3), within(TOL));
    assertThat(r.gradPolicy()[3]).isEqualTo(base.gradPolicy()[3]);
    assertThat(r.metrics().get("nll_loss")).isCloseTo((2.0 + 7.0 / 3) / 2, within(TOL));
    assertThat(r.z0()).isEqualTo(base.z0());
  }

  @Test
  void klEstimatesAverageLogRatios() {
    double[] pol = {-10, -20};
    double[] ref = {-11, -19.5};
    assertThat(KlEstimate.perToken(pol, ref, new int[] {4, 6})).isCloseTo(0.05, within(TOL));
    assertThat(KlEstimate.perSequence(pol, ref)).isCloseTo(0.25, within(TOL));
    assertThat(KlEstimate.perSequence(new double[0], new double[0])).isZero();
    assertThatThrownBy(() -> KlEstimate.perSequence(pol, new double[1]))
        .hasMessageContaining("policy has 2 log-probs but reference has 1");
  }

  @Test
  void rejectsNegativeAlpha() {
    assertThatThrownBy(() -> new SftTerm(-1)).hasMessageContaining("alpha = -1.0");
  }
}
