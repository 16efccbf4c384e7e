package io.prefstream.model.backend;

import io.prefstream.model.config.Rope;
import io.prefstream.model.config.RopeTable;

/**
 * The compute operations a Llama decoder needs, forward and backward, on opaque {@link Buf}
 * handles. The model is written once against this interface; the CPU backend implements it with
 * the Vector API, a GPU backend with device buffers and kernels. Shapes are explicit in every
 * signature (llm.c style): {@code n} rows (tokens), {@code c} channels, row-major layouts. Small
 * index arrays (tokens, positions, sequence layout) are passed as host arrays; a device backend
 * uploads them.
 *
 * <p>Ops named {@code ...Backward} accumulate into parameter gradients ({@code +=}) so gradients
 * of several calls add up; activation gradients are overwritten unless the op says otherwise.
 * Every op is deterministic: the same inputs give bit-identical outputs whatever the thread count.
 */
public interface Backend extends AutoCloseable {

  // ---- memory ------------------------------------------------------------------------------

  /** A zero-filled buffer of {@code n} floats. */
  Buf alloc(long n);

  /**
   * A weight matrix [out, in] (row-major, PyTorch's Linear layout) that linear ops read. The backend
   * may keep extra layouts of it; call {@link #refreshWeight} after its contents change.
   */
  Buf weight(float[] data, int out, int in);

  /**
   * A weight as {@link #weight(float[], int, int)}, saying whether it is trained. A device backend
   * keeps frozen weights in bf16 for its matrix products and trainable ones (LoRA factors, FULL
   * fine-tuning) in float32; backends without that distinction ignore the flag.
   */
  default Buf weight(float[] data, int out, int in, boolean trainable) {
    return weight(data, out, in);
  }

  /** Re-derives any cached layouts of a weight after its values were written. */
  void refreshWeight(Buf weight);

  /** Copies host data into a buffer; uploading into a weight also refreshes its derived layouts. */
  void upload(Buf dst, float[] src);

  void download(Buf src, float[] dst);

  /** Copies {@code n} floats from {@code src[srcOff..]} into {@code dst[dstOff..]}. */
  void copy(Buf dst, long dstOff, Buf src, long srcOff, long n);

  void zero(Buf b);

  /** {@code x[0..n) *= s}. */
  void scale(Buf x, long n, float s);

  /** {@code dst[0..n) += src[0..n)}. */
  void addInPlace(Buf dst, Buf src, long n);

  // ---- linear algebra ----------------------------------------------------------------------

  /** y[n,out] = x[n,in]·W[out,in]ᵀ (+ bias[out] when not null); added to y when accumulate. */
  void matmulForward(Buf y, Buf x, Buf w, Buf bias, int n, int in, int out, boolean accumulate);

  /**
   * Several products of one input: {@code ys[p][n,outs[p]] = x[n,in]·ws[p]ᵀ (+ biases[p] when not
   * null)}, each exactly as {@link #matmulForward} computes it (bit for bit). A backend may run them
   * as one parallel loop (the q/k/v projections of a layer, or gate and up, share their input); this
   * default runs them one after another.
   */
  default void matmulForwardShared(Buf[] ys, Buf x, Buf[] ws, Buf[] biases, int n, int in, int[] outs) {
    for (int p = 0; p < ws.length; p++) matmulForward(ys[p], x, ws[p], biases[p], n, in, outs[p], false);
  }

  /** dx[n,in] = dy[n,out]·W[out,in]; added to dx when accumulate. */
  void matmulBackwardInput(Buf dx, Buf dy, Buf w, int n, int in, int out, boolean accumulate);

  /** dW[out,in] += dy[n,out]ᵀ·x[n,in]. */
  void matmulBackwardWeight(Buf dw, Buf dy, Buf x, int n, int in, int out);

  /** db[out] += Σ_n dy[n,out]. */
  void biasBackward(Buf db, Buf dy, int n, int out);

  // ---- layers ------------------------------------------------------------------------------

  /** out[n,c] = table[tokens[i], :]. */
  void embeddingForward(Buf out, Buf table, int[] tokens, int n, int c);

  /** dTable[tokens[i], :] += dOut[i, :] (scatter-add, in token order). */
  void embeddingBackward(Buf dTable, Buf dOut, int[] tokens, int n, int c);

  /** out[n,c] = x·rstd·w with rstd[n] = 1/sqrt(mean(x²) + eps), saved for backward. */
  void rmsnormForward(Buf out, Buf rstd, Buf x, Buf w, int n, int c, float eps);

  /** dx[n,c] += ∂/∂x; dw[c] += ∂/∂w when dw is not null. */
  void rmsnormBackward(Buf dx, Buf dw, Buf dOut, Buf x, Buf w, Buf rstd, int n, int c);

  /**
   * Rotates x[n, heads·headDim] in place by RoPE (Hugging Face's rotate-half convention) at the
   * given per-row positions; angle_i = pos · f_i with f_i from {@link Rope#inverseFrequencies}
   * (θ^(-2i/headDim), rescaled by the rope's scaling), tabulated by {@link RopeTable}.
   */
  void ropeForward(Buf x, int[] positions, int n, int heads, int headDim, Rope rope);

