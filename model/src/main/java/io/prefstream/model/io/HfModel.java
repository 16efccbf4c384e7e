package io.prefstream.model.io;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.Tokenizer;
import java.util.Map;

/**
 * A loaded Hugging Face model directory: the parsed config, every weight by HF name (checked
 * against {@link LlamaWeights#expectedShapes}; no lm_head when tied) and the tokenizer. Closing
 * releases the tokenizer's native handle.
 */
public record HfModel(HfModelConfig hfConfig, Map<String, NamedTensor> weights, Tokenizer tokenizer)
    implements AutoCloseable {
  public HfModel {
    weights = Map.copyOf(weights);
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
