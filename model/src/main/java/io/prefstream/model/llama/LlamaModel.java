package io.prefstream.model.llama;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.backend.SeqLayout;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.lora.LoraLinear;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.train.GradMode;
import io.prefstream.model.train.Parameter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Llama-architecture decoder (Llama, SmolLM, Qwen2 with q/k/v biases) on a {@link Backend}:
 * RMSNorm, RoPE, causal grouped-query attention, SwiGLU MLP, tied or untied output head; an
 * optional LoRA adapter. It scores batches of (prompt, response) sequences of different lengths,
 * packed without padding, with a backward pass to the LoRA parameters or to every weight, and runs
 * cached decoding for generation.
 *
 * <p>Not thread-safe: one pass at a time per model (its workspace is shared). Generation sessions
 * ({@link KvCache}) own their buffers and only read the weights.
 */
public final class LlamaModel {
  private final LlamaConfig cfg;
  private final Backend be;
  private final Weight embed;
  private final Weight norm;
  private final Weight head; // == embed when tied
  private final Layer[] layers;
  private LoraAdapter lora;
  /** Set once {@link #sibling()} shares the base weights: they must then stay frozen. */
  private final AtomicBoolean shared;
  private Workspace ws;
  private long passes;
  private long lastKeepingPass = -1;

  static final class Layer {
    Weight attnNorm, mlpNorm;
    Linear q, k, v, o, gate, up, down;

    Linear[] linears() {
      return new Linear[] {q, k, v, o, gate, up, down};
    }
  }

  /** A batch laid out as one packed token stream. */
  record Packed(int[] tokens, int[] positions, SeqLayout layout, int[] rows, int[] targets, int[] rowSeq,
      int[] responseLengths) {
    int n() {
      return tokens.length;
    }

    int m() {
      return rows.length;
    }
  }

  private LlamaModel(LlamaConfig cfg, Backend be, Weight embed, Weight norm, Weight head, Layer[] layers,
      AtomicBoolean shared) {
    this.shared = shared;
    this.cfg = cfg;
    this.be = be;
    this.embed = embed;
    this.norm = norm;
    this.head = head;
    this.layers = layers;
  }

  /**
   * Builds the model from Hugging Face-named tensors. Every tensor the config implies must be
   * present with its shape; {@code lm_head.weight} is ignored when embeddings are tied; any other
   * key is refused, so a wrong architecture cannot load silently.
   */
  public static LlamaModel create(LlamaConfig cfg, Map<String, NamedTensor> tensors, Backend be) {
    int c = cfg.hiddenSize(), v = cfg.vocabSize(), f = cfg.intermediateSize();
    int qd = cfg.numHeads() * cfg.headDim(), kd = cfg.numKvHeads() * cfg.headDim();
    Set<String> used = new HashSet<>();
    Weight embed = cfg.tieWordEmbeddings()
        ? matrix(be, tensors, used, "model.embed_tokens.weight", v, c)
        : vector(be, tensors, used, "model.embed_tokens.weight", v, c);
    Weight norm = vector(be, tensors, used, "model.norm.weight", c);
    Weight head = cfg.tieWordEmbeddings() ? embed : matrix(be, tensors, used, "lm_head.weight", v, c);
    Layer[] layers = new Layer[cfg.numLayers()];
    for (int l = 0; l < layers.length; l++) {
      String p = "model.layers." + l + ".";
      Layer L = new Layer();
      L.attnNorm = vector(be, tensors, used, p + "input_layernorm.weight", c);
      L.mlpNorm = vector(be, tensors, used, p + "post_attention_layernorm.weight", c);
      L.q = linear(be, tensors, used, p + "self_attn.", "q_proj", c, qd, cfg.attentionBias());
      L.k = linear(be, tensors, used, p + "self_attn.", "k_proj", c, kd, cfg.attentionBias());
      L.v = linear(be, tensors, used, p + "self_attn.", "v_proj", c, kd, cfg.attentionBias());
      L.o = linear(be, tensors, used, p + "self_attn.", "o_proj", qd, c, false);
      L.gate = linear(be, tensors, used, p + "mlp.", "gate_proj", c, f, false);
      L.up = linear(be, tensors, used, p + "mlp.", "up_proj", c, f, false);
      L.down = linear(be, tensors, used, p + "mlp.", "down_proj", f, c, false);
      layers[l] = L;
    }
    List<String> unknown = tensors.keySet().stream()
        .filter(k -> !used.contains(k))
        .filter(k -> !(cfg.tieWordEmbeddings() && k.equals("lm_head.weight")))
        .filter(k -> !k.endsWith("rotary_emb.inv_freq"))
        .sorted().limit(5).toList();
    if (!unknown.isEmpty()) {
      throw new IllegalArgumentException("weights contain tensors this Llama config does not use: " + unknown
          + (cfg.attentionBias() ? "" : " (attention_bias is false)"));
    }
    return new LlamaModel(cfg, be, embed, norm, head, layers, new AtomicBoolean());
  }

