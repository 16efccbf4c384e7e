package io.prefstream.learner.objective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The analytic gradients of every pair objective (and of the SFT term) against central finite
 * differences of the batch loss, on random batches with random weights and lengths.
 */
class PairObjectiveGradientTest {
  static final double STEP = 1e-5;

  @Provide
  Arbitrary<PairObjective> objectives() {
    return Arbitraries.of(List.of(
        new Dpo(0.1), new Dpo(0.5, LengthNormalization.MEAN),
        new ConservativeDpo(0.1, 0.1), new ConservativeDpo(0.3, 0.4, LengthNormalization.MEAN),
        new RobustDpo(0.1, 0.2), new RobustDpo(0.2, 0.05, LengthNormalization.MEAN),
        new HingeLoss(0.1), new HingeLoss(0.7, LengthNormalization.MEAN),
        new Ipo(0.1), new Ipo(0.5, LengthNormalization.SUM)));
  }

  static PreferenceBatch randomBatch(long seed) {
    Random rnd = new Random(seed);
    int n = 1 + rnd.nextInt(6);
    double[] pc = new double[n];
    double[] pr = new double[n];
    double[] rc = new double[n];
    double[] rr = new double[n];
    int[] ct = new int[n];
    int[] rt = new int[n];
    double[] w = new double[n];
    for (int i = 0; i < n; i++) {
      ct[i] = 1 + rnd.nextInt(40);
      rt[i] = 1 + rnd.nextInt(40);
      rc[i] = -ct[i] * (0.5 + 3 * rnd.nextDouble());
      rr[i] = -rt[i] * (0.5 + 3 * rnd.nextDouble());
      pc[i] = rc[i] + 8 * rnd.nextGaussian();
      pr[i] = rr[i] + 8 * rnd.nextGaussian();
      w[i] = rnd.nextDouble() < 0.2 ? 0.0 : 0.25 + rnd.nextDouble();
    }
    return new PreferenceBatch(pc, pr, rc, rr, ct, rt, w);
  }

  @Property(tries = 300)
  void gradientsMatchCentralDifferences(@ForAll("objectives") PairObjective objective,
      @ForAll long seed) {
    PreferenceBatch b = randomBatch(seed);
    PairResult r = objective.evaluate(b);
    for (int i = 0; i < b.size(); i++) {
      if (objective instanceof HingeLoss hinge && nearKink(hinge, b, i)) {
        continue;
      }
      double fdChosen = centralDifference(objective, b, b.policyChosen(), i);
      double fdRejected = centralDifference(objective, b, b.policyRejected(), i);
      assertThat(r.gradPolicyChosen()[i]).as("%s dL/dpc[%d]", objective, i)
          .isCloseTo(fdChosen, within(1e-7 + 1e-5 * Math.abs(fdChosen)));
      assertThat(r.gradPolicyRejected()[i]).as("%s dL/dpr[%d]", objective, i)
          .isCloseTo(fdRejected, within(1e-7 + 1e-5 * Math.abs(fdRejected)));
    }
  }

  @Property(tries = 100)
  void sftTermGradientMatchesCentralDifferences(@ForAll long seed) {
    PreferenceBatch b = randomBatch(seed);
    SftTerm sft = new SftTerm(0.7);
    Dpo dpo = new Dpo(0.2);
    PairResult r = sft.addTo(dpo.evaluate(b), b);
    for (int i = 0; i < b.size(); i++) {
      double saved = b.policyChosen()[i];
      b.policyChosen()[i] = saved + STEP;
      double up = sft.addTo(dpo.evaluate(b), b).loss();
      b.policyChosen()[i] = saved - STEP;
      double down = sft.addTo(dpo.evaluate(b), b).loss();
      b.policyChosen()[i] = saved;
      double fd = (up - down) / (2 * STEP);
      assertThat(r.gradPolicyChosen()[i])
          .isCloseTo(fd, within(1e-7 + 1e-5 * Math.abs(fd)));
    }
  }

  static boolean nearKink(HingeLoss hinge, PreferenceBatch b, int i) {
    double sc = hinge.normalization().scale(b.chosenTokens()[i]);
    double sr = hinge.normalization().scale(b.rejectedTokens()[i]);
    double h = (b.policyChosen()[i] - b.referenceChosen()[i]) * sc
        - (b.policyRejected()[i] - b.referenceRejected()[i]) * sr;
    return Math.abs(1 - hinge.beta() * h) < 1e-3;
  }

  static double centralDifference(PairObjective objective, PreferenceBatch b, double[] logps, int i) {
    double saved = logps[i];
    logps[i] = saved + STEP;
    double up = objective.evaluate(b).loss();
    logps[i] = saved - STEP;
    double down = objective.evaluate(b).loss();
    logps[i] = saved;
    return (up - down) / (2 * STEP);
  }
}
