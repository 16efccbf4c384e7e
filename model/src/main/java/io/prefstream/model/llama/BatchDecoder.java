package io.prefstream.model.llama;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.BatchedAttention;
import io.prefstream.model.backend.BatchedLora;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.lora.LoraLinear;
import java.util.List;

/**
 * One cached forward step for many generation sequences at once (continuous batching): the rows of
 * every sequence (one decode token, or a chunk of a prompt) are stacked into one [n, c] activation,
 * so each base projection is one matrix product over all of them, a single pass over the weights.
 * Attention and the KV-cache append run per sequence on its own cache (in one op for all sequences
 * on a backend with {@link BatchedAttention}); each sequence's LoRA delta (all groups in one op on a
 * backend with {@link BatchedLora})
 * is applied to its adapter group's rows only, so versions and policies on one base share a batch.
 *
 * <p>Every row gets the same arithmetic as {@link LlamaModel#forwardCached} alone (the backend's
 * products compute each element by the same fma chain whatever the row count), so greedy output
 * is token-identical to running a sequence by itself; {@code BatchDecoderTest} checks it. Not
 * thread-safe: one owner (the serving scheduler) calls {@link #step}.
 */
public final class BatchDecoder {
  /**
   * One sequence's part of a step: append {@code tokens} to {@code cache} under {@code model}'s
   * adapter. A scoring row also has {@code targets} (as long as tokens): for token i, the token whose
   * log-probability the position of token i predicts, or -1 for none.
   */
  public record Row(LlamaModel model, KvCache cache, int[] tokens, int[] targets) {
    public Row {
      if (targets != null && targets.length != tokens.length) {
        throw new IllegalArgumentException(targets.length + " targets for " + tokens.length + " tokens");
      }
    }

    /** A generation row: the step returns the logits after its last token. */
    public Row(LlamaModel model, KvCache cache, int[] tokens) {
      this(model, cache, tokens, null);
    }
  }

  private final Backend be;
  private final LlamaConfig cfg;
  private int cap;
  private LayerActs a;
  private Buf x, last, xf, rstdF, logits, qS, kS, vS, attS, gx, gy, su, hsel, hnorm, rstdS, logp, lse;
  private int rank;

  public BatchDecoder(LlamaConfig cfg, Backend be) {
    this.cfg = cfg;
    this.be = be;
  }

  private void ensure(int n, int b, int r) {
    if (a != null && cap >= n && rank >= r && last.size() >= (long) b * cfg.hiddenSize()) return;
    cap = Math.max(n, Math.max(b, cap));
    rank = Math.max(r, Math.max(rank, 1));
    int c = cfg.hiddenSize(), f = cfg.intermediateSize(), v = cfg.vocabSize();
    long qd = (long) cfg.numHeads() * cfg.headDim(), kd = (long) cfg.numKvHeads() * cfg.headDim();
    long wide = Math.max(Math.max(c, f), qd);
    a = new LayerActs(be, cfg, cap);
    x = be.alloc((long) cap * c);
    last = be.alloc((long) cap * c);
    xf = be.alloc((long) cap * c);
    rstdF = be.alloc(cap);
    logits = be.alloc((long) cap * v);
    qS = be.alloc(cap * qd);
    kS = be.alloc(cap * kd);
    vS = be.alloc(cap * kd);
    attS = be.alloc(cap * qd);
    gx = be.alloc(cap * wide);
    gy = be.alloc(cap * wide);
    su = be.alloc((long) cap * rank);
    hsel = be.alloc((long) cap * c);
    hnorm = be.alloc((long) cap * c);
    rstdS = be.alloc(cap);
    logp = be.alloc(cap);
    lse = be.alloc(cap);
  }