  private static NamedTensor get(Map<String, NamedTensor> t, Set<String> used, String name, int... shape) {
    NamedTensor x = t.get(name);
    if (x == null) throw new IllegalArgumentException("weights are missing tensor " + name + " " + Arrays.toString(shape));
    if (!Arrays.equals(x.shape(), shape)) {
      throw new IllegalArgumentException(name + " has shape " + Arrays.toString(x.shape()) + ", expected " + Arrays.toString(shape));
    }
    used.add(name);
    return x;
  }

  private static Weight matrix(Backend be, Map<String, NamedTensor> t, Set<String> used, String name, int out, int in) {
    NamedTensor x = get(t, used, name, out, in);
    return new Weight(name, new int[] {out, in}, be.weight(x.data(), out, in), true);
  }

  private static Weight vector(Backend be, Map<String, NamedTensor> t, Set<String> used, String name, int... shape) {
    NamedTensor x = get(t, used, name, shape);
    Buf b = be.alloc(x.numel());
    be.upload(b, x.data());
    return new Weight(name, shape, b, false);
  }

  private static Linear linear(Backend be, Map<String, NamedTensor> t, Set<String> used, String prefix, String module,
      int in, int out, boolean bias) {
    Weight w = matrix(be, t, used, prefix + module + ".weight", out, in);
    Weight b = bias ? vector(be, t, used, prefix + module + ".bias", out) : null;
    return new Linear(module, in, out, w, b);
  }

  /**
   * A model over the same base weights (no copy) with its own adapter slot, workspace and passes:
   * the pinned reference next to the trained policy, or a new adapter version next to the one being
   * served. Base weights are shared, so neither model may train in FULL mode while both are in use.
   */
  public LlamaModel sibling() {
    Layer[] copy = new Layer[layers.length];
    for (int l = 0; l < layers.length; l++) {
      Layer src = layers[l], L = new Layer();
      L.attnNorm = src.attnNorm;
      L.mlpNorm = src.mlpNorm;
      L.q = new Linear(src.q.module, src.q.in, src.q.out, src.q.w, src.q.bias);
      L.k = new Linear(src.k.module, src.k.in, src.k.out, src.k.w, src.k.bias);
      L.v = new Linear(src.v.module, src.v.in, src.v.out, src.v.w, src.v.bias);
      L.o = new Linear(src.o.module, src.o.in, src.o.out, src.o.w, src.o.bias);
      L.gate = new Linear(src.gate.module, src.gate.in, src.gate.out, src.gate.w, src.gate.bias);
      L.up = new Linear(src.up.module, src.up.in, src.up.out, src.up.w, src.up.bias);
      L.down = new Linear(src.down.module, src.down.in, src.down.out, src.down.w, src.down.bias);
      copy[l] = L;
    }
    shared.set(true);
    return new LlamaModel(cfg, be, embed, norm, head, copy, shared);
  }

