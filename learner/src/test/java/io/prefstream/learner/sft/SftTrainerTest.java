package io.prefstream.learner.sft;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.BpeMerge;
import io.prefstream.model.tokenizer.BpeTrainer;
import io.prefstream.model.tokenizer.ByteLevelTokenizerFiles;
import io.prefstream.model.text.SequenceEncoder;
import io.prefstream.model.tokenizer.HfTokenizer;
import io.prefstream.model.train.GradMode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SftTrainerTest {
  private static final List<SftExample> DATA = List.of(
      new SftExample("Q: Where is my order?\nA:", " It ships today."),
      new SftExample("Q: Can I get a refund?\nA:", " Yes, within 30 days."),
      new SftExample("Q: Hello\nA:", " Hi! How can I help?"),
      new SftExample("Q: Cancel my order\nA:", " Done, it is cancelled."));

  @TempDir Path dir;
  private HfTokenizer tokenizer;
  private LlamaConfig config;

  @BeforeEach
  void setUp() throws IOException {
    List<String> corpus = new ArrayList<>();
    for (SftExample e : DATA) corpus.add(e.prompt().describe() + e.completion().describe());
    List<BpeMerge> merges = BpeTrainer.train(corpus, 30);
    ByteLevelTokenizerFiles.write(dir, merges, 512);
    tokenizer = HfTokenizer.load(dir);
    config = ModelPresets.tiny(ByteLevelTokenizerFiles.vocabSize(merges));
  }

  @AfterEach
  void tearDown() {
    tokenizer.close();
  }

  private LlamaModel model(Map<String, NamedTensor> weights) {
    return LlamaModel.create(config, weights, new CpuBackend());
  }

  @Test
  void fullFineTuningDrivesTheReplyLossDown() {
    LlamaModel m = model(ModelInit.randomWeights(config, 1));
    double before = SftTrainer.evaluate(m, tokenizer, DATA, 4);
    SftTrainer t = new SftTrainer(m, tokenizer, DATA, SftConfig.full(40, 4, 3e-3, 7));
    List<SftTrainer.StepStats> steps = new ArrayList<>();
    t.train(steps::add);
    double after = SftTrainer.evaluate(m, tokenizer, DATA, 4);
    assertThat(steps).hasSize(40).allMatch(SftTrainer.StepStats::applied);
    assertThat(before).isGreaterThan(5.0); // about ln(vocab) for random weights
    assertThat(after).isLessThan(before / 3);
  }

  @Test
  void stepLossIsTheMeanNegativeLogLikelihoodOfReplyTokensComputedFromLogits() {
    LlamaModel m = model(ModelInit.randomWeights(config, 2));
    List<SftExample> one = List.of(DATA.get(0));
    SftTrainer t = new SftTrainer(m, tokenizer, one, SftConfig.full(1, 1, 1e-3, 1));
    var seq = SequenceEncoder.unlimited(tokenizer).encode(one.get(0).prompt(), one.get(0).completion());
    int[] prompt = seq.prompt();
    int[] reply = seq.response();
    assertThat(reply[reply.length - 1]).as("EOS ends the completion").isEqualTo(tokenizer.eosId().getAsInt());
    int[] all = new int[prompt.length + reply.length];
    System.arraycopy(prompt, 0, all, 0, prompt.length);
    System.arraycopy(reply, 0, all, prompt.length, reply.length);
    float[] logits = m.logits(all);
    int v = config.vocabSize();
    double nll = 0;
    for (int i = 0; i < reply.length; i++) {
      int row = prompt.length + i - 1; // the position predicting reply token i
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < v; j++) max = Math.max(max, logits[row * v + j]);
      double z = 0;
      for (int j = 0; j < v; j++) z += Math.exp(logits[row * v + j] - max);
      nll -= logits[row * v + reply[i]] - max - Math.log(z);
    }
    SftTrainer.StepStats s = t.step();
    assertThat(s.tokens()).isEqualTo(reply.length);
    assertThat(s.loss()).isCloseTo(nll / reply.length, within(1e-4));
  }

  @Test
  void loraTrainingChangesOnlyTheAdapterAndLowersTheLoss() {
    Map<String, NamedTensor> weights = ModelInit.randomWeights(config, 3);
    LlamaModel m = model(weights);
    double before = SftTrainer.evaluate(m, tokenizer, DATA, 4);
    SftTrainer t = new SftTrainer(m, tokenizer, DATA, SftConfig.lora(8, 30, 4, 1e-2, 5));
    t.train(null);
    assertThat(m.lora()).isPresent();
    assertThat(SftTrainer.evaluate(m, tokenizer, DATA, 4)).isLessThan(before - 0.5);
    Map<String, NamedTensor> base = m.exportWeights();
    for (var e : weights.entrySet()) assertThat(base.get(e.getKey()).data()).as(e.getKey()).containsExactly(e.getValue().data());
    assertThat(m.parameters(GradMode.LORA)).isNotEmpty();
  }

  @Test
  void sameSeedGivesTheSameWeights() {
    LlamaModel a = model(ModelInit.randomWeights(config, 4));
    LlamaModel b = model(ModelInit.randomWeights(config, 4));
    new SftTrainer(a, tokenizer, DATA, SftConfig.full(5, 2, 1e-3, 9)).train(null);
    new SftTrainer(b, tokenizer, DATA, SftConfig.full(5, 2, 1e-3, 9)).train(null);
    assertThat(a.exportWeights().get("model.norm.weight").data()).containsExactly(b.exportWeights().get("model.norm.weight").data());
    assertThat(a.exportWeights().get("model.embed_tokens.weight").data())
        .containsExactly(b.exportWeights().get("model.embed_tokens.weight").data());
  }

  @Test
  void badJsonlLinesAreRefusedWithTheirLineNumber() throws IOException {
    Path f = dir.resolve("data.jsonl");
    Files.writeString(f, "{\"prompt\": \"hi\", \"completion\": \"hello\"}\n\n{\"prompt\": \"hi\"}\n");
    assertThatThrownBy(() -> SftExample.readJsonl(f)).hasMessageContaining("data.jsonl:3").hasMessageContaining("\"completion\"");
    Files.writeString(f, "{\"prompt\": \"hi\", \"completion\": \"hello\"}\nnot json\n");
    assertThatThrownBy(() -> SftExample.readJsonl(f)).hasMessageContaining("data.jsonl:2").hasMessageContaining("not valid JSON");
    Files.writeString(f, "\n");
    assertThatThrownBy(() -> SftExample.readJsonl(f)).hasMessageContaining("no examples");
    Files.writeString(f, "{\"prompt\": \"hi\", \"completion\": \"hello\", \"tone\": \"polite\"}\n"
        + "{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}], \"completion\": [{\"role\": \"assistant\", \"content\": \"yo\"}]}\n"
        + "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n");
    var user = io.prefstream.model.text.Content.messages(List.of(io.prefstream.model.text.ChatMessage.user("hi")));
    var reply = io.prefstream.model.text.Content.messages(List.of(io.prefstream.model.text.ChatMessage.assistant("yo")));
    assertThat(SftExample.readJsonl(f)).containsExactly(new SftExample("hi", "hello"), new SftExample(user, reply),
        new SftExample(user, reply));
    Files.writeString(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n");
    assertThatThrownBy(() -> SftExample.readJsonl(f)).hasMessageContaining("data.jsonl:1")
        .hasMessageContaining("must end with an assistant turn");
  }
}
