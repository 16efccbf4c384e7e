package io.prefstream.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplateTest {
  @Test
  void promptAndResponseTokensConcatenateToTheWholeExchange(@TempDir Path dir) throws Exception {
    ByteLevelTokenizerFiles.write(dir, BpeTrainer.train(List.of("User: where is my order?\nAssistant: It ships today."), 40), 128);
    try (HfTokenizer tok = HfTokenizer.load(dir)) {
      int[] prompt = ChatTemplate.promptTokens(tok, "  where is my order? ");
      int[] response = ChatTemplate.responseTokens(tok, "It ships today.");
      assertThat(prompt[0]).isEqualTo(ByteLevelTokenizerFiles.BOS_ID);
      assertThat(response[response.length - 1]).isEqualTo(ByteLevelTokenizerFiles.EOS_ID);
      int[] all = new int[prompt.length + response.length];
      System.arraycopy(prompt, 0, all, 0, prompt.length);
      System.arraycopy(response, 0, all, prompt.length, response.length);
      assertThat(tok.decode(all)).isEqualTo("<|bos|>User: where is my order?\nAssistant: It ships today.<|eos|>");
      // The split does not change the tokens: the reply tokenizes as it does in running text.
      int[] whole = tok.encode("User: where is my order?\nAssistant: It ships today.", false);
      assertThat(java.util.Arrays.copyOfRange(all, 1, all.length - 1)).containsExactly(whole);
    }
  }

  @Test
  void refusesABlankMessageAndStripsTheReply() {
    assertThatThrownBy(() -> ChatTemplate.promptText("  ")).hasMessageContaining("user message is empty");
    assertThat(ChatTemplate.responseText("  Hi.  ")).isEqualTo(" Hi.");
    assertThat(ChatTemplate.replyText(" Hi.")).isEqualTo("Hi.");
    assertThat(ChatTemplate.stopStrings()).containsExactly("\nUser:");
  }
}
