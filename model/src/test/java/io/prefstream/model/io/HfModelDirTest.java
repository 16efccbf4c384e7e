package io.prefstream.model.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.safetensors.HandWrittenSafetensors;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.ByteLevelTokenizerFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfModelDirTest {
  @TempDir Path dir;

  static final LlamaConfig UNTIED = new LlamaConfig(259, 32, 48, 2, 4, 2, 8, 64, 1e-5, 10000, false, false, 256, 257);
  static final LlamaConfig QWEN = new LlamaConfig(259, 32, 48, 2, 4, 2, 8, 64, 1e-6, 1e6, true, true, 256, 257);

  @Test
  void loadsAHandWrittenBf16DirectoryToTheSameTensors() throws IOException {
    Map<String, NamedTensor> written = HandWrittenModelDir.write(dir, UNTIED, 1, true);
    try (HfModel m = HfModelDir.load(dir)) {
      assertThat(m.config()).isEqualTo(UNTIED);
      assertThat(m.weights()).containsOnlyKeys(written.keySet());
      written.forEach((name, t) -> assertThat(m.weight(name)).isEqualTo(t));
      assertThat(m.tokenizer().eosId()).hasValue(257);
      assertThat(m.tokenizer().decode(m.tokenizer().encode("héllo"))).isEqualTo("héllo");
    }
  }

  @Test
  void loadsQwen2StyleBiasesAndTiedEmbeddingsFromShards() throws IOException {
    Map<String, NamedTensor> written = HandWrittenModelDir.writeSharded(dir, QWEN, 2);
    assertThat(written).containsKey("model.layers.1.self_attn.k_proj.bias").doesNotContainKey("lm_head.weight");
    try (HfModel m = HfModelDir.load(dir)) {
      assertThat(m.config().attentionBias()).isTrue();
      written.forEach((name, t) -> assertThat(m.weight(name)).isEqualTo(t));
      assertThat(m.weights()).hasSameSizeAs(written);
    }
  }

  @Test
  void writesAndReloadsF32ExactlyAndBf16Rounded() throws IOException {
    Map<String, NamedTensor> w = ModelInit.randomWeights(UNTIED, 3);
    HfModelDir.write(dir.resolve("f32"), UNTIED, w, DType.F32);
    ByteLevelTokenizerFiles.write(dir.resolve("f32"), List.of(), 64);
    try (HfModel m = HfModelDir.load(dir.resolve("f32"))) {
      w.forEach((name, t) -> assertThat(m.weight(name)).isEqualTo(t));
    }
    HfModelDir.write(dir.resolve("bf16"), UNTIED, w, DType.BF16);
    HfModelDir.copyTokenizerFiles(dir.resolve("f32"), dir.resolve("bf16"));
    try (HfModel m = HfModelDir.load(dir.resolve("bf16"))) {
      NamedTensor q = m.weight("model.layers.0.self_attn.q_proj.weight");
      float[] orig = w.get(q.name()).data();
      for (int i = 0; i < orig.length; i++) assertThat(q.data()[i]).isCloseTo(orig[i], org.assertj.core.data.Offset.offset(Math.abs(orig[i]) / 128));
      assertThat(HfConfigJson.readDetailed(dir.resolve("bf16/config.json")).torchDtype()).contains("bfloat16");
    }
    assertThat(Files.readString(dir.resolve("f32/generation_config.json"))).contains("\"eos_token_id\" : 257");
  }

  @Test
  void aWrittenFineTuneKeepsTheBasesEosListAndSamplingDefaults() throws IOException {
    Map<String, NamedTensor> w = ModelInit.randomWeights(UNTIED, 3);
    HfModelDir.write(dir.resolve("base"), UNTIED, w, DType.F32);
    ByteLevelTokenizerFiles.write(dir.resolve("base"), List.of(), 64);
    Files.writeString(dir.resolve("base/generation_config.json"),
        "{\"eos_token_id\": [257, 3, 5], \"do_sample\": true, \"temperature\": 0.6, \"top_p\": 0.9}");
    HfModelDir.write(dir.resolve("tuned"), UNTIED, w, DType.F32);
    HfModelDir.copyTokenizerFiles(dir.resolve("base"), dir.resolve("tuned"));
    try (HfModel m = HfModelDir.load(dir.resolve("tuned"))) {
      assertThat(m.generationDefaults().eosTokenIds()).containsExactly(257, 3, 5);
      assertThat(m.generationDefaults().temperature()).isEqualTo(0.6);
      assertThat(m.generationDefaults().topP()).isEqualTo(0.9);
      assertThat(m.stopTokenIds()).contains(3, 5, 257);
    }
  }

  private Map<String, NamedTensor> handWrittenWith(LlamaConfig c, java.util.function.Consumer<Map<String, NamedTensor>> edit)
      throws IOException {
    Files.writeString(dir.resolve("config.json"), HandWrittenModelDir.configJson(c));
    ByteLevelTokenizerFiles.write(dir, List.of(), 64);
    Map<String, NamedTensor> t = new LinkedHashMap<>(HandWrittenModelDir.tensors(c, 4));
    edit.accept(t);
    HandWrittenSafetensors st = new HandWrittenSafetensors();
    for (NamedTensor x : t.values()) st.f32(x.name(), x.shape(), x.data());
    st.writeTo(dir.resolve("model.safetensors"));
    return t;
  }

  @Test
  void refusesAMissingTensorNamingIt() throws IOException {
    handWrittenWith(UNTIED, t -> t.remove("model.layers.1.mlp.up_proj.weight"));
    assertThatThrownBy(() -> HfModelDir.load(dir)).isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("missing").hasMessageContaining("model.layers.1.mlp.up_proj.weight");
  }

  @Test
  void refusesAWrongShapeNamingTensorAndShapes() throws IOException {
    handWrittenWith(UNTIED, t -> t.put("model.norm.weight", new NamedTensor("model.norm.weight", new int[] {31}, new float[31])));
    assertThatThrownBy(() -> HfModelDir.load(dir)).isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("'model.norm.weight' has shape [31]").hasMessageContaining("implies [32]");
  }

  @Test
  void refusesUnknownExtraTensors() throws IOException {
    handWrittenWith(UNTIED, t -> t.put("model.layers.0.self_attn.o_proj.bias",
        new NamedTensor("model.layers.0.self_attn.o_proj.bias", new int[] {32}, new float[32])));
    assertThatThrownBy(() -> HfModelDir.load(dir)).isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("does not use").hasMessageContaining("o_proj.bias");
  }

  @Test
  void acceptsACopyOfTiedEmbeddingsAsLmHeadButNotADifferentOne() throws IOException {
    handWrittenWith(QWEN, t -> t.put("lm_head.weight", new NamedTensor("lm_head.weight",
        t.get("model.embed_tokens.weight").shape(), t.get("model.embed_tokens.weight").data())));
    try (HfModel m = HfModelDir.load(dir)) {
      assertThat(m.weights()).doesNotContainKey("lm_head.weight");
    }
    handWrittenWith(QWEN, t -> t.put("lm_head.weight", new NamedTensor("lm_head.weight",
        t.get("model.embed_tokens.weight").shape(), new float[259 * 32])));
    assertThatThrownBy(() -> HfModelDir.load(dir)).hasMessageContaining("lm_head.weight differs");
  }

  @Test
  void refusesDirectoriesWithoutSafetensors() throws IOException {
    Files.writeString(dir.resolve("config.json"), HandWrittenModelDir.configJson(UNTIED));
    Files.write(dir.resolve("pytorch_model.bin"), new byte[4]);
    assertThatThrownBy(() -> HfModelDir.load(dir)).hasMessageContaining("pytorch_model.bin");
  }

  @Test
  void refusesWritingWeightsThatDoNotMatchTheConfig() {
    Map<String, NamedTensor> w = new LinkedHashMap<>(ModelInit.randomWeights(UNTIED, 3));
    w.remove("lm_head.weight");
    assertThatThrownBy(() -> HfModelDir.write(dir, UNTIED, w, DType.F32)).hasMessageContaining("'lm_head.weight' missing");
  }

  @Test
  void writesARandomPresetModelWithItsTokenizerThatLoadsBack() throws IOException {
    List<io.prefstream.model.tokenizer.BpeMerge> merges = io.prefstream.model.tokenizer.BpeTrainer.train(
        List.of("hello there, hello again", "thanks, hello"), 10);
    LlamaConfig c = ModelPresets.tiny(ByteLevelTokenizerFiles.vocabSize(merges));
    ModelInit.writeRandomModel(dir, c, 7, merges, DType.F32);
    try (HfModel m = HfModelDir.load(dir)) {
      assertThat(m.config()).isEqualTo(c);
      assertThat(m.weights()).isEqualTo(ModelInit.randomWeights(c, 7));
      assertThat(m.tokenizer().vocabSize()).isEqualTo(c.vocabSize());
      assertThat(m.tokenizer().encode("hello").length).isLessThan(5);
    }
    assertThatThrownBy(() -> ModelInit.writeRandomModel(dir.resolve("x"), ModelPresets.tiny(), 7, merges, DType.F32))
        .hasMessageContaining("vocab_size is 259");
  }

  @Test
  void presetsHaveTheAdvertisedSizes() {
    assertThat(LlamaWeights.parameterCount(ModelPresets.tiny())).isLessThan(1_000_000);
    assertThat(ModelPresets.tiny().vocabSize()).isEqualTo(259);
    assertThat(ModelPresets.small(400).hiddenSize()).isEqualTo(256);
    assertThat(LlamaWeights.parameterCount(ModelPresets.small())).isBetween(3_000_000L, 8_000_000L);
    assertThatThrownBy(() -> ModelPresets.byName("huge", 259)).hasMessageContaining("tiny or small");
  }

  @Test
  void initialisesDeterministicallyLikeTransformers() {
    Map<String, NamedTensor> a = ModelInit.randomWeights(ModelPresets.tiny(), 42);
    Map<String, NamedTensor> b = ModelInit.randomWeights(ModelPresets.tiny(), 42);
    Map<String, NamedTensor> c = ModelInit.randomWeights(ModelPresets.tiny(), 43);
    assertThat(a).isEqualTo(b);
    assertThat(a.get("model.embed_tokens.weight")).isNotEqualTo(c.get("model.embed_tokens.weight"));
    assertThat(a.get("model.norm.weight").data()).containsOnly(1f);
    float[] w = a.get("model.layers.0.mlp.gate_proj.weight").data();
    double mean = 0;
    double sq = 0;
    for (float x : w) {
      mean += x;
      sq += x * x;
    }
    mean /= w.length;
    double std = Math.sqrt(sq / w.length - mean * mean);
    assertThat(mean).isBetween(-0.002, 0.002);
    assertThat(std).isBetween(0.019, 0.021);
    assertThat(ModelInit.randomWeights(QWEN, 1).get("model.layers.0.self_attn.q_proj.bias").data()).containsOnly(0f);
  }
}
