package io.prefstream.model.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

/**
 * What a Hugging Face model directory says about its tokenizer beyond {@code tokenizer.json}, read
 * the way {@code transformers} reads it: the special tokens ({@code bos_token}, {@code eos_token},
 * {@code pad_token}, {@code unk_token}) from {@code tokenizer_config.json}, overridden by
 * {@code special_tokens_map.json} where that names one; the chat template from
 * {@code chat_template.jinja} when present, else {@code tokenizer_config.json}'s
 * {@code chat_template} (a string, or a list of named templates of which "default" is taken);
 * {@code add_bos_token}/{@code add_eos_token}, which only Llama- and Gemma-class tokenizers apply
 * (they rebuild the post-processor from them; other classes follow {@code tokenizer.json}).
 * {@code config.json} plays no part: a tokenizer without a BOS token has none.
 */
public record TokenizerConfig(
    String tokenizerClass,
    Optional<String> bosToken,
    Optional<String> eosToken,
    Optional<String> padToken,
    Optional<String> unkToken,
    Optional<String> chatTemplate,
    boolean addBosToken,
    boolean addEosToken) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Tokenizer classes whose fast implementation builds its post-processor from add_bos/add_eos. */
  private static final Set<String> POST_PROCESSOR_FROM_FLAGS = Set.of("LlamaTokenizer", "LlamaTokenizerFast",
      "CodeLlamaTokenizer", "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast");

  /** No tokenizer files beyond tokenizer.json: nothing special, no template. */
  public static TokenizerConfig none() {
    return new TokenizerConfig("", Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
        Optional.empty(), false, false);
  }

  /**
   * Whether encoding with special tokens follows {@link #addBosToken()}/{@link #addEosToken()}
   * instead of {@code tokenizer.json}'s post-processor (as transformers' Llama/Gemma fast tokenizers do).
   */
  public boolean flagsOverridePostProcessor() {
    return POST_PROCESSOR_FROM_FLAGS.contains(tokenizerClass);
  }

  /** Reads the files of {@code dir}; a file that is absent contributes nothing. */
  public static TokenizerConfig read(Path dir) throws IOException {
    JsonNode cfg = readJson(dir.resolve("tokenizer_config.json"));
    JsonNode map = readJson(dir.resolve("special_tokens_map.json"));
    String cls = cfg.path("tokenizer_class").asText("");
    boolean llamaLike = POST_PROCESSOR_FROM_FLAGS.contains(cls);
    Path jinja = dir.resolve("chat_template.jinja");
    Optional<String> template;
    if (Files.isRegularFile(jinja)) {
      template = Optional.of(Files.readString(jinja));
    } else {
      template = chatTemplate(cfg.get("chat_template"), dir.resolve("tokenizer_config.json"));
    }
    return new TokenizerConfig(cls,
        token(cfg, map, "bos_token"), token(cfg, map, "eos_token"), token(cfg, map, "pad_token"),
        token(cfg, map, "unk_token"), template,
        flag(cfg, "add_bos_token", llamaLike), flag(cfg, "add_eos_token", false));
  }

  private static JsonNode readJson(Path file) throws IOException {
    if (!Files.isRegularFile(file)) return JSON.createObjectNode();
    try {
      JsonNode n = JSON.readTree(Files.readString(file));
      if (n == null || !n.isObject()) throw new IOException(file + ": expected a JSON object");
      return n;
    } catch (JsonProcessingException e) {
      throw new IOException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
  }

  /** special_tokens_map.json wins over tokenizer_config.json, as in transformers' loading. */
  private static Optional<String> token(JsonNode cfg, JsonNode map, String key) {
    Optional<String> fromMap = tokenText(map.get(key));
    return fromMap.isPresent() ? fromMap : tokenText(cfg.get(key));
  }

  /** A token is a string or an AddedToken object with "content". */
  private static Optional<String> tokenText(JsonNode v) {
    if (v == null || v.isNull()) return Optional.empty();
    if (v.isTextual()) return Optional.of(v.asText());
    JsonNode c = v.get("content");
    return c != null && c.isTextual() ? Optional.of(c.asText()) : Optional.empty();
  }

  private static boolean flag(JsonNode cfg, String key, boolean dflt) {
    JsonNode v = cfg.get(key);
    return v == null || v.isNull() ? dflt : v.asBoolean(dflt);
  }

  private static Optional<String> chatTemplate(JsonNode v, Path file) throws IOException {
    if (v == null || v.isNull()) return Optional.empty();
    if (v.isTextual()) return Optional.of(v.asText());
    if (v.isArray()) {
      for (JsonNode t : v) {
        if ("default".equals(t.path("name").asText()) && t.path("template").isTextual()) {
          return Optional.of(t.path("template").asText());
        }
      }
      throw new IOException(file + ": chat_template is a list of named templates without one named \"default\"");
    }
    throw new IOException(file + ": chat_template must be a string or a list of {name, template}, found " + v.getNodeType());
  }
}