  /**
   * Appends each row's tokens to its cache and returns, per row, the logits [vocab] after its last
   * token, or for a scoring row (with targets) the log-probability of each target [tokens] (NaN
   * where the target is -1), computed as {@link LlamaModel#logProbs} computes them from the same
   * hidden states. All rows' models must {@linkplain LlamaModel#sharesBaseWith share} the base
   * weights; rows with the same adapter should be adjacent (each run of equal adapters is one LoRA
   * group).
   */
  public float[][] step(List<Row> rows) {
    if (rows.isEmpty()) return new float[0][];
    LlamaModel base = rows.get(0).model();
    int b = rows.size(), n = 0, maxRank = 1;
    int[] start = new int[b + 1];
    for (int s = 0; s < b; s++) {
      Row r = rows.get(s);
      if (!r.model().sharesBaseWith(base)) throw new IllegalArgumentException("row " + s + " runs on other base weights");
      int len = r.tokens().length, past = r.cache().length;
      if (len == 0) throw new IllegalArgumentException("row " + s + " has no tokens to append");
      if (past + len > r.cache().capacity) {
        throw new IllegalArgumentException("KV cache holds " + r.cache().capacity + " tokens; cannot append " + len + " to " + past);
      }
      if (r.targets() != null) {
        for (int t : r.targets()) {
          if (t >= cfg.vocabSize()) {
            throw new IllegalArgumentException("row " + s + " has target " + t + ", outside the vocabulary [0, " + cfg.vocabSize() + ")");
          }
        }
      }
      LoraAdapter ad = r.model().lora().orElse(null);
      if (ad != null) maxRank = Math.max(maxRank, ad.config().rank());
      start[s] = n;
      n += len;
    }
    start[b] = n;
    ensure(n, b, maxRank);
    int c = cfg.hiddenSize(), h = cfg.numHeads(), kvh = cfg.numKvHeads(), hd = cfg.headDim();
    long qd = (long) h * hd, kd = (long) kvh * hd;
    float eps = (float) cfg.rmsNormEps();
    int[] tokens = new int[n], pos = new int[n], lastRows = new int[b];
    for (int s = 0; s < b; s++) {
      Row r = rows.get(s);
      for (int i = 0; i < r.tokens().length; i++) {
        int t = r.tokens()[i];
        if (t < 0 || t >= cfg.vocabSize()) {
          throw new IllegalArgumentException("token " + t + " is outside the vocabulary [0, " + cfg.vocabSize() + ")");
        }
        tokens[start[s] + i] = t;
        pos[start[s] + i] = r.cache().length + i;
      }
      lastRows[s] = start[s + 1] - 1;
    }
    int[] past = new int[b], capacity = new int[b];
    for (int s = 0; s < b; s++) {
      past[s] = rows.get(s).cache().length;
      capacity[s] = rows.get(s).cache().rows;
    }
    Buf[] kCaches = new Buf[b], vCaches = new Buf[b];
    Groups groups = Groups.of(rows, start);
    LlamaModel.Layer[] layers = base.layerArray();
    be.embeddingForward(x, base.embedWeight().value, tokens, n, c);
    for (int l = 0; l < layers.length; l++) {
      LlamaModel.Layer L = layers[l];
      be.rmsnormForward(a.xn1, a.rstd1, x, L.attnNorm.value, n, c, eps);
      linearShared(groups, l, new Linear[] {L.q, L.k, L.v}, new Buf[] {a.q, a.k, a.v}, a.xn1, n);
      be.ropeForward(a.q, pos, n, h, hd, cfg.rope());
      be.ropeForward(a.k, pos, n, kvh, hd, cfg.rope());
      if (be instanceof BatchedAttention batched) {
        for (int s = 0; s < b; s++) {
          KvCache kv = rows.get(s).cache();
          kCaches[s] = kv.k[l];
          vCaches[s] = kv.v[l];
        }
        batched.appendAttendBatch(a.att, a.q, a.k, a.v, kCaches, vCaches, past, capacity, start, h, kvh, hd);
      } else {
        for (int s = 0; s < b; s++) {
          KvCache kv = rows.get(s).cache();
          int len = start[s + 1] - start[s];
          // Sequence s's rows start at row start[s] of the stacked q/k/v/att.
          be.copy(qS, 0, a.q, start[s] * qd, len * qd);
          be.copy(kS, 0, a.k, start[s] * kd, len * kd);
          be.copy(vS, 0, a.v, start[s] * kd, len * kd);
          be.kvAppend(kv.k[l], kv.v[l], kS, vS, kv.length, len, kv.rows, kvh, hd);
          be.attentionCached(attS, qS, kv.k[l], kv.v[l], kv.length, len, kv.rows, h, kvh, hd);
          be.copy(a.att, start[s] * qd, attS, 0, len * qd);
        }
      }
      linear(groups, l, L.o, x, a.att, n, true); // residual in place
      be.rmsnormForward(a.xn2, a.rstd2, x, L.mlpNorm.value, n, c, eps);
      linearShared(groups, l, new Linear[] {L.gate, L.up}, new Buf[] {a.g, a.u}, a.xn2, n);
      be.swigluForward(a.h, a.g, a.u, (long) n * cfg.intermediateSize());
      linear(groups, l, L.down, x, a.h, n, true);
    }
    for (Row r : rows) r.cache().length += r.tokens().length;
    float[][] out = new float[b][];
    int v = cfg.vocabSize();
    int[] gen = new int[b];
    int g = 0;
    for (int s = 0; s < b; s++) if (rows.get(s).targets() == null) gen[g++] = s;
    if (g > 0) {
      int[] genRows = new int[g];
      for (int i = 0; i < g; i++) genRows[i] = lastRows[gen[i]];
      be.gatherRows(last, x, genRows, c);
      be.rmsnormForward(xf, rstdF, last, base.normWeight().value, g, c, eps);
      be.matmulForward(logits, xf, base.headWeight().value, null, g, c, v, false);
      float[] all = new float[g * v];
      be.download(logits, all);
      for (int i = 0; i < g; i++) out[gen[i]] = java.util.Arrays.copyOfRange(all, i * v, (i + 1) * v);
    }
    if (g < b) scoreRows(rows, start, out, base, eps);
    return out;
  }

