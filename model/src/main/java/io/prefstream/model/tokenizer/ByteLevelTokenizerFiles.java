package io.prefstream.model.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a Hugging Face tokenizer for a byte-level BPE vocabulary: ids 0-255 are the bytes
 * themselves, 256-258 the specials {@code <|bos|>}, {@code <|eos|>}, {@code <|pad|>}, and 259 on the
 * results of the given merges (none gives a pure byte vocabulary). Any UTF-8 text round-trips exactly:
 * no normaliser, GPT-2's ByteLevel pre-tokenizer and decoder, no prefix space. Nothing is added
 * around encoded text; callers put BOS/EOS where their sequences need them. Produces
 * {@code tokenizer.json}, {@code tokenizer_config.json} and {@code special_tokens_map.json}, which
 * both DJL and transformers' {@code PreTrainedTokenizerFast} load.
 */
public final class ByteLevelTokenizerFiles {
  public static final String BOS = "<|bos|>";
  public static final String EOS = "<|eos|>";
  public static final String PAD = "<|pad|>";
  public static final int BOS_ID = 256;
  public static final int EOS_ID = 257;
  public static final int PAD_ID = 258;
  public static final int FIRST_MERGE_ID = 259;

  private static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  private ByteLevelTokenizerFiles() {}

  /** The vocabulary ids: bytes, specials, then each distinct merge result in merge order. */
  public static Map<String, Integer> vocabulary(List<BpeMerge> merges) {
    Map<String, Integer> vocab = new LinkedHashMap<>();
    for (int b = 0; b < 256; b++) vocab.put(String.valueOf(ByteLevel.charOf(b)), b);
    vocab.put(BOS, BOS_ID);
    vocab.put(EOS, EOS_ID);
    vocab.put(PAD, PAD_ID);
    int next = FIRST_MERGE_ID;
    for (BpeMerge m : merges) {
      if (!vocab.containsKey(m.left()) || !vocab.containsKey(m.right())) {
        throw new IllegalArgumentException("merge " + m + " uses a token that no earlier merge or byte produces");
      }
      if (!vocab.containsKey(m.merged())) vocab.put(m.merged(), next++);
    }
    return vocab;
  }

  /** The vocabulary size a model needs for these merges. */
  public static int vocabSize(List<BpeMerge> merges) {
    return vocabulary(merges).size();
  }

  /** Writes the three tokenizer files into {@code dir} (created if needed). */
  public static void write(Path dir, List<BpeMerge> merges, int modelMaxLength) throws IOException {
    Files.createDirectories(dir);
    Map<String, Integer> vocab = vocabulary(merges);
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (String s : List.of(BOS, EOS, PAD)) {
      added.addObject().put("id", vocab.get(s)).put("content", s).put("single_word", false).put("lstrip", false)
          .put("rstrip", false).put("normalized", false).put("special", true);
    }
    root.putNull("normalizer");
    root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false)
        .put("trim_offsets", true).put("use_regex", true);
    root.putObject("post_processor").put("type", "ByteLevel").put("add_prefix_space", false)
        .put("trim_offsets", false).put("use_regex", true);
    root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", false)
        .put("trim_offsets", true).put("use_regex", true);
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.putNull("dropout");
    model.putNull("unk_token");
    model.putNull("continuing_subword_prefix");
    model.putNull("end_of_word_suffix");
    model.put("fuse_unk", false);
    model.put("byte_fallback", false);
    model.put("ignore_merges", false);
    ObjectNode v = model.putObject("vocab");
    vocab.forEach(v::put);
    ArrayNode m = model.putArray("merges");
    for (BpeMerge merge : merges) m.add(merge.left() + " " + merge.right());
    Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(root) + "\n");

    ObjectNode cfg = JSON.createObjectNode();
    cfg.put("tokenizer_class", "PreTrainedTokenizerFast");
    cfg.put("bos_token", BOS).put("eos_token", EOS).put("pad_token", PAD).putNull("unk_token");
    cfg.put("add_bos_token", false).put("add_eos_token", false);
    cfg.put("clean_up_tokenization_spaces", false);
    cfg.put("model_max_length", modelMaxLength);
    ObjectNode dec = cfg.putObject("added_tokens_decoder");
    for (String s : List.of(BOS, EOS, PAD)) {
      dec.putObject(String.valueOf(vocab.get(s))).put("content", s).put("lstrip", false).put("normalized", false)
          .put("rstrip", false).put("single_word", false).put("special", true);
    }
    Files.writeString(dir.resolve("tokenizer_config.json"), JSON.writeValueAsString(cfg) + "\n");

    ObjectNode map = JSON.createObjectNode();
    map.put("bos_token", BOS).put("eos_token", EOS).put("pad_token", PAD);
    Files.writeString(dir.resolve("special_tokens_map.json"), JSON.writeValueAsString(map) + "\n");
  }
}
