package io.prefstream.deploy.demo;

import io.prefstream.serving.fluency.ServedFluency;
import java.nio.file.Path;
import java.util.List;

/**
 * The outcome of a demo run: the liked-reply rate of the base model (baseline, every reply served
 * before the first update) and over the final window, the one-sided two-proportion z-test between
 * them, what the loop did (events, pairs, batches, steps, versions served), freshness, the fluency of
 * what was served (the reference NLL per token of sampled served replies: the base model's own, and
 * in the final window; and of the A/B candidates split by the users' verdict), and where the report was written.
 */
public record DemoResult(String preference, double seconds, long baselineLiked, long baselineReplies, long finalLiked,
    long finalReplies, double z, double pValue, long events, long pairs, long batches, long steps,
    long versionsPublished, long lastServedVersion, long thumbs, long comparisons, List<Long> freshnessMillis,
    boolean interrupted, Path reportDir, double baseServedNll, double finalServedNll, DemoTimeline.Fluency baseFluency,
    DemoTimeline.Fluency finalFluency) {

  public DemoResult {
    java.util.Objects.requireNonNull(baseFluency, "baseFluency");
    java.util.Objects.requireNonNull(finalFluency, "finalFluency");
  }

  /**
   * How much the reference NLL per token of the liked A/B candidates rose from the base model's liked
   * ones to the final window's: whether the policy says what users like as fluently as the base model
   * does when it happens to. NaN when either side has none.
   */
  public double likedNllRise() {
    return rise(baseFluency.liked().perToken(), finalFluency.liked().perToken());
  }

  /**
   * The base model's reference NLL per token at the final window's liked share of A/B candidates
   * ({@link DemoTimeline.Fluency#atLikedRate}): what serving the base model's own replies in the proportion the
   * policy's users liked would cost the reference. NaN when the base model's candidates lack a side.
   */
  public double baseNllAtFinalLikedShare() {
    ServedFluency.Nll all = finalFluency.all();
    return all.replies() == 0 ? Double.NaN : baseFluency.atLikedRate((double) finalFluency.liked().replies() / all.replies());
  }

  /** The final window's A/B candidates' reference NLL per token against {@link #baseNllAtFinalLikedShare}, as a fraction. */
  public double nllRiseAtEqualLikedShare() {
    return rise(baseNllAtFinalLikedShare(), finalFluency.all().perToken());
  }

  private static double rise(double from, double to) {
    return from > 0 && Double.isFinite(to) ? to / from - 1 : Double.NaN;
  }

  /**
   * How much the reference NLL per token of the served replies rose from the base model's own replies
   * (version 0) to the final window, as a fraction (0.1 = 10% higher); NaN when either is unknown.
   */
  public double servedNllRise() {
    return rise(baseServedNll, finalServedNll);
  }

  public double baselineRate() {
    return baselineReplies == 0 ? Double.NaN : (double) baselineLiked / baselineReplies;
  }

  public double finalRate() {
    return finalReplies == 0 ? Double.NaN : (double) finalLiked / finalReplies;
  }

  /** Final minus baseline rate, in percentage points. */
  public double risePoints() {
    return 100 * (finalRate() - baselineRate());
  }

  /**
   * One-sided two-proportion z-test (pooled) that the rate {@code x2/n2} exceeds {@code x1/n1}:
   * {z, p}. NaN when either side has no observations or the pooled rate is 0 or 1.
   */
  public static double[] zTest(long x1, long n1, long x2, long n2) {
    if (n1 == 0 || n2 == 0) return new double[] {Double.NaN, Double.NaN};
    double p1 = (double) x1 / n1;
    double p2 = (double) x2 / n2;
    double pooled = (double) (x1 + x2) / (n1 + n2);
    double se = Math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2));
    if (se == 0) return new double[] {Double.NaN, Double.NaN};
    double z = (p2 - p1) / se;
    return new double[] {z, upperTail(z)};
  }

  /** P(Z > z) for a standard normal Z (complementary error function, Numerical Recipes' erfc). */
  static double upperTail(double z) {
    return 0.5 * erfc(z / Math.sqrt(2));
  }

  private static double erfc(double x) {
    double t = 1 / (1 + 0.5 * Math.abs(x));
    double y = t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0 ? y : 2 - y;
  }

  /** Median of the freshness samples in seconds, NaN without any. */
  public double medianFreshnessSeconds() {
    if (freshnessMillis.isEmpty()) return Double.NaN;
    List<Long> sorted = freshnessMillis.stream().sorted().toList();
    int n = sorted.size();
    double m = n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2.0;
    return m / 1000.0;
  }
}
