package io.prefstream.learner.objective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** KTO against its closed form (hand-computed in float64), finite differences, and TRL's z0 rules. */
class KtoObjectiveTest {
  static final double TOL = 1e-14;

  static KtoBatch batch(double[] weights) {
    return new KtoBatch(
        new double[] {-10.0, -20.0, -7.0, -30.0},
        new double[] {-11.0, -19.0, -7.5, -29.0},
        new boolean[] {true, false, true, false},
        new int[] {5, 8, 3, 9},
        weights,
        new double[] {-14.0, -25.0, -9.0, -33.0},
        new double[] {-15.0, -25.5, -10.0, -33.5});
  }

  @Test
  void lossAndGradientsMatchClosedForm() {
    KtoResult r = new KtoObjective(0.5, 1.0, 1.5).evaluate(batch(null));
    assertThat(r.z0()).isEqualTo(0.75);
    assertThat(r.loss()).isCloseTo(0.4706612291222415, within(TOL));
    assertThat(r.gradPolicy()).containsExactly(new double[] {-0.031128246876702185,
        0.03893484793464759, -0.03112824687670218, 0.03893484793464759}, within(TOL));
    assertThat(r.isFinite()).isTrue();
  }

  @Test
  void metricsUseTrlNames() {
    KtoResult r = new KtoObjective(0.5, 1.0, 1.5).evaluate(batch(null));
    assertThat(r.metrics().get("loss")).isEqualTo(r.loss());
    assertThat(r.metrics().get("rewards/chosen")).isCloseTo(0.375, within(TOL));
    assertThat(r.metrics().get("rewards/rejected")).isCloseTo(-0.5, within(TOL));
    assertThat(r.metrics().get("rewards/margins")).isCloseTo(0.875, within(TOL));
    assertThat(r.metrics().get("logps/chosen")).isCloseTo(-8.5, within(TOL));
    assertThat(r.metrics().get("logps/rejected")).isCloseTo(-25.0, within(TOL));
    assertThat(r.metrics().get("kl")).isEqualTo(0.75);
    assertThat(r.metrics().get("count/chosen")).isEqualTo(2.0);
    assertThat(r.metrics().get("count/rejected")).isEqualTo(2.0);
  }

  @Test
  void classesAbsentFromTheBatchHaveNoMetrics() {
    KtoBatch onlyUp = new KtoBatch(new double[] {-3, -4}, new double[] {-3.5, -4},
        new boolean[] {true, true}, new int[] {2, 2}, null, null, null);
    KtoResult r = new KtoObjective(0.1).evaluate(onlyUp);
    assertThat(r.metrics()).containsKey("rewards/chosen")
        .doesNotContainKeys("rewards/rejected", "logps/rejected", "rewards/margins");
  }

  @Test
  void referencePointIsTheClampedMeanOfMismatchedLogRatios() {
    KtoBatch b = batch(null);
    double direct = 0;
    for (int j = 0; j < 4; j++) {
      direct += b.policyMismatched()[j] - b.referenceMismatched()[j];
    }
    assertThat(KtoObjective.referencePoint(b)).isEqualTo(Math.max(0, direct / 4));

    KtoBatch negative = new KtoBatch(b.policy(), b.reference(), b.desirable(), b.tokens(), null,
        new double[] {-20, -30}, new double[] {-19, -29});
    assertThat(KtoObjective.referencePoint(negative)).isZero();

    KtoBatch none = new KtoBatch(b.policy(), b.reference(), b.desirable(), b.tokens(), null,
        null, null);
    assertThat(new KtoObjective(0.5).evaluate(none).z0()).isZero();
  }

  @Test
  void referencePointIsDetachedFromTheGradient() {
    // z0 moves the loss (the finite difference through the mismatched log-probs is not zero), but
    // the gradient with respect to the examples is the one with z0 held fixed: it equals the
    // finite difference of the loss in the example log-probs alone.
    KtoObjective kto = new KtoObjective(0.5, 1.0, 1.5);
    KtoBatch b = batch(null);
    double h = 1e-5;
    double saved = b.policyMismatched()[0];
    b.policyMismatched()[0] = saved + h;
    double up = kto.evaluate(b).loss();
    b.policyMismatched()[0] = saved - h;
    double down = kto.evaluate(b).loss();
    b.policyMismatched()[0] = saved;
    assertThat(Math.abs((up - down) / (2 * h))).isGreaterThan(1e-4);
    assertThat(kto.evaluate(b).gradPolicy()).hasSize(b.size());
  }

