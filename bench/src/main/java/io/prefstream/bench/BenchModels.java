package io.prefstream.bench;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.tensor.NamedTensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Model shapes, random weights and batches shared by the JMH benchmarks and {@link ModelBench}. */
public final class BenchModels {
  private BenchModels() {}

  /** SmolLM2-135M's shape: hidden 576, 30 layers, 9 heads (3 kv), MLP 1536, vocab 49152, tied. */
  public static LlamaConfig smol135m() {
    return new LlamaConfig(49152, 576, 1536, 30, 9, 3, 64, 8192, 1e-5, 100000.0, true, false, 1, 2);
  }

  public static LlamaConfig byName(String preset) {
    return switch (preset) {
      case "tiny" -> ModelPresets.tiny();
      case "small" -> ModelPresets.small();
      case "smollm2-135m" -> smol135m();
      default -> throw new IllegalArgumentException("unknown preset '" + preset + "'; expected tiny, small or smollm2-135m");
    };
  }

  /** The LoRA setting of the PyTorch peer: r=16, alpha 32, every projection. */
  public static LoraConfig lora() {
    return new LoraConfig(16, 32, LoraConfig.ALL_TARGETS, 0);
  }

  /** Random weights (uniform, std ~0.02 for matrices, norms at 1) under Hugging Face names. */
  public static Map<String, NamedTensor> randomWeights(LlamaConfig c, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    Map<String, NamedTensor> m = new LinkedHashMap<>();
    int h = c.hiddenSize(), qd = c.numHeads() * c.headDim(), kd = c.numKvHeads() * c.headDim(), f = c.intermediateSize();
    put(m, r, "model.embed_tokens.weight", 0.02, c.vocabSize(), h);
    for (int l = 0; l < c.numLayers(); l++) {
      String p = "model.layers." + l + ".";
      ones(m, p + "input_layernorm.weight", h);
      ones(m, p + "post_attention_layernorm.weight", h);
      put(m, r, p + "self_attn.q_proj.weight", 0.02, qd, h);
      put(m, r, p + "self_attn.k_proj.weight", 0.02, kd, h);
      put(m, r, p + "self_attn.v_proj.weight", 0.02, kd, h);
      put(m, r, p + "self_attn.o_proj.weight", 0.02, h, qd);
      put(m, r, p + "mlp.gate_proj.weight", 0.02, f, h);
      put(m, r, p + "mlp.up_proj.weight", 0.02, f, h);
      put(m, r, p + "mlp.down_proj.weight", 0.02, h, f);
    }
    ones(m, "model.norm.weight", h);
    if (!c.tieWordEmbeddings()) put(m, r, "lm_head.weight", 0.02, c.vocabSize(), h);
    return m;
  }

  private static void put(Map<String, NamedTensor> m, SplittableRandom r, String name, double std, int... shape) {
    int n = 1;
    for (int d : shape) n *= d;
    float[] a = new float[n];
    double scale = std * Math.sqrt(3);
    for (int i = 0; i < n; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
    m.put(name, new NamedTensor(name, shape, a));
  }

  private static void ones(Map<String, NamedTensor> m, String name, int n) {
    float[] a = new float[n];
    java.util.Arrays.fill(a, 1f);
    m.put(name, new NamedTensor(name, new int[] {n}, a));
  }

  /** {@code batch} sequences of {@code seq} random tokens: one prompt token, the rest scored. */
  public static List<PromptResponse> batch(LlamaConfig c, int batch, int seq, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    List<PromptResponse> out = new ArrayList<>();
    for (int b = 0; b < batch; b++) {
      int[] resp = new int[seq - 1];
      for (int i = 0; i < resp.length; i++) resp[i] = r.nextInt(c.vocabSize());
      out.add(new PromptResponse(new int[] {r.nextInt(c.vocabSize())}, resp));
    }
    return out;
  }
}
