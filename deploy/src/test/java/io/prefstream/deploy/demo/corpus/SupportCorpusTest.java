package io.prefstream.deploy.demo.corpus;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SupportCorpusTest {
  private final List<SupportExchange> corpus = SupportCorpus.generate(3000, 11);

  @Test
  void sameSeedGivesTheSameCorpus() {
    assertThat(SupportCorpus.generate(50, 4)).isEqualTo(SupportCorpus.generate(50, 4)).isNotEqualTo(SupportCorpus.generate(50, 5));
  }

  @Test
  void tonesAndLengthsAreEvenlyMixed() {
    Map<Tone, Integer> tones = new EnumMap<>(Tone.class);
    Map<Length, Integer> lengths = new EnumMap<>(Length.class);
    for (SupportExchange e : corpus) {
      tones.merge(e.tone(), 1, Integer::sum);
      lengths.merge(e.length(), 1, Integer::sum);
    }
    assertThat(tones.values()).allSatisfy(n -> assertThat(n).isBetween(850, 1150));
    assertThat(lengths.values()).allSatisfy(n -> assertThat(n).isBetween(1350, 1650));
  }

  @Test
  void replyStyleReadsTheToneAndLengthTheReplyWasWrittenIn() {
    int toneAgrees = 0, lengthAgrees = 0;
    for (SupportExchange e : corpus) {
      ReplyStyle s = ReplyStyle.of(e.reply());
      if (s.tone() == e.tone()) toneAgrees++;
      if (s.length() == e.length()) lengthAgrees++;
      assertThat(s.keywords()).isEqualTo(e.keywords());
    }
    // a text judge (what the demo's simulated users are) must see the styles the corpus varies
    assertThat(toneAgrees).isGreaterThan(corpus.size() * 9 / 10);
    assertThat(lengthAgrees).isGreaterThan(corpus.size() * 8 / 10);
  }

  @Test
  void theSameMessageGetsRepliesOfEveryTone() {
    String prompt = "Where is my order?";
    assertThat(corpus.stream().filter(e -> e.prompt().equals(prompt)).map(SupportExchange::tone).distinct())
        .containsExactlyInAnyOrder(Tone.values());
    assertThat(SupportCorpus.prompts()).contains(prompt).doesNotHaveDuplicates();
    assertThat(corpus.stream().filter(e -> !e.keywords().isEmpty()).count()).isGreaterThan(corpus.size() / 4);
  }

  @Test
  void theMessagesWithAReplyContainingAWordAreTheOnesASampledCorpusHasSuchAReplyFor() {
    List<SupportExchange> many = SupportCorpus.generate(30_000, 5);
    for (String word : List.of("tracking", "delivery", "account", "hours", "support team", "thank", "sorry", "photo", "zebra")) {
      long sampled = many.stream().filter(e -> e.reply().toLowerCase(Locale.ROOT).contains(word))
          .map(SupportExchange::prompt).distinct().count();
      assertThat(SupportCorpus.promptsWithReplyContaining(word.toUpperCase(Locale.ROOT))).as(word)
          .isEqualTo(sampled);
    }
    assertThat(SupportCorpus.promptsWithReplyContaining("tracking")).isEqualTo(8);
    assertThat(SupportCorpus.promptsWithReplyContaining("thank")).isEqualTo(SupportCorpus.prompts().size());
  }
}