  /** Log-probabilities of the scoring rows' targets, into their entries of out. */
  private void scoreRows(List<Row> rows, int[] start, float[][] out, LlamaModel base, float eps) {
    int m = 0;
    for (Row r : rows) if (r.targets() != null) for (int t : r.targets()) if (t >= 0) m++;
    for (int s = 0; s < rows.size(); s++) {
      if (rows.get(s).targets() != null) {
        out[s] = new float[rows.get(s).tokens().length];
        java.util.Arrays.fill(out[s], Float.NaN);
      }
    }
    if (m == 0) return;
    int[] at = new int[m], targets = new int[m];
    int k = 0;
    for (int s = 0; s < rows.size(); s++) {
      int[] t = rows.get(s).targets();
      if (t == null) continue;
      for (int i = 0; i < t.length; i++) {
        if (t[i] < 0) continue;
        at[k] = start[s] + i;
        targets[k++] = t[i];
      }
    }
    int c = cfg.hiddenSize();
    be.gatherRows(hsel, x, at, c);
    be.rmsnormForward(hnorm, rstdS, hsel, base.normWeight().value, m, c, eps);
    be.logSoftmaxGatherForward(logp, lse, hnorm, base.headWeight().value, targets, m, c, cfg.vocabSize());
    float[] lp = new float[m];
    be.download(logp, lp);
    k = 0;
    for (int s = 0; s < rows.size(); s++) {
      int[] t = rows.get(s).targets();
      if (t == null) continue;
      for (int i = 0; i < t.length; i++) if (t[i] >= 0) out[s][i] = lp[k++];
    }
  }

