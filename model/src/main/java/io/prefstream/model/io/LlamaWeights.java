package io.prefstream.model.io;

import io.prefstream.model.config.LlamaConfig;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tensors a Llama-architecture checkpoint holds, by Hugging Face name, with their shapes
 * (linear weights [out, in] as PyTorch stores them). The single source of truth for the loader,
 * the writer and the random initialiser.
 */
public final class LlamaWeights {
  public static final String EMBED = "model.embed_tokens.weight";
  public static final String FINAL_NORM = "model.norm.weight";
  public static final String LM_HEAD = "lm_head.weight";

  private LlamaWeights() {}

  /** {@code model.layers.<layer>.<suffix>}, e.g. layer(3, "self_attn.q_proj.weight"). */
  public static String layer(int layer, String suffix) {
    return "model.layers." + layer + "." + suffix;
  }

  /** Expected names and shapes, in HF's order: embeddings, each layer, final norm, lm_head unless tied. */
  public static Map<String, int[]> expectedShapes(LlamaConfig c) {
    int hidden = c.hiddenSize();
    int q = c.numHeads() * c.headDim();
    int kv = c.numKvHeads() * c.headDim();
    int inter = c.intermediateSize();
    Map<String, int[]> m = new LinkedHashMap<>();
    m.put(EMBED, new int[] {c.vocabSize(), hidden});
    for (int i = 0; i < c.numLayers(); i++) {
      m.put(layer(i, "input_layernorm.weight"), new int[] {hidden});
      m.put(layer(i, "self_attn.q_proj.weight"), new int[] {q, hidden});
      m.put(layer(i, "self_attn.k_proj.weight"), new int[] {kv, hidden});
      m.put(layer(i, "self_attn.v_proj.weight"), new int[] {kv, hidden});
      if (c.attentionBias()) {
        m.put(layer(i, "self_attn.q_proj.bias"), new int[] {q});
        m.put(layer(i, "self_attn.k_proj.bias"), new int[] {kv});
        m.put(layer(i, "self_attn.v_proj.bias"), new int[] {kv});
      }
      m.put(layer(i, "self_attn.o_proj.weight"), new int[] {hidden, q});
      m.put(layer(i, "post_attention_layernorm.weight"), new int[] {hidden});
      m.put(layer(i, "mlp.gate_proj.weight"), new int[] {inter, hidden});
      m.put(layer(i, "mlp.up_proj.weight"), new int[] {inter, hidden});
      m.put(layer(i, "mlp.down_proj.weight"), new int[] {hidden, inter});
    }
    m.put(FINAL_NORM, new int[] {hidden});
    if (!c.tieWordEmbeddings()) m.put(LM_HEAD, new int[] {c.vocabSize(), hidden});
    return m;
  }

  /** [out, in] of a LoRA-targetable projection ("q_proj" … "down_proj"). */
  public static int[] projectionShape(LlamaConfig c, String module) {
    int hidden = c.hiddenSize();
    int q = c.numHeads() * c.headDim();
    int kv = c.numKvHeads() * c.headDim();
    int inter = c.intermediateSize();
    return switch (module) {
      case "q_proj" -> new int[] {q, hidden};
      case "k_proj", "v_proj" -> new int[] {kv, hidden};
      case "o_proj" -> new int[] {hidden, q};
      case "gate_proj", "up_proj" -> new int[] {inter, hidden};
      case "down_proj" -> new int[] {hidden, inter};
      default -> throw new IllegalArgumentException("not a Llama projection: '" + module + "'");
    };
  }

  /** The submodule path of a projection: "self_attn" for q/k/v/o, "mlp" for gate/up/down. */
  public static String projectionParent(String module) {
    return switch (module) {
      case "q_proj", "k_proj", "v_proj", "o_proj" -> "self_attn";
      case "gate_proj", "up_proj", "down_proj" -> "mlp";
      default -> throw new IllegalArgumentException("not a Llama projection: '" + module + "'");
    };
  }

  /** Total parameter count (lm_head counted once when tied). */
  public static long parameterCount(LlamaConfig c) {
    long n = 0;
    for (int[] s : expectedShapes(c).values()) n += Arrays.stream(s).asLongStream().reduce(1, (a, b) -> a * b);
    return n;
  }
}