  private void requireOwnWeights(String what) {
    if (shared.get()) {
      throw new IllegalStateException(what + " would change base weights that sibling() models share; "
          + "build a separate model from the tensors instead");
    }
  }

  public LlamaConfig config() {
    return cfg;
  }

  public Backend backend() {
    return be;
  }

  /**
   * Whether this model runs on the same base weights as {@code other} (one is a {@link #sibling()}
   * of the other, or both of a third), so their sequences can share one batched pass.
   */
  public boolean sharesBaseWith(LlamaModel other) {
    return embed == other.embed && layers[0].q.w == other.layers[0].q.w;
  }

  Weight embedWeight() {
    return embed;
  }

  Weight normWeight() {
    return norm;
  }

  Weight headWeight() {
    return head;
  }

  Layer[] layerArray() {
    return layers;
  }

  // ---- LoRA ----------------------------------------------------------------------------------

  /** Attaches a fresh PEFT-initialised adapter (B = 0: outputs are unchanged until trained). */
  public LoraAdapter attachNewLora(LoraConfig config, long seed) {
    return attachLora(LoraAdapter.initialise(cfg, config, seed, be));
  }

  /** Attaches an adapter built from PEFT-named tensors. */
  public LoraAdapter attachLora(LoraConfig config, Map<String, NamedTensor> peftTensors) {
    return attachLora(LoraAdapter.fromTensors(cfg, config, peftTensors, be));
  }

  /** Attaches an adapter (replacing any attached one). */
  public LoraAdapter attachLora(LoraAdapter adapter) {
    for (int l = 0; l < layers.length; l++) {
      for (Linear lin : layers[l].linears()) lin.lora = adapter.linear(l, lin.module);
    }
    lora = adapter;
    if (ws != null && ws.rank < adapter.config().rank()) ws = null; // its LoRA scratch is too narrow
    return adapter;
  }

  public Optional<LoraAdapter> lora() {
    return Optional.ofNullable(lora);
  }

  public void detachLora() {
    for (Layer L : layers) for (Linear lin : L.linears()) lin.lora = null;
    lora = null;
  }

  /** Folds the attached adapter into the base weights (W += scaling·B·A) and detaches it. */
  public void mergeLora() {
    if (lora == null) throw new IllegalStateException("no LoRA adapter is attached");
    requireOwnWeights("mergeLora");
    for (Layer L : layers) {
      for (Linear lin : L.linears()) {
        LoraLinear ll = lin.lora;
        if (ll == null) continue;
        float[] w = new float[lin.in * lin.out];
        be.download(lin.w.value, w);
        float[] a = ll.a().values(), b = ll.b().values();
        int r = ll.rank();
        for (int o = 0; o < lin.out; o++) {
          for (int k = 0; k < r; k++) {
            float s = ll.scaling() * b[o * r + k];
            for (int i = 0; i < lin.in; i++) w[o * lin.in + i] += s * a[k * lin.in + i];
          }
        }
        be.upload(lin.w.value, w);
      }
    }
    detachLora();
  }

  // ---- parameters ----------------------------------------------------------------------------

  /** The trainable tensors of a mode: the adapter's A/B (LORA) or every base weight (FULL). */
  public List<Parameter> parameters(GradMode mode) {
    if (mode == GradMode.LORA) {
      if (lora == null) throw new IllegalStateException("LORA mode needs an attached adapter; call attachNewLora or attachLora");
      return lora.parameters();
    }
    List<Parameter> out = new ArrayList<>();
    for (Weight w : allWeights()) out.add(w.parameter(be));
    return out;
  }

  /** Zeroes the gradients of a mode's parameters. */
  public void zeroGrad(GradMode mode) {
    for (Parameter p : parameters(mode)) p.zeroGrad();
  }

