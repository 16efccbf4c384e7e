package io.prefstream.model.generate;

import io.prefstream.model.llama.KvCache;
import io.prefstream.model.llama.LlamaModel;
import java.util.Arrays;

/**
 * Autoregressive generation with a KV cache: one prefill pass over the prompt, then one cached
 * decode step per new token, sampling per {@link SamplingParams}. Each call owns its cache, so
 * calls on different threads only share the (read-only) weights.
 */
public final class Generator {
  private final LlamaModel model;

  public Generator(LlamaModel model) {
    this.model = model;
  }

  /**
   * Checks a generation request against {@code model} and returns how many tokens it may generate:
   * {@code max_new_tokens}, capped by what is left of the model's context after the prompt. The one
   * rule for every decode path (this generator and the serving engine).
   */
  public static int tokenBudget(LlamaModel model, int[] prompt, SamplingParams params, TokenText text) {
    if (prompt.length == 0) throw new IllegalArgumentException("prompt must have at least one token");
    if (!params.stopStrings().isEmpty() && text == null) {
      throw new IllegalArgumentException("stop strings need a TokenText to decode the generated tokens");
    }
    int max = model.config().maxPositions();
    if (prompt.length >= max) {
      throw new IllegalArgumentException("prompt has " + prompt.length + " tokens; the model's context is " + max);
    }
    return Math.min(params.maxNewTokens(), max - prompt.length);
  }

  /**
   * Generates a continuation of {@code prompt}. {@code text} (nullable) decodes tokens for stop
   * strings and the result's text; {@code listener} (nullable) sees each token as it is chosen.
   */
  public GenerationResult generate(int[] prompt, SamplingParams params, TokenText text, TokenListener listener) {
    int budget = tokenBudget(model, prompt, params, text);
    KvCache cache = model.newKvCache(prompt.length + budget);
    Sampler sampler = new Sampler(params);
    int[] out = new int[budget];
    int count = 0;
    float[] logits = model.forwardCached(cache, prompt);
    FinishReason reason = FinishReason.LENGTH;
    String decoded = "";
    while (count < budget) {
      int token = sampler.sample(logits);
      if (params.eosTokenIds().contains(token)) {
        reason = FinishReason.EOS;
        break;
      }
      out[count++] = token;
      if (listener != null) listener.onToken(token);
      if (text != null) {
        decoded = text.decode(Arrays.copyOf(out, count));
        int cut = firstStop(decoded, params);
        if (cut >= 0) {
          decoded = decoded.substring(0, cut);
          reason = FinishReason.STOP;
          break;
        }
      }
      if (count < budget) logits = model.forwardCached(cache, new int[] {token});
    }
    return new GenerationResult(Arrays.copyOf(out, count), decoded, reason);
  }

  private static int firstStop(String s, SamplingParams params) {
    int best = -1;
    for (String stop : params.stopStrings()) {
      int i = s.indexOf(stop);
      if (i >= 0 && (best < 0 || i < best)) best = i;
    }
    return best;
  }
}
