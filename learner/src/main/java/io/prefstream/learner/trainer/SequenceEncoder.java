package io.prefstream.learner.trainer;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.tokenizer.Tokenizer;
import java.util.Arrays;

/**
 * Turns (prompt, response) text into the token sequence the model scores, as TRL's DPO trainer
 * builds it: BOS (when the model has one) + prompt tokens, then response tokens + EOS (when
 * {@code appendEos} and the model has one). Over-long sequences are truncated as TRL does by
 * default: the prompt keeps its end ({@code maxPromptLength} tokens, BOS included), then the
 * response keeps its start so that the whole fits {@code maxLength}.
 */
public final class SequenceEncoder {
  private final Tokenizer tokenizer;
  private final int bos;
  private final int eos;
  private final int maxLength;
  private final int maxPromptLength;

  public SequenceEncoder(Tokenizer tokenizer, LlamaConfig config, int maxLength, int maxPromptLength,
      boolean appendEos) {
    this.tokenizer = tokenizer;
    this.bos = config.bosTokenId() >= 0 ? config.bosTokenId() : tokenizer.bosId().orElse(-1);
    this.eos = !appendEos ? -1 : config.eosTokenId() >= 0 ? config.eosTokenId() : tokenizer.eosId().orElse(-1);
    if (maxLength > config.maxPositions()) {
      throw new IllegalArgumentException("max length " + maxLength + " exceeds the model's "
          + "max_position_embeddings " + config.maxPositions());
    }
    if (maxPromptLength < 1 || maxPromptLength >= maxLength) {
      throw new IllegalArgumentException("max prompt length " + maxPromptLength
          + ": expected at least 1 and less than the max length " + maxLength);
    }
    this.maxLength = maxLength;
    this.maxPromptLength = maxPromptLength;
  }

  /**
   * The sequence for one (prompt, response); throws {@link IllegalArgumentException} when it has no
   * prompt token (empty prompt, no BOS) or no response token (empty response, no EOS).
   */
  public PromptResponse encode(String prompt, String response) {
    int[] p = tokenizer.encode(prompt, false);
    int[] r = tokenizer.encode(response, false);
    int[] promptTokens;
    if (bos >= 0) {
      int keep = Math.min(p.length, maxPromptLength - 1);
      promptTokens = new int[keep + 1];
      promptTokens[0] = bos;
      System.arraycopy(p, p.length - keep, promptTokens, 1, keep);
    } else {
      promptTokens = Arrays.copyOfRange(p, Math.max(0, p.length - maxPromptLength), p.length);
    }
    if (promptTokens.length == 0) {
      throw new IllegalArgumentException("the prompt is empty and the model has no BOS token to start it");
    }
    int[] responseTokens = r;
    if (eos >= 0) {
      responseTokens = Arrays.copyOf(r, r.length + 1);
      responseTokens[r.length] = eos;
    }
    int room = maxLength - promptTokens.length;
    if (responseTokens.length > room) {
      responseTokens = Arrays.copyOf(responseTokens, room);
    }
    if (responseTokens.length == 0) {
      throw new IllegalArgumentException("the response is empty and no EOS token is appended");
    }
    return new PromptResponse(promptTokens, responseTokens);
  }
}
