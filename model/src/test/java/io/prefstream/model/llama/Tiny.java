package io.prefstream.model.llama;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.tensor.NamedTensor;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Tiny configs and random weights for tests. */
public final class Tiny {
  private Tiny() {}

  /** C=16, 2 layers, 4 heads, 2 kv heads, head dim 4, MLP 24, vocab 37, tied. */
  public static LlamaConfig tied() {
    return new LlamaConfig(37, 16, 24, 2, 4, 2, 4, 64, 1e-5, 10000.0, true, false, 1, 2);
  }

  /** Qwen2-like: untied head and q/k/v biases, head dim 8 (2 heads of 8 = 16), 1 kv head. */
  public static LlamaConfig untiedWithBias() {
    return new LlamaConfig(41, 16, 20, 2, 2, 1, 8, 64, 1e-6, 500.0, false, true, 1, 2);
  }

  public static Map<String, NamedTensor> weights(LlamaConfig c, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    Map<String, NamedTensor> m = new LinkedHashMap<>();
    int C = c.hiddenSize(), qd = c.numHeads() * c.headDim(), kd = c.numKvHeads() * c.headDim(), F = c.intermediateSize();
    put(m, r, "model.embed_tokens.weight", 1.0, 0, c.vocabSize(), C);
    for (int l = 0; l < c.numLayers(); l++) {
      String p = "model.layers." + l + ".";
      put(m, r, p + "input_layernorm.weight", 0.2, 1, C);
      put(m, r, p + "post_attention_layernorm.weight", 0.2, 1, C);
      put(m, r, p + "self_attn.q_proj.weight", 1 / Math.sqrt(C), 0, qd, C);
      put(m, r, p + "self_attn.k_proj.weight", 1 / Math.sqrt(C), 0, kd, C);
      put(m, r, p + "self_attn.v_proj.weight", 1 / Math.sqrt(C), 0, kd, C);
      if (c.attentionBias()) {
        put(m, r, p + "self_attn.q_proj.bias", 0.1, 0, qd);
        put(m, r, p + "self_attn.k_proj.bias", 0.1, 0, kd);
        put(m, r, p + "self_attn.v_proj.bias", 0.1, 0, kd);
      }
      put(m, r, p + "self_attn.o_proj.weight", 1 / Math.sqrt(qd), 0, C, qd);
      put(m, r, p + "mlp.gate_proj.weight", 1 / Math.sqrt(C), 0, F, C);
      put(m, r, p + "mlp.up_proj.weight", 1 / Math.sqrt(C), 0, F, C);
      put(m, r, p + "mlp.down_proj.weight", 1 / Math.sqrt(F), 0, C, F);
    }
    put(m, r, "model.norm.weight", 0.2, 1, C);
    if (!c.tieWordEmbeddings()) put(m, r, "lm_head.weight", 1 / Math.sqrt(C), 0, c.vocabSize(), C);
    return m;
  }

  private static void put(Map<String, NamedTensor> m, SplittableRandom r, String name, double scale, double mean, int... shape) {
    int n = 1;
    for (int d : shape) n *= d;
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (mean + scale * (r.nextDouble() * 2 - 1) * Math.sqrt(3));
    m.put(name, new NamedTensor(name, shape, a));
  }

  /** Double copies of float tensors (HF names) plus an adapter's tensors (PEFT names). */
  public static Map<String, double[]> toDouble(Map<String, NamedTensor> weights, LoraAdapter lora) {
    Map<String, double[]> d = new HashMap<>();
    weights.forEach((k, v) -> d.put(k, Ref.toDouble(v.data())));
    if (lora != null) lora.toTensors().forEach((k, v) -> d.put(k, Ref.toDouble(v.data())));
    return d;
  }

  /** A batch of three sequences of different prompt and response lengths. */
  public static List<PromptResponse> batch(int vocab, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    return List.of(
        new PromptResponse(tokens(r, vocab, 3), tokens(r, vocab, 4)),
        new PromptResponse(tokens(r, vocab, 1), tokens(r, vocab, 6)),
        new PromptResponse(tokens(r, vocab, 5), tokens(r, vocab, 2)));
  }

  public static int[] tokens(SplittableRandom r, int vocab, int n) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
    return t;
  }
}
