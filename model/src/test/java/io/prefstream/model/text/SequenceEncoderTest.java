package io.prefstream.model.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.tokenizer.HfTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The encoder builds what TRL builds from the same files. Expected ids come from DJL's binding of
 * the Hugging Face tokenizers library used directly (not through {@link HfTokenizer}) on the texts TRL
 * would tokenize, written out here by hand: {@code tok(prompt)} and {@code tok(prompt + completion +
 * eos_token)} for standard data, {@code tok(rendered, add_special_tokens=False)} for conversations.
 */
class SequenceEncoderTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path TINY = Path.of("../models/assistant-tiny");
  private static final int BOS = 256;
  private static final int EOS = 257;

  @TempDir Path tmp;

  /** A copy of the bundled assistant's tokenizer files, optionally with tokenizer_config.json edited. */
  private Path tokenizerDir(java.util.function.Consumer<ObjectNode> editConfig) throws Exception {
    Path d = Files.createDirectories(tmp.resolve("tok" + System.nanoTime()));
    for (String f : List.of("tokenizer.json", "special_tokens_map.json", "chat_template.jinja")) {
      Files.copy(TINY.resolve(f), d.resolve(f));
    }
    ObjectNode cfg = (ObjectNode) JSON.readTree(TINY.resolve("tokenizer_config.json").toFile());
    editConfig.accept(cfg);
    JSON.writeValue(d.resolve("tokenizer_config.json").toFile(), cfg);
    return d;
  }

  private static int[] hf(Path dir, String text, boolean addSpecial) throws Exception {
    try (HuggingFaceTokenizer t = HuggingFaceTokenizer.builder().optTokenizerPath(dir.resolve("tokenizer.json")).build()) {
      return Arrays.stream(t.encode(text, addSpecial, false).getIds()).mapToInt(l -> (int) l).toArray();
    }
  }

  private static int[] concat(int[] a, int[] b) {
    return IntStream.concat(Arrays.stream(a), Arrays.stream(b)).toArray();
  }

  @Test
  void standardTextIsTokenizedAsItStandsWithEosTextAppended() throws Exception {
    Path d = tokenizerDir(c -> {});
    try (HfTokenizer tok = HfTokenizer.load(d)) {
      SequenceEncoder enc = new SequenceEncoder(tok, 0, 0, true);
      PromptResponse s = enc.encode("  Where is my order?", "It ships   today. ");
      int[] prompt = hf(d, "  Where is my order?", true);
      int[] full = hf(d, "  Where is my order?It ships   today. <|eos|>", true);
      assertThat(s.prompt()).containsExactly(prompt);
      assertThat(s.response()).containsExactly(Arrays.copyOfRange(full, prompt.length, full.length));
      assertThat(s.prompt()[0]).as("this tokenizer adds no BOS, so none is there").isNotEqualTo(BOS);
      assertThat(s.response()[s.response().length - 1]).isEqualTo(EOS);
      // a completion that already ends with EOS is not given a second one (TRL's endswith check)
      assertThat(enc.encode("  Where is my order?", "It ships   today. <|eos|>").response()).containsExactly(s.response());
    }
  }

  @Test
  void aTokenBoundaryThatMergesIsSplitAtThePromptLengthAsTrlDoes() throws Exception {
    Path d = tokenizerDir(c -> {});
    try (HfTokenizer tok = HfTokenizer.load(d)) {
      SequenceEncoder enc = new SequenceEncoder(tok, 0, 0, true);
      // "order" split as "ord" + "er": jointly "order" may be fewer tokens than the prompt's alone
      PromptResponse s = enc.encode("Where is my ord", "er?");
      int[] prompt = hf(d, "Where is my ord", true);
      int[] full = hf(d, "Where is my order?<|eos|>", true);
      assertThat(s.prompt()).containsExactly(prompt);
      assertThat(s.response()).containsExactly(Arrays.copyOfRange(full, prompt.length, full.length));
    }
  }

  @Test
  void llamaClassTokenizerAddsBosFromItsFlagAndOtherClassesFollowTokenizerJson() throws Exception {
    Path llama = tokenizerDir(c -> {
      c.put("tokenizer_class", "LlamaTokenizerFast");
      c.put("add_bos_token", true);
    });
    try (HfTokenizer tok = HfTokenizer.load(llama)) {
      PromptResponse s = new SequenceEncoder(tok, 0, 0, true).encode("Hi", " there");
      assertThat(s.prompt()).containsExactly(concat(new int[] {BOS}, hf(llama, "Hi", false)));
    }
    Path fast = tokenizerDir(c -> c.put("add_bos_token", true)); // PreTrainedTokenizerFast: the flag is not applied
    try (HfTokenizer tok = HfTokenizer.load(fast)) {
      assertThat(new SequenceEncoder(tok, 0, 0, true).encode("Hi", " there").prompt()).containsExactly(hf(fast, "Hi", true));
    }
  }

  @Test
  void conversationsAreRenderedWithTheModelsTemplateAndSplitAtTheGenerationPrompt() throws Exception {
    Path d = tokenizerDir(c -> {});
    try (HfTokenizer tok = HfTokenizer.load(d)) {
      SequenceEncoder enc = new SequenceEncoder(tok, 0, 0, true);
      PromptResponse s = enc.encode(Content.messages(List.of(ChatMessage.user("Where is my order?"))),
          Content.messages(List.of(ChatMessage.assistant("It ships today."))));
      int[] prompt = hf(d, "<|bos|>User: Where is my order?\nAssistant:", false);
      int[] full = hf(d, "<|bos|>User: Where is my order?\nAssistant: It ships today.<|eos|>", false);
      assertThat(prompt[0]).isEqualTo(BOS);
      assertThat(s.prompt()).containsExactly(prompt);
      assertThat(s.response()).containsExactly(Arrays.copyOfRange(full, prompt.length, full.length));
      assertThat(enc.promptIds(Content.messages(List.of(ChatMessage.user("Where is my order?"))))).containsExactly(prompt);
    }
  }

  @Test
  void refusesWhatWouldTrainOnASilentlyDifferentSequence() throws Exception {
    Path d = tokenizerDir(c -> {});
    try (HfTokenizer tok = HfTokenizer.load(d)) {
      SequenceEncoder enc = new SequenceEncoder(tok, 0, 0, true);
      var user = Content.messages(List.of(ChatMessage.user("Hi")));
      assertThatThrownBy(() -> enc.encode(user, Content.messages(List.of(ChatMessage.user("again")))))
          .hasMessageContaining("must end with an assistant turn");
      assertThatThrownBy(() -> enc.encode(user, Content.text("Hello")))
          .hasMessageContaining("use one format for both");
      assertThatThrownBy(() -> enc.encode(Content.messages(List.of(new ChatMessage("system", "x"))),
          Content.messages(List.of(ChatMessage.assistant("y")))))
          .isInstanceOf(ChatTemplateException.class).hasMessageContaining("not 'system'");
    }
    Path noTemplate = tokenizerDir(c -> {});
    Files.delete(noTemplate.resolve("chat_template.jinja"));
    try (HfTokenizer tok = HfTokenizer.load(noTemplate)) {
      assertThatThrownBy(() -> new SequenceEncoder(tok, 0, 0, true).encode(
          Content.messages(List.of(ChatMessage.user("Hi"))), Content.messages(List.of(ChatMessage.assistant("Yo")))))
          .hasMessageContaining("no chat_template");
    }
    Path noEos = tokenizerDir(c -> c.remove("eos_token"));
    JSON.writeValue(noEos.resolve("special_tokens_map.json").toFile(), JSON.createObjectNode().put("bos_token", "<|bos|>"));
    try (HfTokenizer tok = HfTokenizer.load(noEos)) {
      assertThatThrownBy(() -> new SequenceEncoder(tok, 0, 0, true)).hasMessageContaining("no EOS token");
      // scoring needs no EOS: the completion is scored as it stands
      PromptResponse s = SequenceEncoder.unlimited(tok).encode("Hi", " there");
      assertThat(s.response()).containsExactly(Arrays.copyOfRange(hf(noEos, "Hi there", true), hf(noEos, "Hi", true).length,
          hf(noEos, "Hi there", true).length));
    }
  }

  @Test
  void longSequencesKeepThePromptEndAndTheCompletionStart() throws Exception {
    Path d = tokenizerDir(c -> {});
    try (HfTokenizer tok = HfTokenizer.load(d)) {
      var prompt = Content.messages(List.of(ChatMessage.user("one two three four five six seven eight nine ten")));
      var reply = Content.messages(List.of(ChatMessage.assistant("alpha beta gamma delta epsilon zeta eta theta")));
      PromptResponse whole = SequenceEncoder.unlimited(tok).encode(prompt, reply);
      PromptResponse cut = new SequenceEncoder(tok, 12, 6, true).encode(prompt, reply);
      int[] p = whole.prompt();
      assertThat(cut.prompt()).hasSize(6);
      assertThat(cut.prompt()[0]).as("BOS kept").isEqualTo(BOS);
      assertThat(Arrays.copyOfRange(cut.prompt(), 1, 6)).containsExactly(Arrays.copyOfRange(p, p.length - 5, p.length));
      assertThat(cut.response()).containsExactly(Arrays.copyOf(whole.response(), 6));
      assertThatThrownBy(() -> new SequenceEncoder(tok, 8, 0, true).encode(prompt, reply))
          .hasMessageContaining("leaves no room for the completion");
    }
  }
}
