package io.prefstream.model.peft;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.ModelFormatException;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.safetensors.HandWrittenSafetensors;
import io.prefstream.model.tensor.NamedTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PeftAdaptersTest {
  @TempDir Path dir;

  static final LlamaConfig BASE = ModelPresets.tiny();
  static final LoraConfig LORA = new LoraConfig(4, 8, Set.of("q_proj", "v_proj", "down_proj"), 0.05);

  /** adapter_config.json as PEFT 0.13 saves it for LoraConfig(r=4, lora_alpha=8, target_modules=[q_proj, v_proj]). */
  static final String PEFT_CONFIG = """
      {
        "alpha_pattern": {},
        "auto_mapping": null,
        "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M",
        "bias": "none",
        "eva_config": null,
        "exclude_modules": null,
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "layer_replication": null,
        "layers_pattern": null,
        "layers_to_transform": null,
        "loftq_config": {},
        "lora_alpha": 8,
        "lora_bias": false,
        "lora_dropout": 0.0,
        "megatron_config": null,
        "megatron_core": "megatron.core",
        "modules_to_save": null,
        "peft_type": "LORA",
        "r": 4,
        "rank_pattern": {},
        "revision": null,
        "target_modules": ["v_proj", "q_proj"],
        "task_type": "CAUSAL_LM",
        "use_dora": false,
        "use_rslora": false
      }
      """;

  static Map<String, NamedTensor> randomTensors(LlamaConfig base, LoraConfig lora, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    Map<String, NamedTensor> m = new LinkedHashMap<>();
    PeftAdapters.expectedShapes(base, lora).forEach((name, shape) -> {
      float[] v = new float[shape[0] * shape[1]];
      for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
      m.put(name, new NamedTensor(name, shape, v));
    });
    return m;
  }

  @Test
  void roundTripsAdapterConfigAndTensors() throws IOException {
    PeftAdapter a = new PeftAdapter(LORA, randomTensors(BASE, LORA, 1), Optional.of("/models/tiny"));
    PeftAdapters.write(dir, a, DType.F32);
    PeftAdapter back = PeftAdapters.read(dir, BASE);
    assertThat(back).isEqualTo(a);
    assertThat(back.config().scaling()).isEqualTo(2.0);
    String json = Files.readString(dir.resolve("adapter_config.json"));
    assertThat(json).contains("\"peft_type\" : \"LORA\"", "\"task_type\" : \"CAUSAL_LM\"", "\"lora_alpha\" : 8,",
        "\"r\" : 4", "\"bias\" : \"none\"", "\"use_rslora\" : false");
    try (var f = io.prefstream.model.safetensors.SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
      assertThat(f.names()).contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
          "base_model.model.model.layers.3.mlp.down_proj.lora_B.weight");
      assertThat(f.info("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight").shape()).containsExactly(4, 172);
      assertThat(f.info("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight").shape()).containsExactly(64, 4);
    }
  }

  @Test
  void readsADirectoryAsPeftWritesIt() throws IOException {
    Files.writeString(dir.resolve("adapter_config.json"), PEFT_CONFIG);
    HandWrittenSafetensors st = new HandWrittenSafetensors().metadata("format", "pt");
    Map<String, float[]> values = new LinkedHashMap<>();
    for (int i = 0; i < BASE.numLayers(); i++) {
      for (String m : new String[] {"q_proj", "v_proj"}) {
        int out = m.equals("q_proj") ? 64 : 32;
        float[] a = new float[4 * 64];
        float[] b = new float[out * 4];
        a[i] = 1 + i;
        b[3] = -i;
        String p = "base_model.model.model.layers." + i + ".self_attn." + m;
        // One layer spelled with the in-memory adapter name, as some exporters leave it.
        String suffix = i == 2 ? ".default.weight" : ".weight";
        st.f32(p + ".lora_A" + suffix, new int[] {4, 64}, a).f32(p + ".lora_B" + suffix, new int[] {out, 4}, b);
        values.put(PeftAdapter.loraA(i, m), a);
        values.put(PeftAdapter.loraB(i, m), b);
      }
    }
    st.writeTo(dir.resolve("adapter_model.safetensors"));
    PeftAdapter a = PeftAdapters.read(dir, BASE);
    assertThat(a.config()).isEqualTo(new LoraConfig(4, 8, Set.of("q_proj", "v_proj"), 0.0));
    assertThat(a.baseModelNameOrPath()).contains("HuggingFaceTB/SmolLM2-135M");
    values.forEach((name, v) -> assertThat(a.tensor(name).data()).containsExactly(v));
  }

  @Test
  void foldsRsLoraScalingIntoAlpha() throws Exception {
    var p = PeftAdapters.parseConfig(PEFT_CONFIG.replace("\"use_rslora\": false", "\"use_rslora\": true")
        .replace("\"lora_alpha\": 8", "\"lora_alpha\": 16"), "adapter_config.json", 4);
    assertThat(p.config().scaling()).isEqualTo(16 / Math.sqrt(4));
  }

  @Test
  void acceptsAllLinear() throws Exception {
    var p = PeftAdapters.parseConfig(PEFT_CONFIG.replace("[\"v_proj\", \"q_proj\"]", "\"all-linear\""), "c", 4);
    assertThat(p.config().targetModules()).isEqualTo(LoraConfig.ALL_TARGETS);
  }

  private void refused(String from, String to, String field, String fragment) {
    String json = PEFT_CONFIG.replace(from, to);
    assertThat(json).isNotEqualTo(PEFT_CONFIG);
    assertThatThrownBy(() -> PeftAdapters.parseConfig(json, "adapter_config.json", 4)).isInstanceOf(ModelFormatException.class)
        .hasMessageStartingWith("adapter_config.json: " + field).hasMessageContaining(fragment);
  }

  @Test
  void refusesDora() {
    refused("\"use_dora\": false", "\"use_dora\": true", "use_dora", "DoRA");
  }

  @Test
  void refusesRankAndAlphaPatternsThatGiveModulesDifferentValues() {
    refused("\"rank_pattern\": {}", "\"rank_pattern\": {\"q_proj\": 8}", "rank_pattern",
        "model.layers.0.self_attn.q_proj r=8 but model.layers.0.self_attn.v_proj r=4");
    refused("\"alpha_pattern\": {}", "\"alpha_pattern\": {\"q_proj\": 16}", "alpha_pattern",
        "every module shares lora_alpha");
  }

  @Test
  void refusesBiasOtherThanNone() {
    refused("\"bias\": \"none\"", "\"bias\": \"lora_only\"", "bias", "'lora_only'");
    refused("\"lora_bias\": false", "\"lora_bias\": true", "lora_bias", "not supported");
  }

  @Test
  void refusesModulesToSaveAndLayerSubsets() {
    refused("\"modules_to_save\": null", "\"modules_to_save\": [\"lm_head\"]", "modules_to_save", "lm_head");
    refused("\"layers_to_transform\": null", "\"layers_to_transform\": [0, 1]", "layers_to_transform", "every layer");
  }

  @Test
  void refusesTransposedWeights() {
    refused("\"fan_in_fan_out\": false", "\"fan_in_fan_out\": true", "fan_in_fan_out", "transposed");
  }

  @Test
  void refusesOtherPeftTypesAndTasks() {
    refused("\"peft_type\": \"LORA\"", "\"peft_type\": \"IA3\"", "peft_type", "'IA3'");
    refused("\"task_type\": \"CAUSAL_LM\"", "\"task_type\": \"SEQ_CLS\"", "task_type", "'SEQ_CLS'");
  }

  @Test
  void refusesTargetsThatAreNotDecoderProjections() {
    refused("[\"v_proj\", \"q_proj\"]", "[\"v_proj\", \"embed_tokens\"]", "target_modules",
        "model.embed_tokens: LoRA on the embedding");
    refused("[\"v_proj\", \"q_proj\"]", "\".*_proj|lm_head\"", "target_modules", "lm_head: LoRA on lm_head");
  }

  @Test
  void refusesTensorsThatDoNotFitTheConfigOrTheBase() throws IOException {
    LoraConfig qOnly = new LoraConfig(4, 8, Set.of("q_proj"), 0);
    Map<String, NamedTensor> t = randomTensors(BASE, qOnly, 2);
    PeftAdapters.write(dir, new PeftAdapter(qOnly, t, Optional.empty()), DType.F32);
    LlamaConfig wider = new LlamaConfig(259, 128, 172, 4, 4, 2, 32, 512, 1e-5, 1e4, true, false, 256, 257);
    assertThatThrownBy(() -> PeftAdapters.read(dir, wider)).hasMessageContaining("but the base projection is [128, 128]");
    LlamaConfig deeper = new LlamaConfig(259, 64, 172, 6, 4, 2, 16, 512, 1e-5, 1e4, true, false, 256, 257);
    assertThatThrownBy(() -> PeftAdapters.read(dir, deeper)).hasMessageContaining("model.layers.4.self_attn.q_proj");

    Map<String, NamedTensor> missingB = new LinkedHashMap<>(t);
    missingB.remove(PeftAdapter.loraB(1, "q_proj"));
    assertThatThrownBy(() -> PeftAdapters.write(dir, new PeftAdapter(qOnly, missingB, Optional.empty()), DType.F32))
        .hasMessageContaining("model.layers.1.self_attn.q_proj has lora_A but no lora_B");

    Map<String, NamedTensor> wrongRank = new LinkedHashMap<>(t);
    wrongRank.put(PeftAdapter.loraA(0, "q_proj"), new NamedTensor(PeftAdapter.loraA(0, "q_proj"), new int[] {8, 64}, new float[512]));
    assertThatThrownBy(() -> PeftAdapters.write(dir, new PeftAdapter(qOnly, wrongRank, Optional.empty()), DType.F32))
        .hasMessageContaining("[8, 64]").hasMessageContaining("r=4");

    Files.writeString(dir.resolve("adapter_config.json"), PEFT_CONFIG);
    new HandWrittenSafetensors().f32("base_model.model.model.embed_tokens.lora_embedding_A", new int[] {1}, new float[1])
        .writeTo(dir.resolve("adapter_model.safetensors"));
    assertThatThrownBy(() -> PeftAdapters.read(dir)).hasMessageContaining("lora_embedding_A");
    new HandWrittenSafetensors().f32("base_model.model.model.layers.0.mlp.up_proj.lora_A.weight", new int[] {4, 64}, new float[256])
        .writeTo(dir.resolve("adapter_model.safetensors"));
    assertThatThrownBy(() -> PeftAdapters.read(dir)).hasMessageContaining("adapts up_proj, which target_modules");
  }

  @Test
  void namesTensorsWithPeftsFileKeys() {
    assertThat(PeftAdapter.loraA(3, "down_proj")).isEqualTo("base_model.model.model.layers.3.mlp.down_proj.lora_A.weight");
    assertThat(PeftAdapter.loraB(0, "k_proj")).isEqualTo("base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight");
    Map<String, NamedTensor> t = new LinkedHashMap<>(randomTensors(BASE, LORA, 5));
    t.put("model.layers.0.self_attn.q_proj.lora_A.weight", new NamedTensor("x", new int[] {4, 64}, new float[256]));
    assertThatThrownBy(() -> PeftAdapters.write(dir, new PeftAdapter(LORA, t, Optional.empty()), DType.F32))
        .hasMessageContaining("is not a PEFT LoRA key");
  }

  @Test
  void writesBf16WhenAsked() throws IOException {
    PeftAdapter a = new PeftAdapter(LORA, randomTensors(BASE, LORA, 3), Optional.empty());
    PeftAdapters.write(dir, a, DType.BF16);
    PeftAdapter back = PeftAdapters.read(dir, BASE);
    float[] x = a.tensor(PeftAdapter.loraA(2, "v_proj")).data();
    float[] y = back.tensor(PeftAdapter.loraA(2, "v_proj")).data();
    for (int i = 0; i < x.length; i++) assertThat(y[i]).isCloseTo(x[i], org.assertj.core.data.Offset.offset(Math.abs(x[i]) / 128));
    assertThat(Files.readString(dir.resolve("adapter_config.json"))).contains("\"base_model_name_or_path\" : null");
  }
}
