package io.prefstream.deploy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.learner.offline.JsonlExamples;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.crosscheck.Float64Llama;
import io.prefstream.model.io.HandWrittenModelDir;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.HfTokenizer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code prefstream score --json} on model directories it never saw and TRL-format pairs equals a
 * Hugging Face-style computation built independently here: the token ids TRL would build (written
 * out as TRL's recipe: {@code tok(prompt)}, {@code tok(prompt + completion + eos_token)}, or the
 * chat template's rendering tokenized without added special tokens), from the tokenizers library
 * called directly, and log-probs from a float64 forward of transformers' Llama ({@link Float64Llama}).
 * Also: score and train build identical ids for the same line.
 */
class ScoreMatchesHuggingFaceTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** GQA 4/2, untied head, vocab 259 bytes/specials + 2 ChatML tokens. */
  private static final LlamaConfig SHAPE = new LlamaConfig(261, 32, 48, 2, 4, 2, 8, 128, 1e-5, 10000.0, false, false,
      -1, -1);
  private static final String CHATML = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n'"
      + " + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
      + "{{ '<|im_start|>assistant\\n' }}{% endif %}";

  @TempDir Path tmp;

  /** A model dir: no BOS anywhere ("bos_token_id": null), optionally an EOS token and a chat template. */
  private Map<String, NamedTensor> modelDir(Path dir, boolean chat) throws Exception {
    Map<String, NamedTensor> tensors = HandWrittenModelDir.write(dir, SHAPE, 21, false);
    String cfg = Files.readString(dir.resolve("config.json"))
        .replace("\"bos_token_id\": -1", "\"bos_token_id\": null").replace("\"eos_token_id\": -1", "\"eos_token_id\": null");
    Files.writeString(dir.resolve("config.json"), cfg);
    Files.delete(dir.resolve("special_tokens_map.json"));
    ObjectNode tok = (ObjectNode) JSON.readTree(dir.resolve("tokenizer.json").toFile());
    tok.putNull("post_processor");
    var added = tok.withArray("added_tokens");
    added.addObject().put("id", 259).put("content", "<|im_start|>").put("single_word", false).put("lstrip", false)
        .put("rstrip", false).put("normalized", false).put("special", true);
    added.addObject().put("id", 260).put("content", "<|im_end|>").put("single_word", false).put("lstrip", false)
        .put("rstrip", false).put("normalized", false).put("special", true);
    JSON.writeValue(dir.resolve("tokenizer.json").toFile(), tok);
    ObjectNode tc = JSON.createObjectNode().put("tokenizer_class", "PreTrainedTokenizerFast");
    if (chat) tc.put("eos_token", "<|im_end|>").put("chat_template", CHATML);
    JSON.writeValue(dir.resolve("tokenizer_config.json").toFile(), tc);
    return tensors;
  }

  private static int[] hf(Path dir, String text, boolean addSpecial) throws Exception {
    try (HuggingFaceTokenizer t = HuggingFaceTokenizer.builder().optTokenizerPath(dir.resolve("tokenizer.json")).build()) {
      return Arrays.stream(t.encode(text, addSpecial, false).getIds()).mapToInt(l -> (int) l).toArray();
    }
  }

  /** Σ log p(completion token | prefix) under the float64 forward. */
  private static double referenceLogProb(Map<String, NamedTensor> w, int[] prompt, int[] full) {
    double[][] logits = Float64Llama.logits(SHAPE, Float64Llama.unscaled(SHAPE), w, full);
    double sum = 0;
    for (int i = prompt.length; i < full.length; i++) {
      double[] row = logits[i - 1];
      double max = Arrays.stream(row).max().orElseThrow();
      double z = 0;
      for (double v : row) z += Math.exp(v - max);
      sum += row[full[i]] - max - Math.log(z);
    }
    return sum;
  }

  private static List<JsonNode> score(Path model, Path pairs) throws Exception {
    CommandLine cli = Main.commandLine();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = Main.run(new String[] {"score", "--model", model.toString(), "--pairs", pairs.toString(), "--json",
        "--device", "cpu"}, Map.of(), cli);
    assertThat(code).as(err.toString()).isZero();
    List<JsonNode> rows = new ArrayList<>();
    for (String line : out.toString().lines().toList()) rows.add(JSON.readTree(line));
    return rows;
  }

  private static void assertClose(double ours, double reference) {
    assertThat(Math.abs(ours - reference)).as("ours %s vs reference %s", ours, reference)
        .isLessThanOrEqualTo(1e-5 * Math.abs(reference));
  }

  @Test
  void standardPairsScoreAsTheTextStandsWithNoBosAndNoEosWhenTheTokenizerHasNone() throws Exception {
    Path dir = tmp.resolve("plain");
    Map<String, NamedTensor> w = modelDir(dir, false);
    Path pairs = tmp.resolve("pairs.jsonl");
    String[][] data = {{"Where is my order?", " It ships today.", " Figure it out."},
        {"Q: 2+2?\nA:", "4", "  five  "}, {"hello", " world", "!"}};
    StringBuilder lines = new StringBuilder();
    for (String[] d : data) {
      lines.append(JSON.createObjectNode().put("prompt", d[0]).put("chosen", d[1]).put("rejected", d[2])).append('\n');
    }
    Files.writeString(pairs, lines);
    List<JsonNode> rows = score(dir, pairs);
    assertThat(rows).hasSize(data.length);
    for (int i = 0; i < data.length; i++) {
      int[] prompt = hf(dir, data[i][0], true);
      assertThat(prompt[0]).as("no BOS: 'bos_token_id': null and no post-processor").isNotEqualTo(256);
      assertClose(rows.get(i).get("logps/chosen").asDouble(), referenceLogProb(w, prompt, hf(dir, data[i][0] + data[i][1], true)));
      assertClose(rows.get(i).get("logps/rejected").asDouble(),
          referenceLogProb(w, prompt, hf(dir, data[i][0] + data[i][2], true)));
    }
  }

  @Test
  void conversationalPairsAreRenderedWithTheModelsTemplateAndScoreLikeTrl() throws Exception {
    Path dir = tmp.resolve("chat");
    Map<String, NamedTensor> w = modelDir(dir, true);
    Path pairs = tmp.resolve("chat.jsonl");
    Files.writeString(pairs, """
        {"prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Where is my order?"}], \
        "chosen": [{"role": "assistant", "content": "It ships today."}], "rejected": [{"role": "assistant", "content": "No idea."}]}
        {"prompt": "Where is my order?", "chosen": " It ships today.", "rejected": " No idea."}
        """);
    List<JsonNode> rows = score(dir, pairs);
    String prompt = "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nWhere is my order?<|im_end|>\n"
        + "<|im_start|>assistant\n";
    int[] p = hf(dir, prompt, false);
    assertClose(rows.get(0).get("logps/chosen").asDouble(),
        referenceLogProb(w, p, hf(dir, prompt + "It ships today.<|im_end|>\n", false)));
    assertClose(rows.get(0).get("logps/rejected").asDouble(),
        referenceLogProb(w, p, hf(dir, prompt + "No idea.<|im_end|>\n", false)));
    // the same model with standard text: the tokenizer's EOS (<|im_end|>) is appended as TRL does
    int[] q = hf(dir, "Where is my order?", true);
    assertClose(rows.get(1).get("logps/chosen").asDouble(),
        referenceLogProb(w, q, hf(dir, "Where is my order? It ships today.<|im_end|>", true)));
  }

  @Test
  void scoreAndTrainBuildIdenticalIdsForTheSameLine() throws Exception {
    Path dir = tmp.resolve("same");
    modelDir(dir, true);
    Path pairs = tmp.resolve("same.jsonl");
    Files.writeString(pairs, """
        {"prompt": [{"role": "user", "content": "Refund?"}], "chosen": [{"role": "assistant", "content": "Yes."}], \
        "rejected": [{"role": "assistant", "content": "No."}]}
        {"prompt": "Refund?", "chosen": " Yes.", "rejected": " No."}
        """);
    TrainingBatch.Pair fromTrainReader = JsonlExamples.read(pairs, false).pairs().get(0);
    List<ScoreCommand.Pair> fromScoreReader = ScoreCommand.readPairs(pairs);
    try (LoadedModel m = LoadedModel.open(dir)) {
      var train = DpoTrainer.encoderFor(m.tokenizer(), TrainerConfig.builder().build(), m.model().config().maxPositions());
      var score = m.encoder();
      for (int i = 0; i < 2; i++) {
        TrainingBatch.Pair a = JsonlExamples.read(pairs, false).pairs().get(i);
        TrainingBatch.Pair b = fromScoreReader.get(i).pair();
        assertThat(b).isEqualTo(a);
        PromptResponse t = train.encode(a.prompt(), a.chosen());
        PromptResponse s = score.encode(b.prompt(), b.chosen());
        assertThat(s.prompt()).containsExactly(t.prompt());
        assertThat(s.response()).containsExactly(t.response());
      }
      assertThat(fromTrainReader.prompt()).isEqualTo(fromScoreReader.get(0).pair().prompt());
    }
  }
}
