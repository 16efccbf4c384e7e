package io.prefstream.model.io;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.RopeScaling;
import io.prefstream.model.safetensors.HandWrittenSafetensors;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.ByteLevelTokenizerFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a model directory the way transformers lays one out, without the production writer: the
 * config.json text is formatted here, the tensor names are spelled out here in HF's order, and the
 * safetensors bytes come from {@link HandWrittenSafetensors}. Values are rounded onto the bf16 grid
 * so the same numbers can be stored as BF16 or F32. For cross tests (loader vs. direct computation).
 */
public final class HandWrittenModelDir {
  private HandWrittenModelDir() {}

  /** The tensors, named and shaped as HF's LlamaForCausalLM / Qwen2ForCausalLM state dict. */
  public static Map<String, NamedTensor> tensors(LlamaConfig c, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int h = c.hiddenSize();
    int q = c.numHeads() * c.headDim();
    int kv = c.numKvHeads() * c.headDim();
    int f = c.intermediateSize();
    Map<String, NamedTensor> m = new LinkedHashMap<>();
    put(m, r, "model.embed_tokens.weight", 0.5, c.vocabSize(), h);
    for (int i = 0; i < c.numLayers(); i++) {
      String p = "model.layers." + i + ".";
      put(m, r, p + "input_layernorm.weight", -1, h);
      put(m, r, p + "self_attn.q_proj.weight", 0.2, q, h);
      put(m, r, p + "self_attn.k_proj.weight", 0.2, kv, h);
      put(m, r, p + "self_attn.v_proj.weight", 0.2, kv, h);
      if (c.attentionBias()) {
        put(m, r, p + "self_attn.q_proj.bias", 0.1, q);
        put(m, r, p + "self_attn.k_proj.bias", 0.1, kv);
        put(m, r, p + "self_attn.v_proj.bias", 0.1, kv);
      }
      put(m, r, p + "self_attn.o_proj.weight", 0.2, h, q);
      put(m, r, p + "mlp.gate_proj.weight", 0.2, f, h);
      put(m, r, p + "mlp.up_proj.weight", 0.2, f, h);
      put(m, r, p + "mlp.down_proj.weight", 0.2, h, f);
      put(m, r, p + "post_attention_layernorm.weight", -1, h);
    }
    put(m, r, "model.norm.weight", -1, h);
    if (!c.tieWordEmbeddings()) put(m, r, "lm_head.weight", 0.2, c.vocabSize(), h);
    return m;
  }

  /** std < 0 means a norm weight: 1 + small noise, so a wrong index still shows. */
  private static void put(Map<String, NamedTensor> m, SplittableRandom r, String name, double std, int... shape) {
    int n = 1;
    for (int d : shape) n *= d;
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      double x = std < 0 ? 1 + 0.1 * r.nextGaussian() : std * r.nextGaussian();
      v[i] = Float.intBitsToFloat(Float.floatToIntBits((float) x) & 0xFFFF0000); // on the bf16 grid
    }
    m.put(name, new NamedTensor(name, shape, v));
  }

  /** config.json as transformers writes it for these fields. */
  public static String configJson(LlamaConfig c) {
    if (!c.rope().scaling().equals(RopeScaling.NONE)) {
      throw new IllegalArgumentException("writes unscaled RoPE only (rope_scaling null), got " + c.rope().scaling());
    }
    boolean qwen = c.attentionBias();
    return String.format(Locale.ROOT, """
        {
          "architectures": ["%s"],
          "model_type": "%s",
          "hidden_act": "silu",
          "hidden_size": %d,
          "intermediate_size": %d,
          "num_hidden_layers": %d,
          "num_attention_heads": %d,
          "num_key_value_heads": %d,
          "head_dim": %d,
          "max_position_embeddings": %d,
          "rms_norm_eps": %s,
          "rope_theta": %s,
          "rope_scaling": null,
          "tie_word_embeddings": %b,
          "vocab_size": %d,
          "bos_token_id": %d,
          "eos_token_id": %d,
          "torch_dtype": "bfloat16"
        }
        """, qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM", qwen ? "qwen2" : "llama", c.hiddenSize(),
        c.intermediateSize(), c.numLayers(), c.numHeads(), c.numKvHeads(), c.headDim(), c.maxPositions(),
        Double.toString(c.rmsNormEps()), Double.toString(c.rope().theta()), c.tieWordEmbeddings(), c.vocabSize(),
        c.bosTokenId(), c.eosTokenId());
  }

  /**
   * Writes config.json, the byte-level tokenizer and {@code model.safetensors} (BF16, or F32 when
   * {@code bf16} is false) into {@code dir}; returns the tensors written.
   */
  public static Map<String, NamedTensor> write(Path dir, LlamaConfig c, long seed, boolean bf16) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("config.json"), configJson(c));
    ByteLevelTokenizerFiles.write(dir, List.of(), c.maxPositions());
    Map<String, NamedTensor> tensors = tensors(c, seed);
    HandWrittenSafetensors st = new HandWrittenSafetensors().metadata("format", "pt");
    for (NamedTensor t : tensors.values()) {
      if (bf16) st.bf16Truncated(t.name(), t.shape(), t.data());
      else st.f32(t.name(), t.shape(), t.data());
    }
    st.writeTo(dir.resolve("model.safetensors"));
    return tensors;
  }

  /** Like {@link #write} but split into two BF16 shards behind model.safetensors.index.json. */
  public static Map<String, NamedTensor> writeSharded(Path dir, LlamaConfig c, long seed) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("config.json"), configJson(c));
    ByteLevelTokenizerFiles.write(dir, List.of(), c.maxPositions());
    Map<String, NamedTensor> tensors = tensors(c, seed);
    List<NamedTensor> all = new ArrayList<>(tensors.values());
    int half = all.size() / 2;
    StringBuilder map = new StringBuilder();
    for (int s = 0; s < 2; s++) {
      String file = "model-0000" + (s + 1) + "-of-00002.safetensors";
      HandWrittenSafetensors st = new HandWrittenSafetensors().metadata("format", "pt");
      for (NamedTensor t : s == 0 ? all.subList(0, half) : all.subList(half, all.size())) {
        st.bf16Truncated(t.name(), t.shape(), t.data());
        if (!map.isEmpty()) map.append(",\n");
        map.append("    \"").append(t.name()).append("\": \"").append(file).append('"');
      }
      st.writeTo(dir.resolve(file));
    }
    Files.writeString(dir.resolve("model.safetensors.index.json"),
        "{\n  \"metadata\": {\"total_size\": 0},\n  \"weight_map\": {\n" + map + "\n  }\n}\n");
    return tensors;
  }
}
