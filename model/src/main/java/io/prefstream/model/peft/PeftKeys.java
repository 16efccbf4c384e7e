package io.prefstream.model.peft;

import io.prefstream.model.io.LlamaWeights;
import io.prefstream.model.io.ModelFormatException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The tensor keys of PEFT's {@code adapter_model.safetensors} for LoRA on a causal Llama:
 * {@code base_model.model.} (PeftModelForCausalLM wrapping LoraModel) + the base module path +
 * {@code .lora_A.weight} ([r, in]) or {@code .lora_B.weight} ([out, r]). PEFT removes the adapter
 * name on save; a raw state dict keeps it ({@code .lora_A.default.weight}), and reading accepts that
 * one spelling. Keys of features this project does not compute are refused by what they are:
 * embedding LoRA ({@code lora_embedding_A/B}), {@code lm_head}, DoRA's
 * {@code lora_magnitude_vector}, a LoRA bias ({@code lora_B.bias}).
 */
final class PeftKeys {
  private static final Pattern FACTOR = Pattern.compile(
      "base_model\\.model\\.model\\.layers\\.(\\d+)\\.(\\w+)\\.(\\w+)\\.lora_([AB])(\\.default)?\\.weight");
  private static final String EXPECTED =
      " (expected base_model.model.model.layers.<i>.<self_attn|mlp>.<q|k|v|o|gate|up|down>_proj.lora_<A|B>.weight)";

  private PeftKeys() {}

  /** One LoRA factor of one projection; {@link #name()} is its key without an adapter name. */
  record Factor(int layer, String projection, char which) {
    String name() {
      return which == 'A' ? PeftAdapter.loraA(layer, projection) : PeftAdapter.loraB(layer, projection);
    }

    String modulePath() {
      return LlamaModuleNames.projectionPath(layer, projection);
    }
  }

  /**
   * Parses a key; {@code withAdapterName} also accepts the {@code .default} spelling. Throws naming
   * the key and, for a known unsupported feature, the feature.
   */
  static Factor parse(String key, boolean withAdapterName, String where) throws ModelFormatException {
    Matcher m = FACTOR.matcher(key);
    if (!m.matches() || (m.group(5) != null && !withAdapterName)) throw new ModelFormatException(where + ": " + why(key));
    String projection = m.group(3);
    if (!LlamaModuleNames.PROJECTIONS.contains(projection)) {
      throw new ModelFormatException(where + ": tensor '" + key + "' adapts '" + projection
          + "', which is not a Llama decoder projection; expected one of " + LlamaModuleNames.PROJECTIONS);
    }
    String parent = m.group(2);
    if (!LlamaWeights.projectionParent(projection).equals(parent)) {
      throw new ModelFormatException(where + ": tensor '" + key + "' puts " + projection + " under " + parent);
    }
    return new Factor(Integer.parseInt(m.group(1)), projection, m.group(4).charAt(0));
  }

  private static String why(String key) {
    if (key.contains("lora_embedding_A") || key.contains("lora_embedding_B")) {
      return "tensor '" + key + "' is LoRA on an embedding (lora_embedding_A/B), which is not supported;"
          + " only the decoder projections q/k/v/o/gate/up/down_proj";
    }
    if (key.startsWith(PeftAdapters.PREFIX + LlamaModuleNames.LM_HEAD + ".")) {
      return "tensor '" + key + "' is LoRA on lm_head, which is not supported;"
          + " only the decoder projections q/k/v/o/gate/up/down_proj";
    }
    if (key.contains("lora_magnitude_vector")) {
      return "tensor '" + key + "' is DoRA's magnitude (use_dora), which is not supported; only plain LoRA";
    }
    if (key.matches(".*\\.lora_[AB](\\.\\w+)?\\.bias")) {
      return "tensor '" + key + "' is a LoRA bias (lora_bias), which is not supported; only the A and B weights";
    }
    return "tensor '" + key + "' is not a PEFT LoRA key for a Llama decoder projection" + EXPECTED;
  }
}
