package io.prefstream.model.generate;

import java.util.List;
import java.util.Set;

/**
 * How to pick each next token. temperature 0 means greedy (argmax); topK ≤ 0 and topP ≥ 1 disable
 * those filters. The same seed with the same model and prompt gives the same tokens.
 *
 * @param eosTokenIds generation ends when one of these tokens is sampled (a model may have several:
 *     Llama 3 Instruct ends a turn with {@code <|eot_id|>} and a text with {@code <|end_of_text|>})
 * @param stopStrings generation ends when the decoded text contains one of these
 */
public record SamplingParams(double temperature, int topK, double topP, long seed, int maxNewTokens,
    Set<Integer> eosTokenIds, List<String> stopStrings) {
  /** With one EOS id ({@code -1}: none). */
  public SamplingParams(double temperature, int topK, double topP, long seed, int maxNewTokens, int eosTokenId,
      List<String> stopStrings) {
    this(temperature, topK, topP, seed, maxNewTokens, eosTokenId < 0 ? Set.of() : Set.of(eosTokenId), stopStrings);
  }

  public SamplingParams {
    eosTokenIds = Set.copyOf(eosTokenIds);
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
    }
    if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
    if (maxNewTokens < 1) throw new IllegalArgumentException("max new tokens must be >= 1, got " + maxNewTokens);
    stopStrings = List.copyOf(stopStrings);
    for (String s : stopStrings) if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
  }

  /** Greedy decoding of up to {@code maxNewTokens}, stopping at {@code eos}. */
  public static SamplingParams greedy(int maxNewTokens, int eos) {
    return new SamplingParams(0, 0, 1, 0, maxNewTokens, eos, List.of());
  }

  public SamplingParams withSeed(long s) {
    return new SamplingParams(temperature, topK, topP, s, maxNewTokens, eosTokenIds, stopStrings);
  }

  public SamplingParams withStopStrings(List<String> stops) {
    return new SamplingParams(temperature, topK, topP, seed, maxNewTokens, eosTokenIds, stops);
  }

  /** The same settings ending at any of {@code ids}. */
  public SamplingParams withEosTokenIds(Set<Integer> ids) {
    return new SamplingParams(temperature, topK, topP, seed, maxNewTokens, ids, stopStrings);
  }
}
