package io.prefstream.model.peft;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.io.ModelFormatException;
import org.junit.jupiter.api.Test;

/** PEFT's saved tensor keys (utils/save_and_load.py) parsed, and the unsupported ones refused by name. */
class PeftKeysTest {
  private static void refused(String key, String fragment) {
    assertThatThrownBy(() -> PeftKeys.parse(key, true, "w")).isInstanceOf(ModelFormatException.class)
        .hasMessageStartingWith("w: tensor '" + key + "'").hasMessageContaining(fragment);
  }

  @Test
  void readsPeftsSavedKeyAndTheDefaultAdapterNameSpelling() throws Exception {
    PeftKeys.Factor saved = PeftKeys.parse("base_model.model.model.layers.2.mlp.down_proj.lora_B.weight", false, "w");
    assertThat(saved).isEqualTo(new PeftKeys.Factor(2, "down_proj", 'B'));
    PeftKeys.Factor raw = PeftKeys.parse("base_model.model.model.layers.2.mlp.down_proj.lora_B.default.weight", true, "w");
    assertThat(raw).isEqualTo(saved);
    assertThat(raw.name()).isEqualTo("base_model.model.model.layers.2.mlp.down_proj.lora_B.weight");
    assertThat(raw.modulePath()).isEqualTo("model.layers.2.mlp.down_proj");
  }

  @Test
  void refusesAdapterNamesWhereOnlySavedKeysBelong() {
    assertThatThrownBy(() -> PeftKeys.parse("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
        false, "w")).hasMessageContaining("is not a PEFT LoRA key");
    refused("base_model.model.model.layers.0.self_attn.q_proj.lora_A.other.weight", "is not a PEFT LoRA key");
    refused("model.layers.0.self_attn.q_proj.lora_A.weight", "is not a PEFT LoRA key");
  }

  @Test
  void refusesUnsupportedFeaturesByWhatTheyAre() {
    refused("base_model.model.model.embed_tokens.lora_embedding_A", "LoRA on an embedding (lora_embedding_A/B)");
    refused("base_model.model.model.embed_tokens.lora_embedding_B", "LoRA on an embedding (lora_embedding_A/B)");
    refused("base_model.model.lm_head.lora_A.weight", "LoRA on lm_head");
    refused("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", "DoRA");
    refused("base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias", "LoRA bias (lora_bias)");
    refused("base_model.model.model.layers.0.self_attn.c_proj.lora_A.weight", "not a Llama decoder projection");
    refused("base_model.model.model.layers.0.mlp.q_proj.lora_A.weight", "puts q_proj under mlp");
  }
}
