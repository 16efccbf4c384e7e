package io.prefstream.model.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.Rope;
import io.prefstream.model.config.RopeScaling;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfConfigJsonTest {
  static final String SMOLLM2_135M = """
      {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
       "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576,
       "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "is_llama_config": true,
       "max_position_embeddings": 8192, "model_type": "llama", "num_attention_heads": 9,
       "num_hidden_layers": 30, "num_key_value_heads": 3, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
       "rope_interleaved": false, "rope_scaling": null, "rope_theta": 100000, "tie_word_embeddings": true,
       "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": true, "vocab_size": 49152}
      """;

  static final String QWEN25_05B = """
      {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
       "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
       "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
       "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
       "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
       "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936}
      """;

  @TempDir Path dir;

  static HfModelConfig parse(String json) throws ModelFormatException {
    return HfConfigJson.parse(json, "config.json");
  }

  @Test
  void readsSmolLmAsLlama() throws Exception {
    HfModelConfig p = parse(SMOLLM2_135M);
    assertThat(p.config()).isEqualTo(new LlamaConfig(49152, 576, 1536, 30, 9, 3, 64, 8192, 1e-5, 100000, true,
        false, 0, 0));
    assertThat(p.modelType()).isEqualTo("llama");
    assertThat(p.torchDtype()).contains("bfloat16");
  }

  @Test
  void readsQwen2WithQkvBiasesAndInactiveWindow() throws Exception {
    LlamaConfig c = parse(QWEN25_05B).config();
    assertThat(c.attentionBias()).isTrue();
    assertThat(c.headDim()).isEqualTo(64);
    assertThat(c.numKvHeads()).isEqualTo(2);
    assertThat(c.rope().theta()).isEqualTo(1e6);
    assertThat(c.tieWordEmbeddings()).isTrue();
    assertThat(c.bosTokenId()).isEqualTo(151643);
  }

  @Test
  void appliesTransformersDefaultsForAbsentFields() throws Exception {
    LlamaConfig c = parse("""
        {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 100,
         "num_hidden_layers": 2, "vocab_size": 300}""").config();
    assertThat(c.numKvHeads()).isEqualTo(4);
    assertThat(c.headDim()).isEqualTo(16);
    assertThat(c.rope().theta()).isEqualTo(10000.0);
    assertThat(c.rmsNormEps()).isEqualTo(1e-6);
    assertThat(c.tieWordEmbeddings()).isFalse();
    assertThat(c.maxPositions()).isEqualTo(2048);
    assertThat(c.bosTokenId()).isEqualTo(1);
    assertThat(c.eosTokenId()).isEqualTo(2);
    // Qwen2's default of 32 key/value heads (not "as many as query heads") applies when the field is absent.
    LlamaConfig q = parse("{\"model_type\": \"qwen2\", \"hidden_size\": 2048, \"num_attention_heads\": 64}").config();
    assertThat(q.numKvHeads()).isEqualTo(32);
    assertThat(q.vocabSize()).isEqualTo(151936);
    assertThat(q.bosTokenId()).isEqualTo(-1);
  }

  @Test
  void keepsEveryEosIdOfAListAndUsesTheFirst() throws Exception {
    HfModelConfig p = parse("""
        {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "eos_token_id": [128001, 128008, 128009],
         "bos_token_id": 128000, "pad_token_id": 5, "vocab_size": 128256}""");
    assertThat(p.config().eosTokenId()).isEqualTo(128001);
    assertThat(p.eosTokenIds()).containsExactly(128001, 128008, 128009);
    assertThat(p.padTokenId()).isEqualTo(Optional.of(5));
  }

  @Test
  void acceptsMistralWithoutSlidingWindowAndDefaultRopeScaling() throws Exception {
    LlamaConfig c = parse("""
        {"model_type": "mistral", "architectures": ["MistralForCausalLM"], "hidden_size": 64,
         "num_attention_heads": 4, "num_key_value_heads": 2, "sliding_window": null,
         "rope_scaling": {"rope_type": "default"}}""").config();
    assertThat(c.numKvHeads()).isEqualTo(2);
    assertThat(parse("""
        {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
         "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}""").config().rope().theta()).isEqualTo(5e5);
  }

  private void refused(String json, String field, String fragment) {
    assertThatThrownBy(() -> parse(json)).isInstanceOf(ModelFormatException.class)
        .hasMessageStartingWith("config.json: " + field).hasMessageContaining(fragment);
  }

  private static final String BASE = "\"hidden_size\": 64, \"num_attention_heads\": 4";

  @Test
  void refusesUnknownModelType() {
    refused("{\"model_type\": \"gpt2\", " + BASE + "}", "model_type", "'gpt2' is not supported");
    refused("{" + BASE + "}", "model_type", "expected llama, qwen2 or mistral");
  }

  @Test
  void refusesUnknownArchitecture() {
    refused("{\"model_type\": \"llama\", \"architectures\": [\"LlamaForSequenceClassification\"], " + BASE + "}",
        "architectures", "LlamaForSequenceClassification");
  }

  static final String LLAMA32_1B_INSTRUCT = """
      {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
       "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_act": "silu",
       "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 131072,
       "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16,
       "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
       "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                        "original_max_position_embeddings": 8192, "rope_type": "llama3"},
       "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
       "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256}
      """;

  @Test
  void readsLlama3RopeScaling() throws Exception {
    HfModelConfig p = parse(LLAMA32_1B_INSTRUCT);
    assertThat(p.config().rope()).isEqualTo(new Rope(500000, new RopeScaling.Llama3(32, 1, 4, 8192)));
    assertThat(p.config().headDim()).isEqualTo(64);
    assertThat(p.config().tieWordEmbeddings()).isTrue();
    assertThat(p.eosTokenIds()).containsExactly(128001, 128008, 128009);
  }

  @Test
  void readsLinearRopeScalingUnderTheLegacyTypeKey() throws Exception {
    LlamaConfig c = parse("{\"model_type\": \"llama\", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4}, "
        + BASE + "}").config();
    assertThat(c.rope()).isEqualTo(new Rope(10000, new RopeScaling.Linear(4)));
  }

  @Test
  void readsTransformers5RopeParameters() throws Exception {
    LlamaConfig c = parse("""
        {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
         "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}""").config();
    assertThat(c.rope()).isEqualTo(new Rope(500000, new RopeScaling.Llama3(8, 1, 4, 8192)));
    // the same scaling given both ways is accepted
    LlamaConfig both = parse("""
        {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
         "rope_scaling": {"rope_type": "linear", "factor": 2.0},
         "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 20000.0}}""").config();
    assertThat(both.rope()).isEqualTo(new Rope(20000, new RopeScaling.Linear(2)));
  }

  @Test
  void refusesUnsupportedRopeTypesByName() {
    for (String type : List.of("yarn", "dynamic", "longrope", "ntk")) {
      refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"" + type + "\", \"factor\": 4.0}, "
          + BASE + "}", "rope_scaling.rope_type", "'" + type + "' is not supported; supported: default, linear, llama3");
    }
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}, " + BASE + "}",
        "rope_scaling.type", "'dynamic' is not supported");
    refused("{\"model_type\": \"qwen2\", \"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 4.0}, " + BASE + "}",
        "rope_parameters.rope_type", "'yarn' is not supported");
  }

  @Test
  void refusesIncompleteOrInconsistentRopeFields() {
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, "
        + "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}, " + BASE + "}",
        "rope_scaling.low_freq_factor", "is required for rope_type 'llama3'");
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"linear\"}, " + BASE + "}",
        "rope_scaling.factor", "is required for rope_type 'linear'");
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": \"4\"}, " + BASE + "}",
        "rope_scaling.factor", "must be a number");
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": -1}, " + BASE + "}",
        "rope_scaling", "factor must be a finite number > 0");
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4.0, "
        + "\"high_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192}, " + BASE + "}",
        "rope_scaling", "high_freq_factor (1.0) must be greater than low_freq_factor (4.0)");
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"factor\": 8.0}, " + BASE + "}", "rope_scaling", "has no rope_type");
    refused("{\"model_type\": \"llama\", \"rope_scaling\": \"linear\", " + BASE + "}", "rope_scaling", "must be an object");
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}, "
        + "\"rope_parameters\": {\"rope_type\": \"default\"}, " + BASE + "}", "rope_parameters", "but rope_scaling says");
    refused("{\"model_type\": \"llama\", \"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\"}}, " + BASE + "}",
        "rope_parameters.full_attention", "per layer type is not supported");
    refused("{\"model_type\": \"llama\", \"partial_rotary_factor\": 0.5, " + BASE + "}", "partial_rotary_factor", "whole head");
  }

  @Test
  void nullBosTokenIdMeansNoneWhileAbsentTakesTheDefault() throws Exception {
    assertThat(parse("{\"model_type\": \"llama\", \"bos_token_id\": null, " + BASE + "}").config().bosTokenId()).isEqualTo(-1);
    assertThat(parse("{\"model_type\": \"mistral\", \"sliding_window\": null, \"num_key_value_heads\": 2, \"bos_token_id\": null, " + BASE + "}")
        .config().bosTokenId()).isEqualTo(-1);
    assertThat(parse("{\"model_type\": \"llama\", " + BASE + "}").config().bosTokenId()).isEqualTo(1);
    HfModelConfig noEos = parse("{\"model_type\": \"llama\", \"eos_token_id\": null, " + BASE + "}");
    assertThat(noEos.config().eosTokenId()).isEqualTo(-1);
    assertThat(noEos.eosTokenIds()).isEmpty();
    refused("{\"model_type\": \"llama\", \"bos_token_id\": -3, " + BASE + "}", "bos_token_id", "non-negative integer");
  }

  @Test
  void refusesActiveSlidingWindow() {
    refused("{\"model_type\": \"qwen2\", \"use_sliding_window\": true, " + BASE + "}", "use_sliding_window", "full attention");
    refused("{\"model_type\": \"mistral\", \"sliding_window\": 4096, " + BASE + "}", "sliding_window", "4096 is active");
    refused("{\"model_type\": \"mistral\", " + BASE + "}", "sliding_window", "4096 is active");
    refused("{\"model_type\": \"qwen2\", \"layer_types\": [\"full_attention\", \"sliding_attention\"], " + BASE + "}",
        "layer_types", "sliding_attention");
  }

  @Test
  void refusesOtherActivations() {
    refused("{\"model_type\": \"llama\", \"hidden_act\": \"gelu\", " + BASE + "}", "hidden_act", "'gelu'");
  }

  @Test
  void refusesMlpBias() {
    refused("{\"model_type\": \"llama\", \"mlp_bias\": true, " + BASE + "}", "mlp_bias", "no bias");
  }

  @Test
  void refusesLlamaAttentionBiasWhichIncludesOutputBias() {
    refused("{\"model_type\": \"llama\", \"attention_bias\": true, " + BASE + "}", "attention_bias", "q/k/v/o");
  }

  @Test
  void refusesQuantisedCheckpoints() {
    refused("{\"model_type\": \"llama\", \"quantization_config\": {\"quant_method\": \"gptq\"}, " + BASE + "}",
        "quantization_config", "quantised");
  }

  @Test
  void refusesFieldsOfTheWrongTypeOrInconsistentShapes() {
    refused("{\"model_type\": \"llama\", \"hidden_size\": \"64\", \"num_attention_heads\": 4}", "hidden_size", "integer");
    refused("{\"model_type\": \"llama\", \"hidden_size\": 66, \"num_attention_heads\": 4}", "head_dim", "not a multiple");
    refused("{\"model_type\": \"llama\", \"num_key_value_heads\": 3, " + BASE + "}", "num_attention_heads", "multiple");
    refused("{\"model_type\": \"llama\", \"eos_token_id\": [1, \"x\"], " + BASE + "}", "eos_token_id", "non-integer");
    refused("{\"model_type\": \"llama\", \"tie_word_embeddings\": 1, " + BASE + "}", "tie_word_embeddings", "true or false");
  }

  @Test
  void writesConfigThatReadsBackIdentically() throws Exception {
    LlamaConfig c = new LlamaConfig(259, 64, 172, 4, 4, 2, 16, 512, 1e-5, 10000, true, false, 256, 257);
    Path f = dir.resolve("config.json");
    HfConfigJson.write(f, c, "float32");
    HfModelConfig back = HfConfigJson.readDetailed(f);
    assertThat(back.config()).isEqualTo(c);
    assertThat(back.modelType()).isEqualTo("llama");
    LlamaConfig q = new LlamaConfig(300, 64, 100, 2, 4, 2, 16, 256, 1e-6, 1e6, false, true, -1, 7);
    HfConfigJson.write(f, q, "bfloat16");
    assertThat(HfConfigJson.read(f)).isEqualTo(q);
    ObjectNode json = HfConfigJson.toJson(q, "bfloat16");
    assertThat(json.get("model_type").asText()).isEqualTo("qwen2");
    assertThat(json.get("architectures").get(0).asText()).isEqualTo("Qwen2ForCausalLM");
    assertThat(List.of(json.get("bos_token_id").isNull(), json.get("use_sliding_window").asBoolean())).containsExactly(true, false);
    LlamaConfig noBos = new LlamaConfig(259, 64, 172, 4, 4, 2, 16, 512, 1e-5, 10000, true, false, -1, 257);
    HfConfigJson.write(f, noBos, "float32");
    assertThat(HfConfigJson.read(f)).isEqualTo(noBos);
  }

  @Test
  void writesRopeScalingThatReadsBackIdentically() throws Exception {
    Path f = dir.resolve("config.json");
    for (RopeScaling s : List.of(new RopeScaling.Llama3(32, 1, 4, 8192), new RopeScaling.Linear(4))) {
      LlamaConfig c = new LlamaConfig(259, 64, 172, 2, 4, 2, 16, 131072, 1e-5, new Rope(500000, s), true, false, 256, 257);
      HfConfigJson.write(f, c, "bfloat16");
      assertThat(HfConfigJson.read(f)).isEqualTo(c);
      assertThat(HfConfigJson.toJson(c, "bfloat16").get("rope_scaling").get("rope_type").asText()).isEqualTo(s.type());
    }
    assertThat(HfConfigJson.toJson(new LlamaConfig(259, 64, 172, 2, 4, 2, 16, 512, 1e-5, 1e4, true, false, 256, 257),
        "float32").get("rope_scaling").isNull()).isTrue();
  }
}
