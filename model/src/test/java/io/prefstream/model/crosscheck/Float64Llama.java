package io.prefstream.model.crosscheck;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.tensor.NamedTensor;
import java.util.Map;

/**
 * A float64 forward of transformers' LlamaForCausalLM / Qwen2ForCausalLM / MistralForCausalLM with
 * eager attention, written plainly from the modelling code over HF-named tensors: RMSNorm,
 * q/k/v projections (with biases when {@code attentionBias}), rotate_half RoPE at the given inverse
 * frequencies, causal attention where query head h reads key/value head h / group (repeat_kv), SwiGLU
 * MLP, tied or untied head. The caller supplies the inverse frequencies, so RoPE scaling is computed
 * by the test, not by the code under test.
 */
public final class Float64Llama {
  private Float64Llama() {}

  /** θ^(−2i/d) for the config's theta, ignoring any scaling (the caller's choice). */
  public static double[] unscaled(LlamaConfig c) {
    double[] f = new double[c.headDim() / 2];
    for (int i = 0; i < f.length; i++) f[i] = Math.pow(c.rope().theta(), -2.0 * i / c.headDim());
    return f;
  }

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

  /** rotate_half RoPE on [n, heads·hd] in place: position t, pair (i, i + hd/2), angle t · invFreq[i]. */
  private static void rope(double[][] x, int heads, int hd, double[] invFreq) {
    for (int t = 0; t < x.length; t++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < hd / 2; i++) {
          double angle = t * invFreq[i];
          double c = Math.cos(angle), s = Math.sin(angle);
          int a = h * hd + i, b = a + hd / 2;
          double x1 = x[t][a], x2 = x[t][b];
          x[t][a] = x1 * c - x2 * s;
          x[t][b] = x2 * c + x1 * s;
        }
      }
    }
  }

  /** Logits [tokens, vocab] of one sequence at positions 0 … n − 1; only the shapes of {@code c} are read. */
  public static double[][] logits(LlamaConfig c, double[] invFreq, Map<String, NamedTensor> t, int[] tokens) {
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
      rope(q, heads, hd, invFreq);
      rope(k, kvHeads, hd, invFreq);
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
}