  /** Base weights under their Hugging Face names (host copies), e.g. to save a fully fine-tuned model. */
  public Map<String, NamedTensor> exportWeights() {
    Map<String, NamedTensor> out = new LinkedHashMap<>();
    for (Weight w : allWeights()) {
      float[] data = new float[(int) w.numel()];
      be.download(w.value, data);
      out.put(w.name, new NamedTensor(w.name, w.shape, data));
    }
    return out;
  }

  private List<Weight> allWeights() {
    List<Weight> ws = new ArrayList<>();
    ws.add(embed);
    for (Layer L : layers) {
      ws.add(L.attnNorm);
      for (Linear lin : L.linears()) {
        ws.add(lin.w);
        if (lin.bias != null) ws.add(lin.bias);
      }
      ws.add(L.mlpNorm);
    }
    ws.add(norm);
    if (head != embed) ws.add(head);
    return ws;
  }

  // ---- batches -------------------------------------------------------------------------------

  Packed pack(List<PromptResponse> batch) {
    if (batch.isEmpty()) throw new IllegalArgumentException("batch is empty");
    int n = 0, m = 0;
    int[] lens = new int[batch.size()];
    for (int s = 0; s < batch.size(); s++) {
      PromptResponse pr = batch.get(s);
      if (pr.length() > cfg.maxPositions()) {
        throw new IllegalArgumentException("sequence " + s + " has " + pr.length() + " tokens, more than max_position_embeddings "
            + cfg.maxPositions());
      }
      lens[s] = pr.length();
      n += pr.length();
      m += pr.responseLength();
    }
    int[] tokens = new int[n], positions = new int[n], rows = new int[m], targets = new int[m], rowSeq = new int[m];
    int[] respLens = new int[batch.size()];
    int at = 0, r = 0;
    for (int s = 0; s < batch.size(); s++) {
      PromptResponse pr = batch.get(s);
      int p = pr.promptLength();
      for (int i = 0; i < p; i++) tokens[at + i] = pr.promptToken(i);
      for (int i = 0; i < pr.responseLength(); i++) {
        tokens[at + p + i] = pr.responseToken(i);
        rows[r] = at + p + i - 1; // the position that predicts response token i
        targets[r] = pr.responseToken(i);
        rowSeq[r] = s;
        r++;
      }
      for (int i = 0; i < pr.length(); i++) {
        positions[at + i] = i;
        int t = tokens[at + i];
        if (t < 0 || t >= cfg.vocabSize()) {
          throw new IllegalArgumentException("sequence " + s + " token " + i + " is " + t + ", outside the vocabulary [0, " + cfg.vocabSize() + ")");
        }
      }
      respLens[s] = pr.responseLength();
      at += pr.length();
    }
    return new Packed(tokens, positions, SeqLayout.of(lens), rows, targets, rowSeq, respLens);
  }

  private Workspace workspace(int n) {
    if (ws == null || ws.cap < n) {
      ws = new Workspace(be, cfg, n, Math.max(ws == null ? 1 : ws.rank, lora == null ? 1 : lora.config().rank()));
      lastKeepingPass = -1;
    }
    return ws;
  }

  // ---- forward -------------------------------------------------------------------------------

  /** Log-probs of each response without keeping activations (the reference-model fast path). */
  public SequenceLogProbs logProbs(List<PromptResponse> batch) {
    Packed p = pack(batch);
    passes++;
    lastKeepingPass = -1; // this pass overwrites the shared activations
    Workspace w = workspace(p.n());
    forwardLayers(w, p, false);
    return scoreRows(w, p);
  }

