package io.prefstream.model.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;

/**
 * A model's {@code generation_config.json} as transformers' {@code GenerationConfig} reads it.
 * Fields the file leaves out take transformers' defaults (no sampling, temperature 1.0, top_k 50,
 * top_p 1.0, repetition_penalty 1.0); a JSON null disables its filter (top_k 0, temperature and
 * top_p 1.0). As in transformers, {@code temperature}, {@code top_k} and {@code top_p} only apply
 * when {@code do_sample} is true: otherwise decoding is greedy whatever they say ({@link #greedy}).
 * Token ids the file does not give are absent here (empty / -1), not taken from config.json; a
 * directory without the file gets {@link #fromModelConfig}, as transformers does.
 *
 * @param eosTokenIds       {@code eos_token_id}, one id or a list; empty when absent
 * @param bosTokenId        {@code bos_token_id}, -1 when absent
 * @param padTokenId        {@code pad_token_id}, -1 when absent
 * @param doSample          {@code do_sample}; false means greedy decoding
 * @param temperature       {@code temperature}, &gt; 0 when sampling
 * @param topK              {@code top_k}, 0 for no top-k filter
 * @param topP              {@code top_p} in [0, 1], 1 for no nucleus filter
 * @param maxNewTokens      {@code max_new_tokens} when given
 * @param repetitionPenalty {@code repetition_penalty}, 1.0 for none (kept; not applied by the sampler)
 */
public record GenerationDefaults(List<Integer> eosTokenIds, int bosTokenId, int padTokenId, boolean doSample,
    double temperature, int topK, double topP, OptionalInt maxNewTokens, double repetitionPenalty) {
  public static final double DEFAULT_TEMPERATURE = 1.0;
  public static final int DEFAULT_TOP_K = 50;
  public static final double DEFAULT_TOP_P = 1.0;

  /** Messages start with the JSON field name, so a loader can prefix the file. */
  public GenerationDefaults {
    eosTokenIds = List.copyOf(eosTokenIds);
    for (int id : eosTokenIds) if (id < 0) throw new IllegalArgumentException("eos_token_id must be >= 0, got " + id);
    if (bosTokenId < -1) throw new IllegalArgumentException("bos_token_id must be >= 0 or -1 for none, got " + bosTokenId);
    if (padTokenId < -1) throw new IllegalArgumentException("pad_token_id must be >= 0 or -1 for none, got " + padTokenId);
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
    }
    if (doSample && temperature == 0) {
      throw new IllegalArgumentException("temperature must be > 0 when do_sample is true (transformers refuses 0)");
    }
    if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0 (0 disables it), got " + topK);
    if (!(topP >= 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in [0, 1], got " + topP);
    if (maxNewTokens.isPresent() && maxNewTokens.getAsInt() < 1) {
      throw new IllegalArgumentException("max_new_tokens must be >= 1, got " + maxNewTokens.getAsInt());
    }
    if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
      throw new IllegalArgumentException("repetition_penalty must be a finite number > 0, got " + repetitionPenalty);
    }
  }

  /** True when decoding is greedy (argmax): {@code do_sample} false or absent, whatever the temperature says. */
  public boolean greedy() {
    return !doSample;
  }

  /**
   * What transformers uses when a directory has no generation_config.json
   * ({@code GenerationConfig.from_model_config}): the token ids of config.json, greedy decoding.
   */
  public static GenerationDefaults fromModelConfig(HfModelConfig config) {
    return new GenerationDefaults(config.eosTokenIds(), config.config().bosTokenId(), config.padTokenId().orElse(-1),
        false, DEFAULT_TEMPERATURE, DEFAULT_TOP_K, DEFAULT_TOP_P, OptionalInt.empty(), 1.0);
  }

  /** {@code dir/generation_config.json} when present, else {@link #fromModelConfig}. */
  public static GenerationDefaults read(Path dir, HfModelConfig config) throws IOException {
    Path file = dir.resolve(HfModelDir.GENERATION_CONFIG);
    if (!Files.isRegularFile(file)) return fromModelConfig(config);
    return parse(Files.readString(file), file.toString());
  }

  /** Parses generation_config.json text; {@code source} names it in error messages. */
  public static GenerationDefaults parse(String json, String source) throws ModelFormatException {
    JsonNode root;
    try {
      root = HfConfigJson.JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new ModelFormatException(source + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) throw new ModelFormatException(source + ": not a JSON object");
    JsonFields f = new JsonFields(root, source);
    // absent fields take GenerationConfig's defaults; null ones disable their filter
    double temperature = f.number("temperature", DEFAULT_TEMPERATURE);
    int topK = f.integer("top_k", root.has("top_k") ? 0 : DEFAULT_TOP_K);
    double topP = f.number("top_p", DEFAULT_TOP_P);
    OptionalInt maxNew = f.present("max_new_tokens") ? OptionalInt.of(f.integer("max_new_tokens", 0)) : OptionalInt.empty();
    try {
      return new GenerationDefaults(f.tokenIds("eos_token_id", List.of()), f.tokenId("bos_token_id", -1),
          f.tokenId("pad_token_id", -1), f.bool("do_sample", false), temperature, topK, topP, maxNew,
          f.number("repetition_penalty", 1.0));
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(source + ": " + e.getMessage(), e);
    }
  }
}
