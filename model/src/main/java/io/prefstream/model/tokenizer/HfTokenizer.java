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
import java.util.OptionalInt;

/**
 * A Hugging Face {@code tokenizer.json} run by DJL's binding of the Rust tokenizers library (native
 * code shipped inside the DJL jar, extracted under {@code DJL_CACHE_DIR}), loaded offline. The
 * vocabulary size, token texts and special ids come from reading the JSON files here, since the
 * binding does not expose them: BOS/EOS/PAD from {@code tokenizer_config.json} (or
 * {@code special_tokens_map.json}), else from the fallbacks the caller takes from config.json.
 */
public final class HfTokenizer implements Tokenizer {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HuggingFaceTokenizer djl;
  private final String[] tokenTexts;
  private final Map<String, Integer> idsByText;
  private final BitSet special;
  private final OptionalInt bos;
  private final OptionalInt eos;
  private final OptionalInt pad;

  private HfTokenizer(HuggingFaceTokenizer djl, String[] tokenTexts, Map<String, Integer> idsByText, BitSet special,
      OptionalInt bos, OptionalInt eos, OptionalInt pad) {
    this.djl = djl;
    this.tokenTexts = tokenTexts;
    this.idsByText = idsByText;
    this.special = special;
    this.bos = bos;
    this.eos = eos;
    this.pad = pad;
  }

  /** Loads {@code dir/tokenizer.json} with the special tokens its tokenizer_config.json names. */
  public static HfTokenizer load(Path dir) throws IOException {
    return load(dir, -1, -1);
  }

  /**
   * Loads {@code dir/tokenizer.json}; {@code bosFallback}/{@code eosFallback} (from config.json, -1
   * for none) apply when the tokenizer files do not name a BOS/EOS token.
   */
  public static HfTokenizer load(Path dir, int bosFallback, int eosFallback) throws IOException {
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

    Map<String, String> specials = specialTokenNames(dir);
    OptionalInt bos = idOf(specials.get("bos_token"), ids, bosFallback);
    OptionalInt eos = idOf(specials.get("eos_token"), ids, eosFallback);
    OptionalInt pad = idOf(specials.get("pad_token"), ids, -1);

    HuggingFaceTokenizer djl = HuggingFaceTokenizer.builder()
        .optTokenizerPath(file)
        .optAddSpecialTokens(true)
        .optTruncation(false)
        .optPadding(false)
        .build();
    return new HfTokenizer(djl, texts, Map.copyOf(ids), special, bos, eos, pad);
  }

  /** bos/eos/pad token strings from tokenizer_config.json, else special_tokens_map.json. */
  private static Map<String, String> specialTokenNames(Path dir) throws IOException {
    Map<String, String> names = new HashMap<>();
    for (String f : new String[] {"special_tokens_map.json", "tokenizer_config.json"}) {
      Path p = dir.resolve(f);
      if (!Files.isRegularFile(p)) continue;
      JsonNode n = JSON.readTree(Files.readString(p));
      for (String key : new String[] {"bos_token", "eos_token", "pad_token"}) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) continue;
        names.put(key, v.isTextual() ? v.asText() : v.path("content").asText());
      }
    }
    return names;
  }

  private static OptionalInt idOf(String text, Map<String, Integer> ids, int fallback) {
    if (text != null && ids.containsKey(text)) return OptionalInt.of(ids.get(text));
    return fallback >= 0 ? OptionalInt.of(fallback) : OptionalInt.empty();
  }

  @Override
  public int[] encode(String text, boolean addSpecialTokens) {
    long[] ids = djl.encode(text, addSpecialTokens, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) out[i] = (int) ids[i];
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