  /**
   * A forward pass that keeps what {@link ForwardPass#backward} needs: all per-layer activations,
   * or with {@code recompute} only each layer's input (layers are recomputed during backward,
   * trading about one extra forward for most of the activation memory).
   */
  public ForwardPass forward(List<PromptResponse> batch, GradMode mode, boolean recompute) {
    if (mode == GradMode.LORA && lora == null) throw new IllegalStateException("LORA mode needs an attached adapter");
    if (mode == GradMode.FULL) {
      requireOwnWeights("FULL-mode training");
      parameters(GradMode.FULL); // allocates the weight gradients
    }
    Packed p = pack(batch);
    long id = ++passes;
    Workspace w = workspace(p.n());
    forwardLayers(w, p, !recompute);
    lastKeepingPass = id;
    return new ForwardPass(this, p, mode, recompute, id, scoreRows(w, p));
  }

  /** Logits for every position of one sequence, [tokens.length, vocab] (tests, small inputs). */
  public float[] logits(int[] tokens) {
    Packed p = pack(List.of(new PromptResponse(tokens, new int[0])));
    passes++;
    lastKeepingPass = -1;
    Workspace w = workspace(p.n());
    forwardLayers(w, p, false);
    int n = p.n(), vsz = cfg.vocabSize();
    Buf out = be.alloc((long) n * vsz);
    be.matmulForward(out, w.xf, head.value, null, n, cfg.hiddenSize(), vsz, false);
    float[] host = new float[n * vsz];
    be.download(out, host);
    return host;
  }

  private void forwardLayers(Workspace w, Packed p, boolean keep) {
    int n = p.n(), c = cfg.hiddenSize();
    be.embeddingForward(w.xs[0], embed.value, p.tokens(), n, c);
    for (int l = 0; l < layers.length; l++) {
      layerForward(layers[l], w.acts(l, keep), w.xs[l], w.xs[l + 1], n, p.positions(), p.layout(), w.su());
    }
    be.rmsnormForward(w.xf, w.rstdF, w.xs[layers.length], norm.value, n, c, (float) cfg.rmsNormEps());
  }

  private void layerForward(Layer L, LayerActs a, Buf xin, Buf xout, int n, int[] pos, SeqLayout layout, Buf su) {
    int c = cfg.hiddenSize(), h = cfg.numHeads(), kvh = cfg.numKvHeads(), hd = cfg.headDim();
    float eps = (float) cfg.rmsNormEps();
    be.rmsnormForward(a.xn1, a.rstd1, xin, L.attnNorm.value, n, c, eps);
    L.q.forward(be, a.q, a.xn1, n, false, su);
    L.k.forward(be, a.k, a.xn1, n, false, su);
    L.v.forward(be, a.v, a.xn1, n, false, su);
    be.ropeForward(a.q, pos, n, h, hd, cfg.rope());
    be.ropeForward(a.k, pos, n, kvh, hd, cfg.rope());
    be.attentionForward(a.att, a.lse, a.q, a.k, a.v, layout, h, kvh, hd);
    be.copy(a.x2, 0, xin, 0, (long) n * c);
    L.o.forward(be, a.x2, a.att, n, true, su); // x2 = x + o_proj(att)
    be.rmsnormForward(a.xn2, a.rstd2, a.x2, L.mlpNorm.value, n, c, eps);
    L.gate.forward(be, a.g, a.xn2, n, false, su);
    L.up.forward(be, a.u, a.xn2, n, false, su);
    be.swigluForward(a.h, a.g, a.u, (long) n * cfg.intermediateSize());
    be.copy(xout, 0, a.x2, 0, (long) n * c);
    L.down.forward(be, xout, a.h, n, true, su); // x3 = x2 + down_proj(h)
  }

