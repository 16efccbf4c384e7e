package io.prefstream.learner.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.Content;
import io.prefstream.model.text.SequenceEncoder;
import io.prefstream.model.tokenizer.HfTokenizer;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A micro-batch's examples reach the trainer in the format they were produced in: a chat's
 * conversation as TRL's conversational format (rendered by the template), a text prompt as text. The
 * tokenizer here is Llama-3-like: it adds BOS itself and its template writes BOS too, so training on
 * the rendered prompt as text would start with two BOS tokens.
 */
class TrainingBatchTest {
  private static final Path TINY = Path.of("../models/assistant-tiny");
  private static final List<io.prefstream.schemas.avro.ChatMessage> CONVERSATION = List.of(
      new io.prefstream.schemas.avro.ChatMessage("user", "Where is my order?"),
      new io.prefstream.schemas.avro.ChatMessage("assistant", "Which order?"),
      new io.prefstream.schemas.avro.ChatMessage("user", "The blue one."));
  private static final List<ChatMessage> MESSAGES = List.of(ChatMessage.user("Where is my order?"),
      ChatMessage.assistant("Which order?"), ChatMessage.user("The blue one."));

  @TempDir Path tmp;

  private Path llamaLikeTokenizer() throws Exception {
    for (String f : List.of("tokenizer.json", "special_tokens_map.json", "chat_template.jinja")) {
      Files.copy(TINY.resolve(f), tmp.resolve(f));
    }
    ObjectMapper json = new ObjectMapper();
    ObjectNode cfg = (ObjectNode) json.readTree(TINY.resolve("tokenizer_config.json").toFile());
    cfg.put("tokenizer_class", "LlamaTokenizerFast").put("add_bos_token", true);
    json.writeValue(tmp.resolve("tokenizer_config.json").toFile(), cfg);
    return tmp;
  }

  private static MicroBatch batch(List<io.prefstream.schemas.avro.ChatMessage> messages, String prompt) {
    return MicroBatch.newBuilder().setBatchId("b-1").setPolicyId("default").setSequence(1)
        .setPairs(List.of(new PreferencePair(prompt, "It ships today.", "No idea.", List.of("e1", "e2"), 3L, messages)))
        .setUnpaired(List.of(new UnpairedExample(prompt, "Soon.", true, "e3", 4L, messages)))
        .setEventTimeStart(Instant.EPOCH).setEventTimeEnd(Instant.EPOCH).setCreatedAt(Instant.EPOCH).build();
  }

  @Test
  void aChatExampleTrainsOnItsConversationExactlyAsTrlsConversationalFormat() throws Exception {
    try (HfTokenizer tok = HfTokenizer.load(llamaLikeTokenizer())) {
      SequenceEncoder enc = new SequenceEncoder(tok, 0, 0, true);
      String rendered = enc.renderPrompt(MESSAGES);
      TrainingBatch b = TrainingBatch.of(batch(CONVERSATION, rendered));

      TrainingBatch.Pair pair = b.pairs().getFirst();
      assertThat(pair.prompt()).isEqualTo(Content.messages(MESSAGES));
      assertThat(pair.chosen()).isEqualTo(Content.messages(List.of(ChatMessage.assistant("It ships today."))));
      assertThat(pair.policyVersion()).isEqualTo(3L);
      PromptResponse expected = enc.encode(Content.messages(MESSAGES),
          Content.messages(List.of(ChatMessage.assistant("It ships today."))));
      PromptResponse actual = enc.encode(pair.prompt(), pair.chosen());
      assertThat(actual.prompt()).containsExactly(expected.prompt());
      assertThat(actual.response()).containsExactly(expected.response());
      assertThat(enc.encode(pair.prompt(), pair.rejected()).response()).containsExactly(enc.encode(Content.messages(MESSAGES),
          Content.messages(List.of(ChatMessage.assistant("No idea.")))).response());

      TrainingBatch.Thumb thumb = b.thumbs().getFirst();
      assertThat(thumb.prompt()).isEqualTo(Content.messages(MESSAGES));
      assertThat(thumb.response()).isEqualTo(Content.messages(List.of(ChatMessage.assistant("Soon."))));
      assertThat(thumb.desirable()).isTrue();

      // One BOS, written by the template; the rendered text tokenized as text would carry a second.
      int bos = tok.bosId().getAsInt();
      assertThat(actual.prompt()[0]).isEqualTo(bos);
      assertThat(actual.prompt()[1]).isNotEqualTo(bos);
      int[] asText = enc.encode(rendered, "It ships today.").prompt();
      assertThat(asText[0]).isEqualTo(bos);
      assertThat(asText[1]).as("the text path doubles BOS for this tokenizer").isEqualTo(bos);
    }
  }

  @Test
  void anExampleWithoutAConversationStaysText() {
    TrainingBatch b = TrainingBatch.of(batch(null, "Q: 2+2?"));
    assertThat(b.pairs()).containsExactly(new TrainingBatch.Pair("Q: 2+2?", "It ships today.", "No idea.", 3L));
    assertThat(b.thumbs()).containsExactly(new TrainingBatch.Thumb("Q: 2+2?", "Soon.", true, 4L));
  }

  @Test
  void carriesTheEventIdsOfItsFeedbackSoOneEventCanBeFollowedIntoTheStep() {
    TrainingBatch b = TrainingBatch.of(batch(null, "Where is my order?"));
    assertThat(b.sources()).containsExactly("e1", "e2", "e3");
    assertThat(new TrainingBatch("offline", b.pairs(), b.thumbs()).sources()).isEmpty();
  }
}
