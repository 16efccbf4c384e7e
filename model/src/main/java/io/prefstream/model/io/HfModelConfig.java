package io.prefstream.model.io;

import io.prefstream.model.config.LlamaConfig;
import java.util.List;
import java.util.Optional;

/**
 * A parsed {@code config.json}: the architecture as {@link LlamaConfig} plus what the record has no
 * room for. {@code eosTokenIds} holds every end-of-sequence id the file lists (Llama 3 style configs
 * give a list; {@code config().eosTokenId()} is its first element).
 *
 * @param config      the architecture
 * @param modelType   {@code model_type}: llama, qwen2 or mistral
 * @param eosTokenIds all {@code eos_token_id} values, empty when absent
 * @param padTokenId  {@code pad_token_id} when given
 * @param torchDtype  {@code torch_dtype} (or {@code dtype}) when given, e.g. "bfloat16"
 */
public record HfModelConfig(LlamaConfig config, String modelType, List<Integer> eosTokenIds,
    Optional<Integer> padTokenId, Optional<String> torchDtype) {
  public HfModelConfig {
    eosTokenIds = List.copyOf(eosTokenIds);
  }
}
