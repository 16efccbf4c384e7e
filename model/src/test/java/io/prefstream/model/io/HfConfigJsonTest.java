package io.prefstream.model.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.config.LlamaConfig;
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
    assertThat(c.ropeTheta()).isEqualTo(1e6);
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
    assertThat(c.ropeTheta()).isEqualTo(10000.0);
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
         "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}""").config().ropeTheta()).isEqualTo(5e5);
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

  @Test
  void refusesRopeScaling() {
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}, " + BASE + "}",
        "rope_scaling", "only unscaled RoPE");
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}, " + BASE + "}",
        "rope_scaling", "linear");
    refused("{\"model_type\": \"llama\", \"rope_parameters\": {\"rope_type\": \"yarn\"}, " + BASE + "}",
        "rope_parameters", "yarn");
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
  }
}