  @Property(tries = 200)
  void gradientsMatchCentralDifferencesWithZ0Fixed(@ForAll long seed) {
    Random rnd = new Random(seed);
    int n = 2 + rnd.nextInt(6);
    double[] pol = new double[n];
    double[] ref = new double[n];
    boolean[] good = new boolean[n];
    int[] tok = new int[n];
    double[] w = new double[n];
    double[] pm = new double[n];
    double[] rm = new double[n];
    for (int i = 0; i < n; i++) {
      tok[i] = 1 + rnd.nextInt(30);
      ref[i] = -tok[i] * (0.5 + 2 * rnd.nextDouble());
      pol[i] = ref[i] + 5 * rnd.nextGaussian();
      good[i] = rnd.nextBoolean();
      w[i] = rnd.nextDouble() < 0.2 ? 0 : 0.5 + rnd.nextDouble();
      rm[i] = -20 * rnd.nextDouble();
      pm[i] = rm[i] + 3 * rnd.nextGaussian();
    }
    KtoBatch b = new KtoBatch(pol, ref, good, tok, w, pm, rm);
    KtoObjective kto = new KtoObjective(0.1 + rnd.nextDouble(), 0.5 + rnd.nextDouble(),
        0.5 + rnd.nextDouble());
    SftTerm sft = new SftTerm(rnd.nextDouble());
    KtoResult r = sft.addTo(kto.evaluate(b), b);
    double step = 1e-5;
    for (int i = 0; i < n; i++) {
      double saved = pol[i];
      pol[i] = saved + step;
      double up = sft.addTo(kto.evaluate(b), b).loss();
      pol[i] = saved - step;
      double down = sft.addTo(kto.evaluate(b), b).loss();
      pol[i] = saved;
      double fd = (up - down) / (2 * step);
      assertThat(r.gradPolicy()[i]).as("dL/dp[%d]", i).isCloseTo(fd, within(1e-8 + 1e-5 * Math.abs(fd)));
    }
  }

  @Test
  void weightsScaleEachExample() {
    KtoObjective kto = new KtoObjective(0.5, 1.0, 1.5);
    KtoResult plain = kto.evaluate(batch(null));
    KtoResult weighted = kto.evaluate(batch(new double[] {2, 1, 0, 1}));
    assertThat(weighted.gradPolicy()[0]).isCloseTo(2 * plain.gradPolicy()[0], within(TOL));
    assertThat(weighted.gradPolicy()[2]).isZero();
    assertThat(weighted.gradPolicy()[1]).isEqualTo(plain.gradPolicy()[1]);
  }

  @Test
  void hugeLogRatiosStayFinite() {
    KtoBatch b = new KtoBatch(new double[] {-1e7, 0}, new double[] {0, -1e7},
        new boolean[] {true, false}, new int[] {1, 1}, null, new double[] {1e6}, new double[] {0});
    KtoResult r = new KtoObjective(1.0).evaluate(b);
    assertThat(r.isFinite()).isTrue();
    assertThat(r.loss()).isCloseTo(1.0, within(1e-12));
  }

  @Test
  void mismatchedIndexPairsEachPromptWithAnotherResponse() {
    assertThat(KtoObjective.mismatchedIndex(4)).containsExactly(3, 0, 1, 2);
    int[] j = KtoObjective.mismatchedIndex(7);
    for (int i = 0; i < 7; i++) {
      assertThat(j[i]).isNotEqualTo(i);
    }
    assertThatThrownBy(() -> KtoObjective.mismatchedIndex(1)).hasMessageContaining("at least 2");
  }

  @Test
  void rejectsMalformedInput() {
    assertThatThrownBy(() -> new KtoObjective(0.1, -1, 1)).hasMessageContaining("weights >= 0");
    assertThatThrownBy(() -> new KtoBatch(new double[] {1}, new double[] {1}, new boolean[2],
        new int[] {1}, null, null, null)).hasMessageContaining("desirable must have 1 entries");
    assertThatThrownBy(() -> new KtoBatch(new double[] {1}, new double[] {1}, new boolean[1],
        new int[] {1}, null, new double[] {1}, new double[0]))
        .hasMessageContaining("referenceMismatched has 0 entries, expected 1");
  }
}
