package io.prefstream.model.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A Hugging Face {@code tokenizer.json} run by DJL's binding of the Rust tokenizers library (native
 * code shipped inside the DJL jar, extracted under {@code DJL_CACHE_DIR}), loaded offline, with the
 * directory's {@link TokenizerConfig} (special tokens, chat template). The vocabulary size, token
 * texts and special ids come from reading the JSON files here, since the binding does not expose
 * them. BOS/EOS/PAD are the tokens the tokenizer files name, as {@code transformers} reads them;
 * {@code config.json} is not consulted (its ids matter for generation's stop set, not for encoding).
 * {@link #encode(String, boolean)} with special tokens applies {@code tokenizer.json}'s
 * post-processor, except for Llama/Gemma-class tokenizers, whose {@code add_bos_token} and
 * {@code add_eos_token} decide (as their fast implementations in transformers do).
 */
public final class HfTokenizer implements Tokenizer {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HuggingFaceTokenizer djl;
  private final String[] tokenTexts;
  private final Map<String, Integer> idsByText;
  private final BitSet special;
  private final TokenizerConfig files;
  private final OptionalInt bos;
  private final OptionalInt eos;
  private final OptionalInt pad;

  private HfTokenizer(HuggingFaceTokenizer djl, String[] tokenTexts, Map<String, Integer> idsByText, BitSet special,
      TokenizerConfig files) {
    this.djl = djl;
    this.tokenTexts = tokenTexts;
    this.idsByText = idsByText;
    this.special = special;
    this.files = files;
    this.bos = idOf(files.bosToken().orElse(null), idsByText);
    this.eos = idOf(files.eosToken().orElse(null), idsByText);
    this.pad = idOf(files.padToken().orElse(null), idsByText);
  }

  /** Loads {@code dir/tokenizer.json} with the special tokens and template of its other tokenizer files. */
  public static HfTokenizer load(Path dir) throws IOException {
    Path file = dir.resolve("tokenizer.json");
    if (!Files.isRegularFile(file)) throw new IOException(dir + ": no tokenizer.json");
    JsonNode root;
    try {
      root = JSON.readTree(Files.readString(file));
    } catch (JsonProcessingException e) {
      throw new IOException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    Map<String, Integer> ids = new HashMap<>();
    BitSet special = new BitSet();
    JsonNode model = root.path("model");
    JsonNode vocab = model.path("vocab");
    if (vocab.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        ids.put(e.getKey(), e.getValue().asInt());
      }
    } else if (vocab.isArray()) { // Unigram: [[piece, score], ...]
      for (int i = 0; i < vocab.size(); i++) ids.put(vocab.get(i).get(0).asText(), i);
    } else {
      throw new IOException(file + ": model.vocab missing; cannot tell the vocabulary size");
    }
    for (JsonNode t : root.path("added_tokens")) {
      int id = t.path("id").asInt();
      ids.put(t.path("content").asText(), id);
      if (t.path("special").asBoolean(false)) special.set(id);
    }
    int size = ids.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
    String[] texts = new String[size];
    ids.forEach((text, id) -> texts[id] = text);
    TokenizerConfig files = TokenizerConfig.read(dir);
    requireKnown(dir, "bos_token", files.bosToken(), ids);
    requireKnown(dir, "eos_token", files.eosToken(), ids);
    requireKnown(dir, "pad_token", files.padToken(), ids);

    HuggingFaceTokenizer djl = HuggingFaceTokenizer.builder()
        .optTokenizerPath(file)
        .optAddSpecialTokens(true)
        .optTruncation(false)
        .optPadding(false)
        .build();
    return new HfTokenizer(djl, texts, Map.copyOf(ids), special, files);
  }

  /** A special token named in the tokenizer files must exist, or every id derived from it would be wrong. */
  private static void requireKnown(Path dir, String key, Optional<String> token, Map<String, Integer> ids)
      throws IOException {
    if (token.isPresent() && !ids.containsKey(token.get())) {
      throw new IOException(dir + ": " + key + " '" + token.get() + "' is neither in tokenizer.json's vocabulary"
          + " nor among its added tokens");
    }
  }

  private static OptionalInt idOf(String text, Map<String, Integer> ids) {
    if (text != null && ids.containsKey(text)) return OptionalInt.of(ids.get(text));
    return OptionalInt.empty();
  }

  @Override
  public TokenizerConfig files() {
    return files;
  }

  @Override
  public int[] encode(String text, boolean addSpecialTokens) {
    boolean flags = addSpecialTokens && files.flagsOverridePostProcessor();
    long[] ids = djl.encode(text, addSpecialTokens && !flags, false).getIds();
    boolean addBos = flags && files.addBosToken() && bos.isPresent();
    boolean addEos = flags && files.addEosToken() && eos.isPresent();
    int[] out = new int[ids.length + (addBos ? 1 : 0) + (addEos ? 1 : 0)];
    int o = 0;
    if (addBos) out[o++] = bos.getAsInt();
    for (long id : ids) out[o++] = (int) id;
    if (addEos) out[o] = eos.getAsInt();
    return out;
  }

  @Override
  public String decode(int[] ids, boolean skipSpecialTokens) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= tokenTexts.length) {
        throw new IllegalArgumentException("token id " + ids[i] + " outside the vocabulary [0, " + tokenTexts.length + ")");
      }
      l[i] = ids[i];
    }
    return djl.decode(l, skipSpecialTokens);
  }

  @Override
  public int vocabSize() {
    return tokenTexts.length;
  }

  @Override
  public OptionalInt bosId() {
    return bos;
  }

  @Override
  public OptionalInt eosId() {
    return eos;
  }

  @Override
  public OptionalInt padId() {
    return pad;
  }

  @Override
  public String tokenText(int id) {
    return tokenTexts[id];
  }

  /** The id of a vocabulary entry or added token, if present. */
  public OptionalInt idOf(String tokenText) {
    Integer id = idsByText.get(tokenText);
    return id == null ? OptionalInt.empty() : OptionalInt.of(id);
  }

  @Override
  public boolean isSpecial(int id) {
    return special.get(id);
  }

  @Override
  public void close() {
    djl.close();
  }
}
