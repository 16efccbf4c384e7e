package io.prefstream.deploy.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PreferenceProfileTest {
  @Test
  void parsesTheThreeProfilesCaseInsensitively() {
    assertThat(PreferenceProfile.parse("concise"))
        .isEqualTo(new PreferenceProfile.Concise(PreferenceProfile.Concise.DEFAULT_MAX_WORDS));
    assertThat(PreferenceProfile.parse(" Polite ")).isEqualTo(new PreferenceProfile.Polite());
    assertThat(PreferenceProfile.parse("keyword:Refund")).isEqualTo(new PreferenceProfile.Keyword("refund"));
    assertThat(PreferenceProfile.parse("KEYWORD:free shipping").label()).isEqualTo("keyword:free shipping");
  }

  @Test
  void anUnknownOrEmptyPreferenceIsRefusedNamingWhatIsExpected() {
    assertThatThrownBy(() -> PreferenceProfile.parse("funny")).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown preference 'funny'; expected concise, polite or keyword:WORD (e.g. keyword:refund)");
    assertThatThrownBy(() -> PreferenceProfile.parse("keyword:  ")).hasMessageContaining("no word after keyword:");
    assertThatThrownBy(() -> PreferenceProfile.parse("")).hasMessageContaining("expected concise, polite");
  }

  @Test
  void conciseLikesShortReplies() {
    var concise = new PreferenceProfile.Concise(12);
    String shortReply = "Your order is on its way and will arrive by Friday.";
    String longReply = "Your order has shipped and should arrive in 2 to 4 business days. Deliveries can take a little"
        + " longer during holidays.";
    assertThat(concise.likes(shortReply)).isTrue();
    assertThat(concise.likes(longReply)).isFalse();
  }

  @Test
  void politeLikesThanksAndApologiesButNotBrusqueReplies() {
    var polite = new PreferenceProfile.Polite();
    assertThat(polite.likes("I'm so sorry about that. You can return the item for a full refund.")).isTrue();
    assertThat(polite.likes("Thank you for reaching out! Your order is on its way.")).isTrue();
    assertThat(polite.likes("It shipped. Check the tracking page.")).isFalse();
    assertThat(polite.likes("Your order is on its way and will arrive by Friday.")).isFalse();
  }

  @Test
  void keywordLikesRepliesContainingTheWord() {
    var refund = new PreferenceProfile.Keyword("refund");
    assertThat(refund.likes("You can return the item for a full Refund.")).isTrue();
    assertThat(refund.likes("Send us a photo of the item and we will replace it.")).isFalse();
  }
}
