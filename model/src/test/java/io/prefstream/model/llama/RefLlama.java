package io.prefstream.model.llama;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.lora.LoraAdapter;
import java.util.HashMap;
import java.util.Map;

/**
 * A float64 Llama forward written directly from the Hugging Face modelling code, over a mutable
 * map of double weights (HF names, plus PEFT-named LoRA tensors), so tests can perturb any
 * parameter for finite differences.
 */
public final class RefLlama {
  final LlamaConfig c;
  final Map<String, double[]> w;
  final double loraScaling;

  public RefLlama(LlamaConfig c, Map<String, double[]> weights, double loraScaling) {
    this.c = c;
    this.w = new HashMap<>(weights);
    this.loraScaling = loraScaling;
  }

  public double[] get(String name) {
    return w.get(name);
  }

  private double[] lin(double[] x, int n, int layer, String block, String module, int in, int out) {
    String p = "model.layers." + layer + "." + block + "." + module;
    double[] y = Ref.linear(x, w.get(p + ".weight"), w.get(p + ".bias"), n, in, out);
    double[] a = w.get(LoraAdapter.peftKey(layer, module, 'A'));
    if (a != null) {
      double[] b = w.get(LoraAdapter.peftKey(layer, module, 'B'));
      int r = a.length / in;
      double[] t = Ref.linear(x, a, null, n, in, r);
      double[] d = Ref.linear(t, b, null, n, r, out);
      for (int i = 0; i < y.length; i++) y[i] += loraScaling * d[i];
    }
    return y;
  }

  /** Logits [T, vocab] for one sequence. */
  public double[] logits(int[] tokens) {
    int n = tokens.length, C = c.hiddenSize(), H = c.numHeads(), KV = c.numKvHeads(), hd = c.headDim(), F = c.intermediateSize();
    int[] pos = new int[n];
    for (int i = 0; i < n; i++) pos[i] = i;
    double[] invFreq = Ref.inverseFrequencies(c.rope(), hd);
    double[] emb = w.get("model.embed_tokens.weight");
    double[] x = new double[n * C];
    for (int i = 0; i < n; i++) System.arraycopy(emb, tokens[i] * C, x, i * C, C);
    for (int l = 0; l < c.numLayers(); l++) {
      String p = "model.layers." + l + ".";
      double[] xn = Ref.rmsnorm(x, w.get(p + "input_layernorm.weight"), n, C, c.rmsNormEps());
      double[] q = Ref.rope(lin(xn, n, l, "self_attn", "q_proj", C, H * hd), pos, n, H, hd, invFreq);
      double[] k = Ref.rope(lin(xn, n, l, "self_attn", "k_proj", C, KV * hd), pos, n, KV, hd, invFreq);
      double[] v = lin(xn, n, l, "self_attn", "v_proj", C, KV * hd);
      double[] att = Ref.attention(q, k, v, new int[] {n}, H, KV, hd);
      double[] o = lin(att, n, l, "self_attn", "o_proj", H * hd, C);
      for (int i = 0; i < x.length; i++) x[i] += o[i];
      double[] xn2 = Ref.rmsnorm(x, w.get(p + "post_attention_layernorm.weight"), n, C, c.rmsNormEps());
      double[] g = lin(xn2, n, l, "mlp", "gate_proj", C, F);
      double[] u = lin(xn2, n, l, "mlp", "up_proj", C, F);
      double[] d = lin(Ref.swiglu(g, u), n, l, "mlp", "down_proj", F, C);
      for (int i = 0; i < x.length; i++) x[i] += d[i];
    }
    double[] xf = Ref.rmsnorm(x, w.get("model.norm.weight"), n, C, c.rmsNormEps());
    double[] head = c.tieWordEmbeddings() ? emb : w.get("lm_head.weight");
    return Ref.linear(xf, head, null, n, C, c.vocabSize());
  }

  /** Σ log p(response | prompt, earlier response). */
  public double sequenceLogProb(PromptResponse pr) {
    int[] p = pr.prompt(), r = pr.response();
    int[] t = new int[p.length + r.length];
    System.arraycopy(p, 0, t, 0, p.length);
    System.arraycopy(r, 0, t, p.length, r.length);
    double[] lg = logits(t);
    double s = 0;
    for (int i = 0; i < r.length; i++) s += Ref.logSoftmaxAt(lg, (p.length + i - 1) * c.vocabSize(), c.vocabSize(), r[i]);
    return s;
  }
}