  private SequenceLogProbs scoreRows(Workspace w, Packed p) {
    int m = p.m(), c = cfg.hiddenSize();
    int seqs = p.responseLengths().length;
    double[] sums = new double[seqs];
    float[][] perToken = new float[seqs][];
    for (int s = 0; s < seqs; s++) perToken[s] = new float[p.responseLengths()[s]];
    if (m > 0) {
      be.gatherRows(w.hsel, w.xf, p.rows(), c);
      be.logSoftmaxGatherForward(w.logp, w.lseOut, w.hsel, head.value, p.targets(), m, c, cfg.vocabSize());
      float[] lp = new float[m];
      be.download(w.logp, lp);
      int[] next = new int[seqs];
      for (int r = 0; r < m; r++) {
        int s = p.rowSeq()[r];
        perToken[s][next[s]++] = lp[r];
        sums[s] += lp[r];
      }
    }
    return new SequenceLogProbs(sums, p.responseLengths().clone(), perToken);
  }

  // ---- backward ------------------------------------------------------------------------------

  void backward(ForwardPass pass, double[] dSum) {
    if (pass.id != lastKeepingPass || ws == null) {
      throw new IllegalStateException("another forward pass ran after this one; backward needs its activations");
    }
    Packed p = pass.packed;
    Workspace w = ws;
    w.ensureGrads();
    int n = p.n(), m = p.m(), c = cfg.hiddenSize();
    GradMode mode = pass.mode;
    Buf dres = w.dres();
    be.zero(w.dxf());
    if (m > 0) {
      float[] g = new float[m];
      for (int r = 0; r < m; r++) g[r] = (float) dSum[p.rowSeq()[r]];
      be.upload(w.gsel(), g);
      be.logSoftmaxGatherBackward(w.dhsel(), mode == GradMode.FULL ? head.grad : null, w.gsel(), w.hsel, head.value,
          w.lseOut, p.targets(), m, c, cfg.vocabSize());
      be.scatterAddRows(w.dxf(), w.dhsel(), p.rows(), c);
    }
    be.zero(dres);
    be.rmsnormBackward(dres, mode == GradMode.FULL ? norm.grad : null, w.dxf(), w.xs[layers.length], norm.value,
        w.rstdF, n, c);
    for (int l = layers.length - 1; l >= 0; l--) {
      LayerActs a = w.acts(l, !pass.recompute);
      if (pass.recompute) layerForward(layers[l], a, w.xs[l], w.xs[l + 1], n, p.positions(), p.layout(), w.su());
      layerBackward(layers[l], a, w, w.xs[l], n, p.positions(), p.layout(), mode);
    }
    if (mode == GradMode.FULL) be.embeddingBackward(embed.grad, dres, p.tokens(), n, c);
    lastKeepingPass = -1;
  }

  /** On entry w.dres() holds dL/d(layer output); on exit dL/d(layer input). */
  private void layerBackward(Layer L, LayerActs a, Workspace w, Buf xin, int n, int[] pos, SeqLayout layout, GradMode mode) {
    int c = cfg.hiddenSize(), h = cfg.numHeads(), kvh = cfg.numKvHeads(), hd = cfg.headDim();
    boolean full = mode == GradMode.FULL;
    Buf dres = w.dres(), su = w.su(), sdu = w.sdu();
    // MLP branch: out = x2 + down(silu(gate(xn2))·up(xn2))
    L.down.backward(be, w.dh(), dres, a.h, n, false, mode, su, sdu);
    be.swigluBackward(w.dg(), w.du(), w.dh(), a.g, a.u, (long) n * cfg.intermediateSize());
    L.gate.backward(be, w.dxn(), w.dg(), a.xn2, n, false, mode, su, sdu);
    L.up.backward(be, w.dxn(), w.du(), a.xn2, n, true, mode, su, sdu);
    be.rmsnormBackward(dres, full ? L.mlpNorm.grad : null, w.dxn(), a.x2, L.mlpNorm.value, a.rstd2, n, c);
    // attention branch: x2 = x + o(attn(rope(q(xn1)), rope(k(xn1)), v(xn1)))
    L.o.backward(be, w.datt(), dres, a.att, n, false, mode, su, sdu);
    be.attentionBackward(w.dq(), w.dk(), w.dv(), w.datt(), a.att, a.lse, a.q, a.k, a.v, layout, h, kvh, hd);
    be.ropeBackward(w.dq(), pos, n, h, hd, cfg.rope());
    be.ropeBackward(w.dk(), pos, n, kvh, hd, cfg.rope());
    L.q.backward(be, w.dxn(), w.dq(), a.xn1, n, false, mode, su, sdu);
    L.k.backward(be, w.dxn(), w.dk(), a.xn1, n, true, mode, su, sdu);
    L.v.backward(be, w.dxn(), w.dv(), a.xn1, n, true, mode, su, sdu);
    be.rmsnormBackward(dres, full ? L.attnNorm.grad : null, w.dxn(), xin, L.attnNorm.value, a.rstd1, n, c);
  }

