package io.prefstream.deploy.demo.corpus;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Replies the bundled assistant was trained on are well formed; late demo replies seen in runs show the other two forms. */
class ReplyFormTest {
  @Test
  void everyCorpusReplyIsWellFormed() {
    for (SupportExchange e : SupportCorpus.generate(2_000, 7)) {
      assertThat(ReplyForm.of(e.reply())).as(e.reply()).isEqualTo(ReplyForm.WELL_FORMED);
    }
  }

  @Test
  void partsOfOtherTopicsInAnyOrderAreStillWellFormed() {
    // An answer about a replacement after a password opener: an odd mix, but every sentence is fluent.
    assertThat(ReplyForm.of("  Return it. We'll see. The reset link is valid for 24 hours. Happy to help!\n"))
        .isEqualTo(ReplyForm.WELL_FORMED);
  }

  @Test
  void aSentenceSaidTwiceRepeats() {
    assertThat(ReplyForm.of("Great question! I have cancelled your order, and the payment will be released."
        + " The hold on your card is released within 24 hours. The hold on your card is released within 24 hours."
        + " Please let me know if you have any other questions.")).isEqualTo(ReplyForm.REPEATS);
  }

  @Test
  void aFragmentThatIsNoPartIsBroken() {
    assertThat(ReplyForm.of("Send a photo. The replacement ships within 24 hours. delivery arrives are sale."
        + " Figure it out from there.")).isEqualTo(ReplyForm.BROKEN);
    assertThat(ReplyForm.of("Great question! Hello, what can I do for you today? peri, how can I help you with?"))
        .isEqualTo(ReplyForm.BROKEN);
    assertThat(ReplyForm.of("Send a photo.The replacement ships within 24 hours.")).as("parts run together")
        .isEqualTo(ReplyForm.BROKEN);
    assertThat(ReplyForm.of("Send a photo")).as("cut off").isEqualTo(ReplyForm.BROKEN);
    assertThat(ReplyForm.of("   ")).isEqualTo(ReplyForm.BROKEN);
  }
}
