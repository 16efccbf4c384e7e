package io.prefstream.model.config;

/**
 * The shape of a Llama-architecture decoder, as Hugging Face's {@code config.json} gives it
 * (Llama, Qwen2 and SmolLM use these fields). Parsing and refusal of unsupported fields live in the
 * loader; this record only checks that the numbers fit together.
 *
 * @param vocabSize         {@code vocab_size}
 * @param hiddenSize        {@code hidden_size} (C)
 * @param intermediateSize  {@code intermediate_size} of the SwiGLU MLP
 * @param numLayers         {@code num_hidden_layers}
 * @param numHeads          {@code num_attention_heads}
 * @param numKvHeads        {@code num_key_value_heads} (grouped-query attention when fewer than heads)
 * @param headDim           {@code head_dim}, default hidden/heads
 * @param maxPositions      {@code max_position_embeddings}
 * @param rmsNormEps        {@code rms_norm_eps}
 * @param rope              {@code rope_theta} and {@code rope_scaling} (or {@code rope_parameters})
 * @param tieWordEmbeddings {@code tie_word_embeddings}: lm_head shares embed_tokens' weight
 * @param attentionBias     {@code attention_bias} (Qwen2 has q/k/v biases)
 * @param bosTokenId        {@code bos_token_id}, -1 when absent
 * @param eosTokenId        {@code eos_token_id}, -1 when absent
 */
public record LlamaConfig(
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int numLayers,
    int numHeads,
    int numKvHeads,
    int headDim,
    int maxPositions,
    double rmsNormEps,
    Rope rope,
    boolean tieWordEmbeddings,
    boolean attentionBias,
    int bosTokenId,
    int eosTokenId) {

  public LlamaConfig {
    positive("vocab_size", vocabSize);
    positive("hidden_size", hiddenSize);
    positive("intermediate_size", intermediateSize);
    positive("num_hidden_layers", numLayers);
    positive("num_attention_heads", numHeads);
    positive("num_key_value_heads", numKvHeads);
    positive("head_dim", headDim);
    positive("max_position_embeddings", maxPositions);
    if (numHeads % numKvHeads != 0) {
      throw new IllegalArgumentException("num_attention_heads (" + numHeads
          + ") must be a multiple of num_key_value_heads (" + numKvHeads + ")");
    }
    if (headDim % 2 != 0) throw new IllegalArgumentException("head_dim must be even for RoPE, got " + headDim);
    if (!(rmsNormEps > 0)) throw new IllegalArgumentException("rms_norm_eps must be > 0, got " + rmsNormEps);
    if (rope == null) throw new IllegalArgumentException("rope must not be null");
  }

  /** A config with unscaled RoPE of base {@code ropeTheta}. */
  public LlamaConfig(int vocabSize, int hiddenSize, int intermediateSize, int numLayers, int numHeads, int numKvHeads,
      int headDim, int maxPositions, double rmsNormEps, double ropeTheta, boolean tieWordEmbeddings,
      boolean attentionBias, int bosTokenId, int eosTokenId) {
    this(vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, maxPositions, rmsNormEps,
        Rope.unscaled(ropeTheta), tieWordEmbeddings, attentionBias, bosTokenId, eosTokenId);
  }

  private static void positive(String field, int v) {
    if (v <= 0) throw new IllegalArgumentException(field + " must be > 0, got " + v);
  }

  /** Query heads that share one key/value head. */
  public int groupSize() {
    return numHeads / numKvHeads;
  }
}
