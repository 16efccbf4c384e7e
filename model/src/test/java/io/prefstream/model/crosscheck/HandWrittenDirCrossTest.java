package io.prefstream.model.crosscheck;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HandWrittenModelDir;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.llama.KvCache;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.ByteLevelTokenizerFiles;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cross test of the whole load path: a model directory written by an independent implementation
 * ({@link HandWrittenModelDir}: its own config.json text, HF tensor names and safetensors bytes) is
 * loaded through {@link HfModelDir} and its tokenizer, and the logits the model computes are
 * compared with a straightforward float64 forward of Hugging Face's Llama, written below from the
 * modelling code's definitions, over the tensors the writer returned.
 */
class HandWrittenDirCrossTest {
  private static final String TEXT = "Where is my order? It ships today.";

  /** GQA Llama with an untied head and a non-default rope_theta. */
  private static final LlamaConfig LLAMA = new LlamaConfig(ByteLevelTokenizerFiles.FIRST_MERGE_ID, 32, 48, 2, 4, 2, 8, 64, 1e-6,
      500000.0, false, false, ByteLevelTokenizerFiles.BOS_ID, ByteLevelTokenizerFiles.EOS_ID);

  /** Qwen2-style: q/k/v biases, tied embeddings, multi-query attention, head_dim ≠ hidden/heads. */
  private static final LlamaConfig QWEN = new LlamaConfig(ByteLevelTokenizerFiles.FIRST_MERGE_ID, 24, 40, 3, 4, 1, 10, 64, 1e-5,
      10000.0, true, true, ByteLevelTokenizerFiles.BOS_ID, ByteLevelTokenizerFiles.EOS_ID);

  @TempDir Path dir;

  @Test
  void llamaF32DirectoryGivesTheReferenceLogits() throws Exception {
    Map<String, NamedTensor> written = HandWrittenModelDir.write(dir, LLAMA, 11, false);
    checkLogits(dir, LLAMA, written);
  }

  @Test
  void qwenStyleBf16DirectoryGivesTheReferenceLogits() throws Exception {
    Map<String, NamedTensor> written = HandWrittenModelDir.write(dir, QWEN, 12, true);
    checkLogits(dir, QWEN, written);
  }

  @Test
  void shardedDirectoryGivesTheReferenceLogits() throws Exception {
    Map<String, NamedTensor> written = HandWrittenModelDir.writeSharded(dir, LLAMA, 13);
    checkLogits(dir, LLAMA, written);
  }

  @Test
  void responseLogProbsAndCachedDecodingAgreeWithTheReference() throws Exception {
    Map<String, NamedTensor> written = HandWrittenModelDir.write(dir, LLAMA, 14, false);
    try (HfModel hf = HfModelDir.load(dir)) {
      LlamaModel model = LlamaModel.create(hf.config(), hf.weights(), new CpuBackend());
      int[] prompt = withBos(hf.tokenizer().encode("Where is my order?", false));
      int[] reply = hf.tokenizer().encode(" It ships today.", false);
      int[] all = concat(prompt, reply);
      double[][] ref = referenceLogits(LLAMA, written, all);
      double expected = 0;
      for (int i = 0; i < reply.length; i++) expected += logSoftmax(ref[prompt.length - 1 + i])[reply[i]];
      SequenceLogProbs lp = model.logProbs(List.of(new PromptResponse(prompt, reply), new PromptResponse(all, new int[0])));
      assertThat(lp.sum(0)).isCloseTo(expected, org.assertj.core.api.Assertions.within(1e-3 * reply.length));
      assertThat(lp.sum(1)).isZero();

      KvCache cache = model.newKvCache(all.length);
      float[] last = model.forwardCached(cache, prompt);
      assertClose(last, ref[prompt.length - 1], "prefill");
      for (int i = 0; i < reply.length; i++) {
        last = model.forwardCached(cache, new int[] {reply[i]});
        assertClose(last, ref[prompt.length + i], "decode step " + i);
      }
    }
  }

  private void checkLogits(Path modelDir, LlamaConfig cfg, Map<String, NamedTensor> written) throws Exception {
    try (HfModel hf = HfModelDir.load(modelDir)) {
      assertThat(hf.config()).isEqualTo(cfg);
      int[] tokens = withBos(hf.tokenizer().encode(TEXT, false));
      // the byte-level tokenizer without merges maps each UTF-8 byte to its own id
      assertThat(Arrays.copyOfRange(tokens, 1, tokens.length)).containsExactly(
          new String(TEXT.getBytes(java.nio.charset.StandardCharsets.UTF_8), java.nio.charset.StandardCharsets.ISO_8859_1)
              .chars().toArray());
      LlamaModel model = LlamaModel.create(hf.config(), hf.weights(), new CpuBackend());
      float[] logits = model.logits(tokens);
      double[][] ref = referenceLogits(cfg, written, tokens);
      int v = cfg.vocabSize();
      for (int t = 0; t < tokens.length; t++) {
        assertClose(Arrays.copyOfRange(logits, t * v, (t + 1) * v), ref[t], "position " + t);
      }
    }
  }

  private static void assertClose(float[] actual, double[] expected, String where) {
    double scale = 0;
    for (double e : expected) scale = Math.max(scale, Math.abs(e));
    for (int i = 0; i < expected.length; i++) {
      assertThat(Math.abs(actual[i] - expected[i])).as("%s, logit %d: %s vs %s", where, i, actual[i], expected[i])
          .isLessThanOrEqualTo(2e-4 * Math.max(1, scale));
    }
  }

  private static int[] withBos(int[] ids) {
    return concat(new int[] {ByteLevelTokenizerFiles.BOS_ID}, ids);
  }

