package io.prefstream.deploy.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class DemoReportTest {
  private static DemoTimeline.Judged judged(long atMillis, long version, String reply) {
    return new DemoTimeline.Judged(atMillis, version, true, reply, true, false, Double.NaN, 0);
  }

  private static DemoTimeline.Judged cut(long atMillis, long version, String reply) {
    return new DemoTimeline.Judged(atMillis, version, true, reply, true, true, Double.NaN, 0);
  }

  @Test
  void theCorpusFormRowCountsTheBaseModelsRepliesAndTheFinalWindows() {
    String fluent = "Send a photo. The replacement ships within 24 hours.";
    String twice = "The replacement ships within 24 hours. The replacement ships within 24 hours.";
    String broken = "Send a photo. delivery arrives are sale.";
    List<DemoTimeline.Judged> judged = List.of(judged(100, 0, fluent), judged(200, 0, fluent), judged(300, 0, fluent),
        judged(400, 0, broken), judged(5_000, 3, fluent), // before the window: not counted
        judged(20_000, 9, twice), judged(21_000, 9, broken), judged(22_000, 9, fluent), judged(23_000, 9, twice),
        cut(24_000, 9, "Send a photo. The replacement ships wi")); // stopped by the token limit: not broken
    StringBuilder b = new StringBuilder();
    DemoReport.formRows(b, judged, 10_000, 30_000, 20);
    assertThat(b.toString()).contains("last 20 s")
        .contains("75.0% → 20.0% well formed; 0.0% → 40.0% repeat a sentence; 25.0% → 20.0% broken")
        .contains("0.0% → 20.0% cut at the token limit (4 → 5 replies)");
  }

  @Test
  void noCorpusFormRowForAModelThatDoesNotSpeakTheCorpus() {
    List<DemoTimeline.Judged> judged = List.of(judged(100, 0, "Bonjour."), judged(200, 0, "Send a photo."),
        judged(300, 0, "Hola."), judged(20_000, 9, "Send a photo."));
    StringBuilder b = new StringBuilder();
    DemoReport.formRows(b, judged, 10_000, 30_000, 20);
    assertThat(b.toString()).isEmpty();
  }

  @Test
  void aKeywordRunSaysHowManyMessagesTheCorpusHasAReplyWithTheWordFor() {
    List<DemoTimeline.Judged> judged = List.of(judged(100, 0, "Send a photo."), judged(200, 0, "Check the tracking page."),
        judged(20_000, 9, "Check the tracking page."));
    StringBuilder b = new StringBuilder();
    DemoReport.repertoireRow(b, new PreferenceProfile.Keyword("Tracking"), judged, 0.15, 30);
    // the corpus says "tracking" only in replies about order status (5 messages) and shipping (3)
    assertThat(b.toString()).contains("reply with \"tracking\" for").contains("| 8 of 48 (16.7%)")
        .contains("the last 30 s reached 15.0% (0.90 of it)");

    StringBuilder polite = new StringBuilder();
    DemoReport.repertoireRow(polite, new PreferenceProfile.Polite(), judged, 0.15, 30);
    assertThat(polite.toString()).isEmpty();
    StringBuilder otherModel = new StringBuilder();
    DemoReport.repertoireRow(otherModel, new PreferenceProfile.Keyword("tracking"),
        List.of(judged(100, 0, "Bonjour."), judged(200, 0, "Hola."), judged(20_000, 9, "tracking")), 0.5, 30);
    assertThat(otherModel.toString()).isEmpty();
  }
}
