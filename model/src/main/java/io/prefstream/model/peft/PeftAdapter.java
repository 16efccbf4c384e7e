package io.prefstream.model.peft;

import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.tensor.NamedTensor;
import java.util.Map;
import java.util.Optional;

/**
 * A LoRA adapter in PEFT's terms: hyper-parameters plus the A and B matrices of every adapted
 * projection. Tensor names are the keys of PEFT's {@code adapter_model.safetensors}, e.g.
 * {@code base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight} ([r, in]) and
 * {@code ...lora_B.weight} ([out, r]) (no adapter-name segment), as
 * {@code io.prefstream.model.lora.LoraAdapter} expects them.
 *
 * @param config                 rank, alpha, targets, dropout (scaling = alpha / r; an rsLoRA adapter
 *                               read from PEFT has its alpha folded so that this gives alpha/sqrt(r))
 * @param tensors                A and B matrices by name
 * @param baseModelNameOrPath    {@code base_model_name_or_path}, when known
 */
public record PeftAdapter(LoraConfig config, Map<String, NamedTensor> tensors, Optional<String> baseModelNameOrPath) {
  public PeftAdapter {
    tensors = Map.copyOf(tensors);
  }

  /** {@code base_model.model.model.layers.<layer>.<self_attn|mlp>.<module>.lora_A.weight}. */
  public static String loraA(int layer, String module) {
    return PeftAdapters.PREFIX + modulePath(layer, module) + ".lora_A.weight";
  }

  /** {@code base_model.model.model.layers.<layer>.<self_attn|mlp>.<module>.lora_B.weight}. */
  public static String loraB(int layer, String module) {
    return PeftAdapters.PREFIX + modulePath(layer, module) + ".lora_B.weight";
  }

  /** {@code model.layers.<layer>.<self_attn|mlp>.<module>}: the base model's module path. */
  public static String modulePath(int layer, String module) {
    return LlamaModuleNames.projectionPath(layer, module);
  }

  /** A tensor by name; throws naming it when absent. */
  public NamedTensor tensor(String name) {
    NamedTensor t = tensors.get(name);
    if (t == null) throw new IllegalArgumentException("adapter has no tensor '" + name + "'");
    return t;
  }
}