  // ---- cached decoding -----------------------------------------------------------------------

  /**
   * Makes {@code dst} hold the first {@code n} cached positions of {@code src} (and nothing after
   * them): for a sequence whose tokens start with the n tokens {@code src} cached under this same
   * model, which are then not computed again. Keys and values of a position depend only on the
   * tokens up to it, so the result is the cache that feeding those n tokens would have built.
   */
  public void copyKvPrefix(KvCache src, KvCache dst, int n) {
    if (src.k.length != layers.length || dst.k.length != layers.length) {
      throw new IllegalArgumentException("the caches were not made by a model of " + layers.length + " layers");
    }
    if (n < 0 || n > src.length || n > dst.capacity) {
      throw new IllegalArgumentException("cannot copy " + n + " positions from a cache holding " + src.length
          + " into one of capacity " + dst.capacity);
    }
    for (int l = 0; l < layers.length; l++) {
      be.kvCopyPrefix(dst.k[l], dst.v[l], dst.rows, src.k[l], src.v[l], src.rows, n, cfg.numKvHeads(), cfg.headDim());
    }
    dst.length = n;
  }

  /** A KV cache for one generation session of up to {@code capacity} tokens. */
  public KvCache newKvCache(int capacity) {
    return newKvCache(capacity, null);
  }

  /**
   * Positions a cache of {@code capacity} tokens allocates (capacity rounded up to
   * {@link Backend#KV_CACHE_ALIGN}): caches with the same rows are interchangeable.
   */
  public static int kvCacheRows(int capacity) {
    return (capacity + Backend.KV_CACHE_ALIGN - 1) / Backend.KV_CACHE_ALIGN * Backend.KV_CACHE_ALIGN;
  }

  /**
   * A KV cache of up to {@code capacity} tokens on the buffers of {@code spare} (a cache nobody uses
   * any more, made by a model with this one's configuration on this backend) when it has the same
   * {@link #kvCacheRows rows}; otherwise, or when spare is null, on new buffers. Reusing a retired
   * sequence's buffers saves allocating (and the garbage collector copying) megabytes per request.
   * The old contents need no clearing: a session only reads positions it has written.
   */
  public KvCache newKvCache(int capacity, KvCache spare) {
    if (capacity < 1 || capacity > cfg.maxPositions()) {
      throw new IllegalArgumentException("KV cache capacity must be in [1, " + cfg.maxPositions() + "], got " + capacity);
    }
    long kd = (long) cfg.numKvHeads() * cfg.headDim();
    int rows = kvCacheRows(capacity);
    if (spare != null && spare.rows == rows && spare.k.length == layers.length && spare.k[0].size() == rows * kd) {
      KvCache c = new KvCache(spare.k, spare.v, capacity, rows);
      c.scratch = spare.scratch;
      c.scratchCap = spare.scratchCap;
      c.x = spare.x;
      c.x2 = spare.x2;
      c.xf = spare.xf;
      c.rstdF = spare.rstdF;
      c.logits = spare.logits;
      c.su = spare.su;
      return c;
    }
    Buf[] k = new Buf[layers.length], v = new Buf[layers.length];
    for (int l = 0; l < layers.length; l++) {
      k[l] = be.alloc(rows * kd);
      v[l] = be.alloc(rows * kd);
    }
    return new KvCache(k, v, capacity, rows);
  }

