package io.prefstream.serving.registry;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * The base weights every policy version starts from, with their tokenizer and the compute backend.
 * Versions are built from these host tensors (a LoRA adapter on top, or full weights in their
 * place); the base itself is served as version 0 and is the reference "base".
 *
 * @param dir       the Hugging Face model directory it was read from
 * @param config    the architecture
 * @param weights   host copies of the weights by Hugging Face name (read-only by convention)
 * @param tokenizer the model's tokenizer (thread-safe for encode/decode)
 * @param backend   where versions compute
 * @param stopTokenIds the ids that end a reply ({@link HfModel#stopTokenIds()})
 */
public record BaseModel(Path dir, LlamaConfig config, Map<String, NamedTensor> weights, Tokenizer tokenizer, Backend backend,
    java.util.Set<Integer> stopTokenIds) {
  public BaseModel {
    Objects.requireNonNull(dir, "dir");
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(weights, "weights");
    Objects.requireNonNull(tokenizer, "tokenizer");
    Objects.requireNonNull(backend, "backend");
  }

  /** Loads a Hugging Face model directory (config.json, safetensors, tokenizer.json). */
  public static BaseModel load(Path dir, Backend backend) throws IOException {
    HfModel m = HfModelDir.load(dir);
    return new BaseModel(dir, m.config(), m.weights(), m.tokenizer(), backend, m.stopTokenIds());
  }

  /** One id generation stops at (the tokenizer's EOS, else the first of {@link #stopTokenIds}); -1 for none. */
  public int eosTokenId() {
    return tokenizer.eosId().orElse(stopTokenIds.stream().findFirst().orElse(-1));
  }
}
