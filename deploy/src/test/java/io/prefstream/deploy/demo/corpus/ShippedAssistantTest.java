package io.prefstream.deploy.demo.corpus;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.generate.FinishReason;
import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.Generator;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.Content;
import io.prefstream.model.text.SequenceEncoder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The shipped demo assistant (models/assistant-tiny), prompted through its own chat template
 * (chat_template.jinja), answers in readable sentences that it ends with EOS (no stop string needed)
 * and, sampled at temperature 0.8, in more than one style for the same message.
 */
class ShippedAssistantTest {
  private static final Path DIR = Path.of("..", "models", "assistant-tiny");

  @Test
  void answersInFinishedSentencesOfVariedStyle() throws Exception {
    Assumptions.assumeTrue(Files.isRegularFile(DIR.resolve("model.safetensors")), "models/assistant-tiny is not in this checkout");
    try (HfModel hf = HfModelDir.load(DIR)) {
      LlamaModel model = LlamaModel.create(hf.config(), hf.weights(), new CpuBackend());
      Generator gen = new Generator(model);
      int eos = hf.tokenizer().eosId().orElseThrow();
      for (String prompt : List.of("Where is my order?", "I want a refund.", "How do I reset my password?")) {
        int[] ids = SequenceEncoder.unlimited(hf.tokenizer()).promptIds(Content.messages(List.of(ChatMessage.user(prompt))));
        Set<Tone> tones = EnumSet.noneOf(Tone.class);
        for (int seed = 0; seed < 8; seed++) {
          GenerationResult r = gen.generate(ids, new SamplingParams(0.8, 0, 1.0, seed, 96, eos, List.of()),
              t -> hf.tokenizer().decode(t, true), null);
          String reply = r.text().strip();
          assertThat(r.finishReason()).as(reply).isEqualTo(FinishReason.EOS);
          assertThat(reply).as(prompt).matches("[A-Z0-9][A-Za-z0-9 ,.'!?-]*[.!?]");
          tones.add(ReplyStyle.of(reply).tone());
        }
        assertThat(tones).as(prompt).hasSizeGreaterThanOrEqualTo(2);
      }
    }
  }
}
