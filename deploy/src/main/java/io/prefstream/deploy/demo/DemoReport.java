package io.prefstream.deploy.demo;

import io.prefstream.deploy.demo.corpus.ReplyForm;
import io.prefstream.deploy.demo.corpus.SupportCorpus;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;
import org.knowm.xchart.AnnotationLine;
import org.knowm.xchart.AnnotationText;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Writes a demo run's report folder: {@code chart.png} (liked-reply rate over the trailing window
 * and the learner's eval reward accuracy over time on the left axis, KL to the reference on the
 * right with the served replies' reference NLL per token and the base model's as a dashed line,
 * the baseline as a dashed line, each swap of the served version marked) and {@code summary.md}
 * (baseline and final rate with the z-test, events, pairs, batches, steps, versions, freshness, the
 * served replies' fluency, the settings).
 */
public final class DemoReport {
  /** Fewest replies in a trailing window for its rate to be drawn (fewer: too noisy to show). */
  static final int MIN_WINDOW_REPLIES = 10;

  /** File names inside the report folder. */
  public static final String CHART = "chart.png";

  public static final String SUMMARY = "summary.md";

  private DemoReport() {}

  /** Writes chart and summary into {@code result.reportDir()}. */
  public static void write(DemoSettings settings, DemoTimeline timeline, DemoResult result) throws IOException {
    Files.createDirectories(result.reportDir());
    Files.writeString(result.reportDir().resolve(SUMMARY), summary(settings, timeline, result));
    writeChart(result.reportDir().resolve(CHART), timeline, result);
  }

  static void writeChart(Path file, DemoTimeline timeline, DemoResult result) throws IOException {
    System.setProperty("java.awt.headless", "true");
    // ImageIO's disk cache registers a shutdown hook, which throws "Shutdown in progress" when the
    // report is written after Ctrl-C; the chart is small enough to encode in memory.
    ImageIO.setUseCache(false);
    XYChart chart = new XYChartBuilder().width(1000).height(560)
        .title("prefstream demo: hidden preference '" + result.preference() + "'")
        .xAxisTitle("seconds").yAxisTitle("rate").build();
    chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
    chart.getStyler().setMarkerSize(3);
    chart.getStyler().setYAxisMin(0, 0.0);
    chart.getStyler().setYAxisMax(0, 1.0);
    chart.getStyler().setYAxisGroupPosition(1, Styler.YAxisPosition.Right);
    chart.getStyler().setChartBackgroundColor(Color.WHITE);
    List<DemoTimeline.Sample> samples = timeline.samples();
    double end = samples.isEmpty() ? 1 : Math.max(1, samples.getLast().atMillis() / 1000.0);
    addSeries(chart, "liked replies (trailing window)", samples,
        s -> s.windowReplies() >= MIN_WINDOW_REPLIES ? s.windowRate() : Double.NaN, 0,
        new Color(0x1f77b4));
    addSeries(chart, "eval reward accuracy", samples, DemoTimeline.Sample::evalAccuracy, 0, new Color(0x2ca02c));
    if (!Double.isNaN(result.baselineRate())) {
      XYSeries base = chart.addSeries("baseline (base model)", new double[] {0, end},
          new double[] {result.baselineRate(), result.baselineRate()});
      base.setMarker(SeriesMarkers.NONE);
      base.setLineColor(Color.GRAY);
      base.setLineStyle(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {6, 4}, 0));
    }
    XYSeries kl = addSeries(chart, "KL to reference per token (right axis)", samples, DemoTimeline.Sample::kl, 1,
        new Color(0xd62728));
    // Fluency: what the served replies cost the reference model per token; a policy drifting into broken
    // text shows as a rise above the base model's own replies.
    addSeries(chart, "served replies' reference NLL per token, last 64 sampled (right axis)", samples,
        DemoTimeline.Sample::servedNll, 1, new Color(0x9467bd));
    if (Double.isFinite(result.baseServedNll())) {
      XYSeries base = chart.addSeries("base model's replies' reference NLL (right axis)", new double[] {0, end},
          new double[] {result.baseServedNll(), result.baseServedNll()});
      base.setYAxisGroup(1);
      base.setMarker(SeriesMarkers.NONE);
      base.setLineColor(new Color(0x9467bd));
      base.setLineStyle(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {6, 4}, 0));
    }
    if (kl == null) {
      // An axis group needs a series; without KL yet, keep the right axis at zero.
      XYSeries zero = chart.addSeries("KL to reference per token (right axis)", new double[] {0, end}, new double[] {0, 0});
      zero.setYAxisGroup(1);
      zero.setMarker(SeriesMarkers.NONE);
      zero.setLineColor(new Color(0xd62728));
    }
    chart.setYAxisGroupTitle(1, "KL, NLL (nats per token)");
    chart.getStyler().setAnnotationLineColor(new Color(0xb0b0b0));
    chart.getStyler().setAnnotationLineStroke(new BasicStroke(1f));
    chart.getStyler().setAnnotationTextFontColor(Color.DARK_GRAY);
    // Every swap gets its line; labels only where they do not crowd the previous one.
    double lastLabel = Double.NEGATIVE_INFINITY;
    for (DemoTimeline.Swap swap : timeline.swaps()) {
      double x = swap.atMillis() / 1000.0;
      chart.addAnnotation(new AnnotationLine(x, true, false));
      if (x - lastLabel >= end / 25) {
        chart.addAnnotation(new AnnotationText("v" + swap.version(), x, 0.97, false));
        lastLabel = x;
      }
    }
    BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
  }

  private static XYSeries addSeries(XYChart chart, String name, List<DemoTimeline.Sample> samples,
      ToDoubleFunction<DemoTimeline.Sample> value, int axis, Color color) {
    List<double[]> points = new ArrayList<>();
    for (DemoTimeline.Sample s : samples) {
      double v = value.applyAsDouble(s);
      if (Double.isFinite(v)) points.add(new double[] {s.atMillis() / 1000.0, v});
    }
    if (points.isEmpty()) return null;
    double[] x = points.stream().mapToDouble(p -> p[0]).toArray();
    double[] y = points.stream().mapToDouble(p -> p[1]).toArray();
    XYSeries series = chart.addSeries(name, x, y);
    series.setYAxisGroup(axis);
    series.setMarker(SeriesMarkers.NONE);
    series.setLineColor(color);
    series.setLineWidth(2f);
    return series;
  }

  static String summary(DemoSettings settings, DemoTimeline timeline, DemoResult r) {
    StringBuilder b = new StringBuilder();
    b.append("# prefstream demo report\n\n");
    b.append(String.format(Locale.ROOT, "Hidden preference: **%s**, %d simulated users, %.0f s%s.%n%n", r.preference(),
        settings.users(), r.seconds(), r.interrupted() ? " (stopped early by the user)" : ""));
    b.append("![chart](" + CHART + ")\n\n");
    b.append("| | |\n|---|---|\n");
    row(b, "baseline liked rate (base model, before the first update)",
        String.format(Locale.ROOT, "%s (%d of %d replies)", pct(r.baselineRate()), r.baselineLiked(), r.baselineReplies()));
    row(b, "final liked rate (last " + settings.window().toSeconds() + " s)",
        String.format(Locale.ROOT, "%s (%d of %d replies)", pct(r.finalRate()), r.finalLiked(), r.finalReplies()));
    row(b, "rise", String.format(Locale.ROOT, "%+.1f percentage points", r.risePoints()));
    row(b, "two-proportion z-test (one-sided)", String.format(Locale.ROOT, "z = %.2f, p = %s", r.z(), pValue(r.pValue())));
    long endMillis = Math.round(r.seconds() * 1000);
    long[] single = timeline.singleRate(endMillis - settings.window().toMillis(), endMillis);
    row(b, "final liked rate of single replies only (not A/B candidates" + (settings.bestOf() > 1 ? "; each the best of " + settings.bestOf() : "")
            + "), last " + settings.window().toSeconds() + " s",
        String.format(Locale.ROOT, "%s (%d of %d replies)", pct(single[1] == 0 ? Double.NaN : (double) single[0] / single[1]),
            single[0], single[1]));
    if (settings.freezes()) {
      row(b, "learner stopped (--freeze-after)", String.format(Locale.ROOT, "at %d s: the policy was frozen after that",
          settings.freezeAfter().toSeconds()));
    }
    row(b, "versions published by the learner", Long.toString(r.versionsPublished()));
    row(b, "last version served", "v" + r.lastServedVersion());
    row(b, "swaps (served version changes)", Integer.toString(timeline.swaps().size()));
    row(b, "feedback events ingested", Long.toString(r.events()));
    row(b, "thumbs / A-vs-B comparisons sent", r.thumbs() + " / " + r.comparisons());
    row(b, "preference pairs built", Long.toString(r.pairs()));
    row(b, "training micro-batches", Long.toString(r.batches()));
    row(b, "learner steps", Long.toString(r.steps()));
    row(b, "freshness (feedback sent → served by a version trained on it), median",
        Double.isNaN(r.medianFreshnessSeconds()) ? "-" : String.format(Locale.ROOT, "%.1f s over %d feedback events",
            r.medianFreshnessSeconds(), r.freshnessMillis().size()));
    row(b, "served replies' reference NLL per token (fluency): base model (v0) → last " + settings.window().toSeconds() + " s",
        Double.isNaN(r.baseServedNll()) || Double.isNaN(r.finalServedNll()) ? "-"
            : String.format(Locale.ROOT, "%.3f → %.3f (%+.1f%%; a %s share of replies scored)", r.baseServedNll(),
                r.finalServedNll(), 100 * r.servedNllRise(), DemoRunner.FLUENCY_SAMPLE_RATE));
    DemoTimeline.Fluency base = r.baseFluency(), lastWindow = r.finalFluency();
    row(b, "… of the A/B candidates users liked: base model's (v0) → last " + settings.window().toSeconds() + " s's",
        Double.isNaN(r.likedNllRise()) ? "-"
            : String.format(Locale.ROOT, "%.3f (%d replies) → %.3f (%d replies): %+.1f%%", base.liked().perToken(),
                base.liked().replies(), lastWindow.liked().perToken(), lastWindow.liked().replies(), 100 * r.likedNllRise()));
    long lastScored = lastWindow.all().replies();
    row(b, "… of all A/B candidates in the last " + settings.window().toSeconds()
            + " s against the base model's own at the same liked share (the cost of saying what users like)",
        Double.isNaN(r.nllRiseAtEqualLikedShare()) ? "-"
            : String.format(Locale.ROOT, "%.3f against %.3f at %s liked: %+.1f%%", lastWindow.all().perToken(),
                r.baseNllAtFinalLikedShare(), pct((double) lastWindow.liked().replies() / lastScored),
                100 * r.nllRiseAtEqualLikedShare()));
    formRows(b, timeline.judged(), endMillis - settings.window().toMillis(), endMillis, settings.window().toSeconds());
    repertoireRow(b, settings.preference(), timeline.judged(), r.finalRate(), settings.window().toSeconds());
    row(b, "failed user calls", Long.toString(timeline.failures()));
    List<DemoTimeline.Judged> judged = timeline.judged();
    b.append("\n## Replies\n\nThe first replies of the base model (v0) and the last ones served, as the users judged them:\n\n");
    List<DemoTimeline.Judged> first = judged.stream().filter(j -> j.version() == 0).limit(6).toList();
    List<DemoTimeline.Judged> last = judged.subList(Math.max(0, judged.size() - 6), judged.size());
    for (DemoTimeline.Judged j : first) reply(b, j);
    b.append("\n");
    for (DemoTimeline.Judged j : last) reply(b, j);
    b.append("\n## Versions served\n\n| version | at (s) |\n|---|---|\n");
    for (DemoTimeline.Swap s : timeline.swaps()) {
      b.append(String.format(Locale.ROOT, "| v%d | %.1f |%n", s.version(), s.atMillis() / 1000.0));
    }
    b.append("\nThe final checkpoint is in `checkpoints/` (older versions are pruned at the end).\n");
    b.append("\n## Settings\n\n");
    b.append(String.format(Locale.ROOT, "model `%s`; DPO (sigmoid) with LoRA r=%d, β=%s, SFT term α=%s,"
            + " KTO weights λ_D 1 and λ_U %s, learning rate %s,"
            + " micro-batch %d, a version every %d steps; sampling temperature %s, top-p %s, max %d new tokens; A-vs-B share %s; pairing window %d s;"
            + " eval share %s; promotion gate margin %s; best-of %d for single replies.%n",
        settings.modelDir(), settings.loraRank(), settings.beta(), settings.sftAlpha(),
        settings.ktoUndesirableWeight(), settings.learningRate(),
        settings.batchSize(), settings.checkpointEverySteps(), settings.temperature(), settings.topP(), settings.maxNewTokens(), settings.compareShare(),
        settings.pairingWindow().toSeconds(), settings.evalShare(), settings.gateMargin(), settings.bestOf()));
    return b.toString();
  }

  /**
   * How many replies are made of the corpus's sentences ({@link ReplyForm}), repeat one, hold text that is none,
   * or were cut at the users' token limit (not judged for form: the model did not finish them): the base model's
   * (v0) and the final window's. Only for a model that speaks the corpus (most of the base model's replies well
   * formed: the bundled assistant); another model's replies are not made of it.
   */
  static void formRows(StringBuilder b, List<DemoTimeline.Judged> judged, long fromMillis, long toMillis, long windowSeconds) {
    int[] base = forms(judged.stream().filter(j -> j.version() == 0).toList());
    int[] last = forms(judged.stream().filter(j -> j.atMillis() > fromMillis && j.atMillis() <= toMillis).toList());
    int baseAll = base[0] + base[1] + base[2] + base[3], lastAll = last[0] + last[1] + last[2] + last[3];
    if (lastAll == 0 || !speaksCorpus(base)) return;
    row(b, "replies made of the bundled assistant's corpus sentences: base model (v0) → last " + windowSeconds + " s",
        String.format(Locale.ROOT, "%s → %s well formed; %s → %s repeat a sentence; %s → %s broken (text no corpus sentence"
                + " has); %s → %s cut at the token limit (%d → %d replies)", share(base[0], baseAll), share(last[0], lastAll),
            share(base[1], baseAll), share(last[1], lastAll), share(base[2], baseAll), share(last[2], lastAll),
            share(base[3], baseAll), share(last[3], lastAll), baseAll, lastAll));
  }

  /**
   * For {@code keyword:WORD} and a model that speaks the corpus: for how many of the users' messages the corpus has
   * a reply with the word ({@link SupportCorpus#promptsWithReplyContaining}), about the highest liked rate a policy
   * reaches by choosing among the replies the model learnt, and how near the final window came to it.
   */
  static void repertoireRow(StringBuilder b, PreferenceProfile preference, List<DemoTimeline.Judged> judged,
      double finalRate, long windowSeconds) {
    if (!(preference instanceof PreferenceProfile.Keyword(String word))) return;
    if (!speaksCorpus(forms(judged.stream().filter(j -> j.version() == 0).toList()))) return;
    int known = SupportCorpus.promptsWithReplyContaining(word);
    int all = SupportCorpus.prompts().size();
    double ceiling = (double) known / all;
    row(b, "messages the users ask that the bundled assistant's corpus has a reply with \"" + word + "\" for",
        String.format(Locale.ROOT, "%d of %d (%s): a policy choosing among the replies the model learnt is liked about"
                + " this often at most; the last %d s reached %s%s", known, all, pct(ceiling), windowSeconds, pct(finalRate),
            known == 0 || Double.isNaN(finalRate) ? "" : String.format(Locale.ROOT, " (%.2f of it)", finalRate / ceiling)));
  }

  /** Whether the base model's replies (their form counts) are mostly made of the corpus's sentences. */
  private static boolean speaksCorpus(int[] base) {
    int all = base[0] + base[1] + base[2] + base[3];
    return all > 0 && base[0] * 2 >= all;
  }

  /** {well formed, repeats, broken, cut} counts. */
  private static int[] forms(List<DemoTimeline.Judged> replies) {
    int[] n = new int[4];
    for (DemoTimeline.Judged j : replies) n[j.cut() ? 3 : ReplyForm.of(j.reply()).ordinal()]++;
    return n;
  }

  private static String share(int n, int of) {
    return pct((double) n / of);
  }

  private static void reply(StringBuilder b, DemoTimeline.Judged j) {
    b.append(String.format(Locale.ROOT, "- v%d, %s: \"%s\"%n", j.version(), j.liked() ? "liked" : "not liked",
        j.reply().replace("\n", " ")));
  }

  private static void row(StringBuilder b, String name, String value) {
    b.append("| ").append(name).append(" | ").append(value).append(" |\n");
  }

  static String pct(double rate) {
    return Double.isNaN(rate) ? "-" : String.format(Locale.ROOT, "%.1f%%", 100 * rate);
  }

  static String pValue(double p) {
    if (Double.isNaN(p)) return "-";
    return p < 1e-4 ? String.format(Locale.ROOT, "%.1e", p) : String.format(Locale.ROOT, "%.4f", p);
  }
}
