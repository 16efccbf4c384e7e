package io.prefstream.model.io;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.Tokenizer;
import java.util.Map;

/**
 * A loaded Hugging Face model directory: the parsed config, every weight by HF name (checked
 * against {@link LlamaWeights#expectedShapes}; no lm_head when tied), the tokenizer and the
 * generation defaults of {@code generation_config.json} (or of config.json when that file is
 * absent). The RoPE, scaling included, is {@code config().rope()}. Closing releases the tokenizer's
 * native handle.
 */
public record HfModel(HfModelConfig hfConfig, Map<String, NamedTensor> weights, Tokenizer tokenizer,
    GenerationDefaults generationDefaults) implements AutoCloseable {
  public HfModel {
    weights = Map.copyOf(weights);
  }

  /**
   * The ids that end a generated reply: the tokenizer's EOS and every {@code eos_token_id} of
   * generation_config.json (else config.json), as transformers' generate stops at any of them.
   */
  public java.util.Set<Integer> stopTokenIds() {
    java.util.Set<Integer> ids = new java.util.LinkedHashSet<>(generationDefaults.eosTokenIds());
    tokenizer.eosId().ifPresent(ids::add);
    return java.util.Set.copyOf(ids);
  }

  public LlamaConfig config() {
    return hfConfig.config();
  }

  /** A weight by HF name; throws naming it when absent. */
  public NamedTensor weight(String name) {
    NamedTensor t = weights.get(name);
    if (t == null) throw new IllegalArgumentException("no weight named '" + name + "'");
    return t;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