  /** Runs of adjacent rows with the same adapter (null: none): one LoRA group each. */
  private record Groups(int[] start, LoraAdapter[] adapter) {
    static Groups of(List<Row> rows, int[] rowStart) {
      int[] st = new int[rows.size() + 1];
      LoraAdapter[] ad = new LoraAdapter[rows.size()];
      int g = 0, s = 0;
      while (s < rows.size()) {
        LoraAdapter a = rows.get(s).model().lora().orElse(null);
        int e = s + 1;
        while (e < rows.size() && rows.get(e).model().lora().orElse(null) == a) e++;
        st[g] = rowStart[s];
        ad[g++] = a;
        s = e;
      }
      st[g] = rowStart[rows.size()];
      return new Groups(java.util.Arrays.copyOf(st, g + 1), java.util.Arrays.copyOf(ad, g));
    }
  }

  /** y[n,out] (+)= x·Wᵀ + b over all rows, then each adapter group's scaling·(x·Aᵀ)·Bᵀ on its rows. */
  private void linear(Groups groups, int layer, Linear lin, Buf y, Buf xin, int n, boolean accumulate) {
    be.matmulForward(y, xin, lin.w.value, lin.bias == null ? null : lin.bias.value, n, lin.in, lin.out, accumulate);
    loraDeltas(groups, layer, lin, y, xin);
  }

  /** {@link #linear} (not accumulating) for several linears of one input: the base products as one backend call. */
  private void linearShared(Groups groups, int layer, Linear[] lins, Buf[] ys, Buf xin, int n) {
    Buf[] ws = new Buf[lins.length], biases = new Buf[lins.length];
    int[] outs = new int[lins.length];
    for (int p = 0; p < lins.length; p++) {
      ws[p] = lins[p].w.value;
      biases[p] = lins[p].bias == null ? null : lins[p].bias.value;
      outs[p] = lins[p].out;
    }
    be.matmulForwardShared(ys, xin, ws, biases, n, lins[0].in, outs);
    for (int p = 0; p < lins.length; p++) loraDeltas(groups, layer, lins[p], ys[p], xin);
  }

  /** Each adapter group's scaling·(x·Aᵀ)·Bᵀ added to its rows of y. */
  private void loraDeltas(Groups groups, int layer, Linear lin, Buf y, Buf xin) {
    int count = groups.adapter().length;
    if (be instanceof BatchedLora batched) {
      Buf[] as = new Buf[count], bs = new Buf[count];
      int[] ranks = new int[count];
      float[] scalings = new float[count];
      boolean any = false;
      for (int g = 0; g < count; g++) {
        LoraLinear ll = groups.adapter()[g] == null ? null : groups.adapter()[g].linear(layer, lin.module);
        if (ll == null) continue;
        as[g] = ll.a().value();
        bs[g] = ll.b().value();
        ranks[g] = ll.rank();
        scalings[g] = ll.scaling();
        any = true;
      }
      if (any) batched.loraGroups(y, xin, groups.start(), as, bs, ranks, scalings, lin.in, lin.out, su);
      return;
    }
    for (int g = 0; g < count; g++) {
      LoraLinear ll = groups.adapter()[g] == null ? null : groups.adapter()[g].linear(layer, lin.module);
      if (ll == null) continue;
      int r0 = groups.start()[g], rows = groups.start()[g + 1] - r0, r = ll.rank();
      // Rows r0..r0+rows-1 are this group's; gather them, add the delta, put them back.
      be.copy(gx, 0, xin, (long) r0 * lin.in, (long) rows * lin.in);
      be.matmulForward(su, gx, ll.a().value(), null, rows, lin.in, r, false);
      be.scale(su, (long) rows * r, ll.scaling());
      be.copy(gy, 0, y, (long) r0 * lin.out, (long) rows * lin.out);
      be.matmulForward(gy, su, ll.b().value(), null, rows, r, lin.out, true);
      be.copy(y, (long) r0 * lin.out, gy, 0, (long) rows * lin.out);
    }
  }
}