  /**
   * Appends {@code tokens} to the cache (positions cache.length() onward) and returns the logits
   * [vocab] of the last one: prefill with the prompt, then one token per call.
   */
  public float[] forwardCached(KvCache cache, int[] tokens) {
    int n = tokens.length, past = cache.length;
    if (n == 0) throw new IllegalArgumentException("no tokens to append");
    if (past + n > cache.capacity) {
      throw new IllegalArgumentException("KV cache holds " + cache.capacity + " tokens; cannot append " + n + " to " + past);
    }
    int c = cfg.hiddenSize(), h = cfg.numHeads(), kvh = cfg.numKvHeads(), hd = cfg.headDim();
    long kd = (long) kvh * hd;
    float eps = (float) cfg.rmsNormEps();
    if (cache.scratch == null || cache.scratchCap < n) {
      int cap = Math.max(n, 1);
      cache.scratch = new LayerActs(be, cfg, cap);
      cache.scratchCap = cap;
      cache.x = be.alloc((long) cap * c);
      cache.x2 = be.alloc((long) cap * c);
      cache.xf = be.alloc(c);
      cache.rstdF = be.alloc(1);
      cache.logits = be.alloc(cfg.vocabSize());
      cache.su = be.alloc((long) cap * (lora == null ? 1 : lora.config().rank()));
    }
    if (cache.su.size() < (long) n * (lora == null ? 1 : lora.config().rank())) {
      cache.su = be.alloc((long) cache.scratchCap * lora.config().rank());
    }
    LayerActs a = cache.scratch;
    int[] pos = new int[n];
    for (int i = 0; i < n; i++) {
      pos[i] = past + i;
      if (tokens[i] < 0 || tokens[i] >= cfg.vocabSize()) {
        throw new IllegalArgumentException("token " + tokens[i] + " is outside the vocabulary [0, " + cfg.vocabSize() + ")");
      }
    }
    Buf x = cache.x, su = cache.su;
    be.embeddingForward(x, embed.value, tokens, n, c);
    for (int l = 0; l < layers.length; l++) {
      Layer L = layers[l];
      be.rmsnormForward(a.xn1, a.rstd1, x, L.attnNorm.value, n, c, eps);
      L.q.forward(be, a.q, a.xn1, n, false, su);
      L.k.forward(be, a.k, a.xn1, n, false, su);
      L.v.forward(be, a.v, a.xn1, n, false, su);
      be.ropeForward(a.q, pos, n, h, hd, cfg.rope());
      be.ropeForward(a.k, pos, n, kvh, hd, cfg.rope());
      be.kvAppend(cache.k[l], cache.v[l], a.k, a.v, past, n, cache.rows, kvh, hd);
      be.attentionCached(a.att, a.q, cache.k[l], cache.v[l], past, n, cache.rows, h, kvh, hd);
      L.o.forward(be, x, a.att, n, true, su); // residual in place
      be.rmsnormForward(a.xn2, a.rstd2, x, L.mlpNorm.value, n, c, eps);
      L.gate.forward(be, a.g, a.xn2, n, false, su);
      L.up.forward(be, a.u, a.xn2, n, false, su);
      be.swigluForward(a.h, a.g, a.u, (long) n * cfg.intermediateSize());
      L.down.forward(be, x, a.h, n, true, su);
    }
    be.copy(cache.x2, 0, x, (long) (n - 1) * c, c);
    be.rmsnormForward(cache.xf, cache.rstdF, cache.x2, norm.value, 1, c, eps);
    be.matmulForward(cache.logits, cache.xf, head.value, null, 1, c, cfg.vocabSize(), false);
    cache.length = past + n;
    float[] out = new float[cfg.vocabSize()];
    be.download(cache.logits, out);
    return out;
  }
}
