package io.prefstream.bench.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

class DemoFluencyCheckTest {
  private static DemoFluencyCheck.Tally tally(double[]... scored) {
    return new DemoFluencyCheck.Tally("t", List.of(scored), 0, new int[4]);
  }

  @Test
  void theFigureIsNatsOverTokensLikeTheReplicas() {
    // a long cheap reply and a short costly one: 3 + 6 nats over 30 + 10 tokens, not the mean of 0.1 and 0.6
    assertThat(tally(new double[] {3, 30}, new double[] {6, 10}).perToken()).isCloseTo(9.0 / 40, within(1e-12));
  }

  @Test
  void withEqualLengthsTheIntervalIsTheMeansStandardError() {
    // every reply 10 tokens: the ratio is the mean nats / 10, its standard error sd(nats) / sqrt(k) / 10
    double[] nats = {1, 2, 4, 7, 1.5, 3};
    double[][] scored = new double[nats.length][];
    double mean = 0;
    for (int i = 0; i < nats.length; i++) {
      scored[i] = new double[] {nats[i], 10};
      mean += nats[i] / nats.length;
    }
    double var = 0;
    for (double n : nats) var += (n - mean) * (n - mean) / (nats.length - 1);
    assertThat(tally(scored).standardError()).isCloseTo(Math.sqrt(var / nats.length) / 10, within(1e-12));
  }

  @Test
  void aReplyOfTwiceTheLengthAtTheSameRateAddsNoSpread() {
    assertThat(tally(new double[] {1, 10}, new double[] {2, 20}, new double[] {4, 40}).standardError())
        .isCloseTo(0, within(1e-12));
  }
}
