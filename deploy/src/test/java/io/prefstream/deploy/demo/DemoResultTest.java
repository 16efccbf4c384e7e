package io.prefstream.deploy.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.prefstream.serving.fluency.ServedFluency;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class DemoResultTest {
  private static final DemoTimeline.Fluency NO_FLUENCY =
      new DemoTimeline.Fluency(ServedFluency.Nll.NONE, ServedFluency.Nll.NONE);

  /** Sums over {@code replies} replies (their spread does not enter these figures). */
  private static ServedFluency.Nll totals(double nats, long tokens, long replies) {
    return new ServedFluency.Nll(nats, tokens, replies, 0, 0, 0);
  }

  @Test
  void fluencyAgainstTheBaseModelsLikedRepliesAndAtTheSameLikedShare() {
    // Base: liked replies 4.5 nats over 15 tokens each (0.3 per token), the others 2 over 10 (0.2).
    var base = new DemoTimeline.Fluency(totals(9, 30, 2), totals(16, 80, 8));
    assertThat(base.atLikedRate(0.5)).isCloseTo(3.25 / 12.5, within(1e-12)); // mixed per reply, not per token
    assertThat(base.atLikedRate(0)).isCloseTo(0.2, within(1e-12));
    assertThat(base.atLikedRate(1)).isCloseTo(0.3, within(1e-12));
    // Last window: a quarter of the candidates liked, at 1/3 nats per token; the others at 0.2.
    var last = new DemoTimeline.Fluency(totals(50, 150, 10), totals(60, 300, 30));
    DemoResult r = new DemoResult("keyword:x", 60, 25, 100, 60, 100, 5, 1e-6, 1, 1, 1, 1, 1, 1, 1, 1, List.of(), false,
        Path.of("x"), 0.2, 0.25, base, last);
    assertThat(r.likedNllRise()).isCloseTo((50.0 / 150) / 0.3 - 1, within(1e-12));
    assertThat(r.baseNllAtFinalLikedShare()).isCloseTo(2.625 / 11.25, within(1e-12));
    assertThat(r.nllRiseAtEqualLikedShare()).isCloseTo((110.0 / 450) / (2.625 / 11.25) - 1, within(1e-12));
    // Without liked base candidates there is no yardstick, not a zero one.
    var noLikedBase = new DemoTimeline.Fluency(ServedFluency.Nll.NONE, totals(16, 80, 8));
    DemoResult none = new DemoResult("keyword:x", 60, 25, 100, 60, 100, 5, 1e-6, 1, 1, 1, 1, 1, 1, 1, 1, List.of(),
        false, Path.of("x"), 0.2, 0.25, noLikedBase, last);
    assertThat(none.likedNllRise()).isNaN();
    assertThat(none.nllRiseAtEqualLikedShare()).isNaN();
  }
  @Test
  void normalUpperTailMatchesReferenceValues() {
    // Reference values of 1 - Phi(z) (float64, e.g. scipy.stats.norm.sf).
    assertThat(DemoResult.upperTail(0)).isCloseTo(0.5, within(1e-7));
    assertThat(DemoResult.upperTail(1.0)).isCloseTo(0.15865525393145707, within(1e-7));
    assertThat(DemoResult.upperTail(2.326347874)).isCloseTo(0.01, within(1e-7));
    assertThat(DemoResult.upperTail(-1.644853627)).isCloseTo(0.95, within(1e-7));
    assertThat(DemoResult.upperTail(5.0)).isCloseTo(2.866515718791939e-07, within(1e-9));
  }

  @Test
  void twoProportionTestUsesThePooledStandardError() {
    // 30/100 vs 50/100: pooled 0.4, se = sqrt(0.4*0.6*(2/100)) = 0.069282, z = 0.2/se = 2.886751
    double[] zp = DemoResult.zTest(30, 100, 50, 100);
    assertThat(zp[0]).isCloseTo(2.886751345948129, within(1e-9));
    assertThat(zp[1]).isCloseTo(0.0019462085613, within(1e-7));
    assertThat(DemoResult.zTest(0, 0, 5, 10)[1]).isNaN();
    assertThat(DemoResult.zTest(10, 10, 10, 10)[1]).isNaN();
  }

  @Test
  void ratesRiseAndMedianFreshness() {
    DemoResult r = new DemoResult("polite", 60, 25, 100, 60, 100, 5, 1e-6, 1, 1, 1, 1, 1, 1, 1, 1,
        List.of(3000L, 1000L, 2000L, 10_000L), false, Path.of("x"), 2.0, 2.3, NO_FLUENCY, NO_FLUENCY);
    assertThat(r.baselineRate()).isEqualTo(0.25);
    assertThat(r.servedNllRise()).isCloseTo(0.15, within(1e-12));
    assertThat(new DemoResult("polite", 60, 25, 100, 60, 100, 5, 1e-6, 1, 1, 1, 1, 1, 1, 1, 1, List.of(), false,
        Path.of("x"), Double.NaN, 2.3, NO_FLUENCY, NO_FLUENCY).servedNllRise()).isNaN();
    assertThat(r.finalRate()).isEqualTo(0.6);
    assertThat(r.risePoints()).isCloseTo(35, within(1e-9));
    assertThat(r.medianFreshnessSeconds()).isEqualTo(2.5);
  }
}
