package io.prefstream.serving.fluency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.prefstream.serving.fluency.ServedFluency.Nll;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class NllTest {
  @Test
  void theFigureIsNatsOverTokensNotTheMeanOfEachReplys() {
    // a long cheap reply and a short costly one: 3 + 6 nats over 30 + 10 tokens, not the mean of 0.1 and 0.6
    Nll n = Nll.of(3, 30).plus(6, 10);
    assertThat(n.perToken()).isCloseTo(9.0 / 40, within(1e-12));
    assertThat(n.replies()).isEqualTo(2);
    assertThat(Nll.NONE.perToken()).isNaN();
    assertThat(Nll.of(3, 30).standardError()).as("one reply has no spread to measure").isNaN();
  }

  @Test
  void withEqualLengthsTheStandardErrorIsTheMeansStandardErrorPerToken() {
    double[] nats = {1, 2, 4, 7, 1.5, 3};
    Nll n = Nll.NONE;
    double mean = 0;
    for (double x : nats) {
      n = n.plus(x, 10);
      mean += x / nats.length;
    }
    double var = 0;
    for (double x : nats) var += (x - mean) * (x - mean) / (nats.length - 1);
    assertThat(n.standardError()).isCloseTo(Math.sqrt(var / nats.length) / 10, within(1e-12));
  }

  @Test
  void repliesOfDifferentLengthsAtTheSameRateAddNoSpread() {
    // (rounding leaves a few 1e-9 of the sums' cancellation)
    assertThat(Nll.of(1, 10).plus(2, 20).plus(4, 40).standardError()).isCloseTo(0, within(1e-6));
  }

  @Test
  void theStandardErrorMatchesTheSpreadOfTheFigureOverRepeatedSamples() {
    // 2,000 samples of 64 replies (lengths 5..60 tokens, 0.18 nats per token with noise): the spread of their
    // figures is what one sample's standard error says, within a few percent.
    SplittableRandom r = new SplittableRandom(7);
    int samples = 2_000;
    double sum = 0, sumSq = 0, meanSe = 0;
    for (int s = 0; s < samples; s++) {
      Nll n = Nll.NONE;
      for (int i = 0; i < 64; i++) {
        long t = 5 + r.nextInt(56);
        n = n.plus(Math.max(0, t * 0.18 + r.nextGaussian() * Math.sqrt(t) * 0.3), t);
      }
      sum += n.perToken();
      sumSq += n.perToken() * n.perToken();
      meanSe += n.standardError() / samples;
    }
    double sd = Math.sqrt((sumSq - sum * sum / samples) / (samples - 1));
    assertThat(meanSe).isCloseTo(sd, within(0.05 * sd));
  }

  @Test
  void addingTwoSetsIsAddingTheirRepliesOneByOne() {
    Nll a = Nll.of(1, 10).plus(2.5, 12), b = Nll.of(4, 30).plus(0.5, 3);
    assertThat(a.plus(b)).isEqualTo(Nll.of(1, 10).plus(2.5, 12).plus(4, 30).plus(0.5, 3));
  }
}