  /** The transpose of {@link #ropeForward}: rotates the gradient back, in place. */
  void ropeBackward(Buf dx, int[] positions, int n, int heads, int headDim, Rope rope);

  /**
   * Causal grouped-query attention within each sequence of a packed batch: q[n, heads·hd],
   * k/v[n, kvHeads·hd] → out[n, heads·hd]; lse[n, heads] keeps each row's log-sum-exp of the scaled
   * scores for backward. Softmax in float32 with scale 1/sqrt(hd).
   */
  void attentionForward(Buf out, Buf lse, Buf q, Buf k, Buf v, SeqLayout layout,
      int heads, int kvHeads, int headDim);

  /** Gradients of {@link #attentionForward}: dq, dk, dv overwritten. */
  void attentionBackward(Buf dq, Buf dk, Buf dv, Buf dOut, Buf out, Buf lse, Buf q, Buf k, Buf v,
      SeqLayout layout, int heads, int kvHeads, int headDim);

  /** Row granularity of KV caches: a cache's capacity must be a multiple of this. */
  int KV_CACHE_ALIGN = 64;

  /**
   * Writes keys and values of n new tokens (k/v[n, kvHeads·hd]) at positions past..past+n-1 of a
   * layer's KV cache. Each cache buffer holds capacity·kvHeads·hd floats (capacity a multiple of
   * {@link #KV_CACHE_ALIGN}); its layout is the backend's own, so fill it only through this op.
   */
  void kvAppend(Buf kCache, Buf vCache, Buf k, Buf v, int past, int n, int capacity, int kvHeads, int headDim);

  /**
   * Copies positions 0..n-1 of one layer's keys and values from a cache of {@code srcCapacity} rows
   * into one of {@code dstCapacity} rows (both filled by {@link #kvAppend}), so a sequence whose
   * tokens start with another's can start from that prefix instead of computing it again.
   */
  void kvCopyPrefix(Buf dstK, Buf dstV, int dstCapacity, Buf srcK, Buf srcV, int srcCapacity, int n, int kvHeads,
      int headDim);

  /**
   * Attention of n new queries q[n, heads·hd] (absolute positions past..past+n-1) over the cache
   * positions 0..past+i (filled by {@link #kvAppend}). For generation.
   */
  void attentionCached(Buf out, Buf q, Buf kCache, Buf vCache, int past, int n, int capacity,
      int heads, int kvHeads, int headDim);

  /** h[n] = silu(g)·u. */
  void swigluForward(Buf h, Buf g, Buf u, long n);

  /** dg, du overwritten from dh. */
  void swigluBackward(Buf dg, Buf du, Buf dh, Buf g, Buf u, long n);

  /** dst[i, :] = src[rows[i], :] for i < rows.length. */
  void gatherRows(Buf dst, Buf src, int[] rows, int c);

  /** dst[rows[i], :] += src[i, :]. Rows must be distinct. */
  void scatterAddRows(Buf dst, Buf src, int[] rows, int c);

  // ---- fused output layer ------------------------------------------------------------------

  /**
   * For m rows of hidden[m,c], logits = hidden·head[vocab,c]ᵀ computed a chunk of rows at a time
   * (never for the whole batch): logp[i] = logits[i, targets[i]] − logsumexp(logits[i]); lse[i]
   * saved for backward.
   */
  void logSoftmaxGatherForward(Buf logp, Buf lse, Buf hidden, Buf head, int[] targets, int m, int c, int vocab);

  /**
   * Backward of {@link #logSoftmaxGatherForward} given g[i] = dL/dlogp[i]: recomputes each chunk's
   * logits, forms dlogits = g·(onehot − softmax) on the fly, dHidden[m,c] overwritten, dHead += when
   * not null.
   */
  void logSoftmaxGatherBackward(Buf dHidden, Buf dHead, Buf g, Buf hidden, Buf head, Buf lse,
      int[] targets, int m, int c, int vocab);

  // ---- optimiser ---------------------------------------------------------------------------

  /**
   * Σ x[i]² over i &lt; n, accumulated in double (the global gradient norm is the square root of
   * the sum over all gradients). This default reads the buffer back to the host.
   */
  default double sumSquares(Buf x, long n) {
    float[] h = new float[Math.toIntExact(n)];
    download(x, h);
    return AdamWCoefficients.sumSquares(h, h.length);
  }

  /**
   * One AdamW update of n elements in place (p, m, v; g only read), with the scalars of
   * {@link AdamWCoefficients} (clip scale, bias corrections, decay already folded in). Same float
   * arithmetic per element as the host twin {@link AdamWCoefficients#update}; this default runs
   * that twin on host copies.
   */
  default void adamwUpdate(Buf p, Buf g, Buf m, Buf v, long n, AdamWCoefficients c) {
    int k = Math.toIntExact(n);
    float[] ph = new float[k], gh = new float[k], mh = new float[k], vh = new float[k];
    download(p, ph);
    download(g, gh);
    download(m, mh);
    download(v, vh);
    c.update(ph, gh, mh, vh, k);
    upload(p, ph);
    upload(m, mh);
    upload(v, vh);
  }

  @Override
  void close();
}