  private static int[] concat(int[] a, int[] b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  // ---- float64 reference: transformers' LlamaForCausalLM / Qwen2ForCausalLM, eager attention ----

  private static double[] w(Map<String, NamedTensor> t, String name) {
    float[] f = t.get(name).data();
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) d[i] = f[i];
    return d;
  }

  /** y[n, out] = x[n, in] · W[out, in]ᵀ (+ b). */
  private static double[][] linear(double[][] x, double[] weight, double[] bias, int out) {
    int in = x[0].length;
    double[][] y = new double[x.length][out];
    for (int t = 0; t < x.length; t++) {
      for (int o = 0; o < out; o++) {
        double s = bias == null ? 0 : bias[o];
        for (int i = 0; i < in; i++) s += x[t][i] * weight[o * in + i];
        y[t][o] = s;
      }
    }
    return y;
  }

  private static double[][] rmsNorm(double[][] x, double[] weight, double eps) {
    double[][] y = new double[x.length][];
    for (int t = 0; t < x.length; t++) {
      double ms = 0;
      for (double v : x[t]) ms += v * v;
      double r = 1 / Math.sqrt(ms / x[t].length + eps);
      y[t] = new double[x[t].length];
      for (int i = 0; i < x[t].length; i++) y[t][i] = weight[i] * (x[t][i] * r);
    }
    return y;
  }

  /** rotate_half RoPE on [n, heads·hd] in place: position t, pair (i, i + hd/2), θ^(−2i/hd). */
  private static void rope(double[][] x, int heads, int hd, double theta) {
    for (int t = 0; t < x.length; t++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < hd / 2; i++) {
          double angle = t * Math.pow(theta, -2.0 * i / hd);
          double c = Math.cos(angle), s = Math.sin(angle);
          int a = h * hd + i, b = a + hd / 2;
          double x1 = x[t][a], x2 = x[t][b];
          x[t][a] = x1 * c - x2 * s;
          x[t][b] = x2 * c + x1 * s;
        }
      }
    }
  }

  static double[][] referenceLogits(LlamaConfig c, Map<String, NamedTensor> t, int[] tokens) {
    int n = tokens.length, hidden = c.hiddenSize(), hd = c.headDim(), heads = c.numHeads(), kvHeads = c.numKvHeads();
    double[] embed = w(t, "model.embed_tokens.weight");
    double[][] x = new double[n][hidden];
    for (int i = 0; i < n; i++) System.arraycopy(embed, tokens[i] * hidden, x[i], 0, hidden);
    for (int l = 0; l < c.numLayers(); l++) {
      String p = "model.layers." + l + ".";
      double[][] h = rmsNorm(x, w(t, p + "input_layernorm.weight"), c.rmsNormEps());
      double[][] q = linear(h, w(t, p + "self_attn.q_proj.weight"), c.attentionBias() ? w(t, p + "self_attn.q_proj.bias") : null, heads * hd);
      double[][] k = linear(h, w(t, p + "self_attn.k_proj.weight"), c.attentionBias() ? w(t, p + "self_attn.k_proj.bias") : null, kvHeads * hd);
      double[][] v = linear(h, w(t, p + "self_attn.v_proj.weight"), c.attentionBias() ? w(t, p + "self_attn.v_proj.bias") : null, kvHeads * hd);
      rope(q, heads, hd, c.rope().theta());
      rope(k, kvHeads, hd, c.rope().theta());
      double[][] att = new double[n][heads * hd];
      int group = heads / kvHeads;
      for (int head = 0; head < heads; head++) {
        int kvh = head / group; // repeat_kv: query head h reads key/value head h / group
        for (int i = 0; i < n; i++) {
          double[] score = new double[i + 1];
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j <= i; j++) {
            double s = 0;
            for (int d = 0; d < hd; d++) s += q[i][head * hd + d] * k[j][kvh * hd + d];
            score[j] = s / Math.sqrt(hd);
            max = Math.max(max, score[j]);
          }
          double z = 0;
          for (int j = 0; j <= i; j++) z += score[j] = Math.exp(score[j] - max);
          for (int j = 0; j <= i; j++) {
            for (int d = 0; d < hd; d++) att[i][head * hd + d] += score[j] / z * v[j][kvh * hd + d];
          }
        }
      }
      double[][] o = linear(att, w(t, p + "self_attn.o_proj.weight"), null, hidden);
      for (int i = 0; i < n; i++) for (int d = 0; d < hidden; d++) x[i][d] += o[i][d];
      double[][] h2 = rmsNorm(x, w(t, p + "post_attention_layernorm.weight"), c.rmsNormEps());
      double[][] g = linear(h2, w(t, p + "mlp.gate_proj.weight"), null, c.intermediateSize());
      double[][] u = linear(h2, w(t, p + "mlp.up_proj.weight"), null, c.intermediateSize());
      for (int i = 0; i < n; i++) {
        for (int f = 0; f < c.intermediateSize(); f++) g[i][f] = g[i][f] / (1 + Math.exp(-g[i][f])) * u[i][f];
      }
      double[][] down = linear(g, w(t, p + "mlp.down_proj.weight"), null, hidden);
      for (int i = 0; i < n; i++) for (int d = 0; d < hidden; d++) x[i][d] += down[i][d];
    }
    double[][] xf = rmsNorm(x, w(t, "model.norm.weight"), c.rmsNormEps());
    return linear(xf, c.tieWordEmbeddings() ? embed : w(t, "lm_head.weight"), null, c.vocabSize());
  }

  private static double[] logSoftmax(double[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (double l : logits) max = Math.max(max, l);
    double z = 0;
    for (double l : logits) z += Math.exp(l - max);
    double lse = max + Math.log(z);
    double[] out = new double[logits.length];
    for (int i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
    return out;
  }
}
