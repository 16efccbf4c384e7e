package io.prefstream.model.io;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.safetensors.SafetensorsFile;
import io.prefstream.model.safetensors.SafetensorsWriter;
import io.prefstream.model.safetensors.ShardedSafetensors;
import io.prefstream.model.safetensors.TensorInfo;
import io.prefstream.model.safetensors.TensorSource;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.HfTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads and writes Hugging Face model directories: {@code config.json}, {@code model.safetensors}
 * (or {@code model.safetensors.index.json} with shards), {@code tokenizer.json} and friends, and
 * {@code generation_config.json}. Loading checks that every tensor the config implies is present
 * with the right shape and that nothing else is there, so a model that would silently compute
 * something different is refused with the tensor's name.
 */
public final class HfModelDir {
  private static final Logger log = LoggerFactory.getLogger(HfModelDir.class);
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";
  public static final String INDEX = "model.safetensors.index.json";
  public static final String GENERATION_CONFIG = "generation_config.json";
  /** The tokenizer files {@link #copyTokenizerFiles} carries over when present. */
  public static final List<String> TOKENIZER_FILES =
      List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja");

  private HfModelDir() {}

  /** Config, weights, tokenizer and generation defaults of a model directory. */
  public static HfModel load(Path dir) throws IOException {
    HfModelConfig cfg = HfConfigJson.readDetailed(dir.resolve(CONFIG));
    GenerationDefaults generation = GenerationDefaults.read(dir, cfg);
    Map<String, NamedTensor> weights = loadWeights(dir, cfg.config());
    HfTokenizer tok = HfTokenizer.load(dir);
    if (tok.vocabSize() > cfg.config().vocabSize()) {
      tok.close();
      throw new ModelFormatException(dir + ": tokenizer has " + tok.vocabSize() + " ids but config.json vocab_size is "
          + cfg.config().vocabSize());
    }
    return new HfModel(cfg, weights, tok, generation);
  }

  /** Opens the directory's single safetensors file, or its sharded set when only the index exists. */
  public static TensorSource openWeights(Path dir) throws IOException {
    if (Files.isRegularFile(dir.resolve(WEIGHTS))) return SafetensorsFile.open(dir.resolve(WEIGHTS));
    if (Files.isRegularFile(dir.resolve(INDEX))) return ShardedSafetensors.open(dir.resolve(INDEX));
    String hint = Files.exists(dir.resolve("pytorch_model.bin"))
        ? " (pytorch_model.bin is a pickle; convert it to safetensors)" : "";
    throw new ModelFormatException(dir + ": neither " + WEIGHTS + " nor " + INDEX + " found" + hint);
  }

  /** The weights the config implies, read as float32 and checked by name and shape. */
  public static Map<String, NamedTensor> loadWeights(Path dir, LlamaConfig config) throws IOException {
    try (TensorSource src = openWeights(dir)) {
      return readChecked(src, config, dir.toString());
    }
  }

  /** Reads and checks the weights of {@code config} from any tensor source; {@code where} names it. */
  public static Map<String, NamedTensor> readChecked(TensorSource src, LlamaConfig config, String where)
      throws IOException {
    Map<String, int[]> expected = LlamaWeights.expectedShapes(config);
    List<String> missing = new ArrayList<>();
    for (Map.Entry<String, int[]> e : expected.entrySet()) {
      if (!src.names().contains(e.getKey())) {
        missing.add(e.getKey());
        continue;
      }
      TensorInfo info = src.info(e.getKey());
      if (!Arrays.equals(info.shape(), e.getValue())) {
        throw new ModelFormatException(where + ": tensor '" + e.getKey() + "' has shape " + Arrays.toString(info.shape())
            + " but config.json implies " + Arrays.toString(e.getValue()));
      }
    }
    if (!missing.isEmpty()) {
      throw new ModelFormatException(where + ": " + missing.size() + " tensor(s) the config implies are missing: "
          + abbreviate(missing));
    }
    List<String> extra = new ArrayList<>();
    boolean tiedHeadPresent = false;
    for (String name : src.names()) {
      if (expected.containsKey(name)) continue;
      if (name.endsWith(".rotary_emb.inv_freq")) continue; // a recomputed buffer older exports include
      if (name.equals(LlamaWeights.LM_HEAD) && config.tieWordEmbeddings()) {
        tiedHeadPresent = true;
        continue;
      }
      extra.add(name);
    }
    if (!extra.isEmpty()) {
      throw new ModelFormatException(where + ": " + extra.size() + " tensor(s) this architecture does not use: "
          + abbreviate(extra) + " (attention_bias/tie_word_embeddings in config.json may disagree with the weights)");
    }
    Map<String, NamedTensor> out = new LinkedHashMap<>();
    for (String name : expected.keySet()) out.put(name, src.read(name));
    if (tiedHeadPresent) {
      NamedTensor head = src.read(LlamaWeights.LM_HEAD);
      if (!Arrays.equals(head.data(), out.get(LlamaWeights.EMBED).data())) {
        throw new ModelFormatException(where + ": tie_word_embeddings is true but lm_head.weight differs from "
            + "model.embed_tokens.weight");
      }
      log.debug("{}: dropping lm_head.weight, a copy of the tied embeddings", where);
    }
    return out;
  }

  private static String abbreviate(List<String> names) {
    return names.size() <= 6 ? names.toString() : names.subList(0, 6) + " and " + (names.size() - 6) + " more";
  }

  /**
   * Writes config.json, generation_config.json and model.safetensors (in {@code dtype}, F32 or BF16)
   * into {@code dir}; the weights must be exactly those the config implies. Tokenizer files are the
   * caller's (see {@link #copyTokenizerFiles} and
   * {@link io.prefstream.model.tokenizer.ByteLevelTokenizerFiles}).
   */
  public static void write(Path dir, LlamaConfig config, Map<String, NamedTensor> weights, DType dtype)
      throws IOException {
    Map<String, int[]> expected = LlamaWeights.expectedShapes(config);
    List<NamedTensor> ordered = new ArrayList<>();
    for (Map.Entry<String, int[]> e : expected.entrySet()) {
      NamedTensor t = weights.get(e.getKey());
      if (t == null) throw new IllegalArgumentException("weight '" + e.getKey() + "' missing");
      if (!Arrays.equals(t.shape(), e.getValue())) {
        throw new IllegalArgumentException("weight '" + e.getKey() + "' has shape " + Arrays.toString(t.shape())
            + ", expected " + Arrays.toString(e.getValue()));
      }
      ordered.add(t);
    }
    for (String name : weights.keySet()) {
      if (!expected.containsKey(name) && !(name.equals(LlamaWeights.LM_HEAD) && config.tieWordEmbeddings())) {
        throw new IllegalArgumentException("weight '" + name + "' is not part of this architecture");
      }
    }
    Files.createDirectories(dir);
    String torchDtype = dtype == DType.BF16 ? "bfloat16" : "float32";
    HfConfigJson.write(dir.resolve(CONFIG), config, torchDtype);
    ObjectNode gen = HfConfigJson.JSON.createObjectNode();
    gen.put("_from_model_config", true);
    if (config.bosTokenId() >= 0) gen.put("bos_token_id", config.bosTokenId());
    if (config.eosTokenId() >= 0) gen.put("eos_token_id", config.eosTokenId());
    Files.writeString(dir.resolve(GENERATION_CONFIG), HfConfigJson.JSON.writeValueAsString(gen) + "\n");
    SafetensorsWriter.write(dir.resolve(WEIGHTS), ordered, Map.of("format", "pt"), dtype);
  }

  /**
   * Copies whichever of the tokenizer files exist in {@code from} into {@code to}, and the base's
   * {@code generation_config.json} when it has one (replacing the minimal one {@link #write} wrote), so a
   * fine-tuned directory keeps the base's EOS list and sampling defaults.
   */
  public static void copyTokenizerFiles(Path from, Path to) throws IOException {
    Files.createDirectories(to);
    boolean any = false;
    for (String f : TOKENIZER_FILES) {
      if (Files.isRegularFile(from.resolve(f))) {
        Files.copy(from.resolve(f), to.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        any = true;
      }
    }
    if (!any) throw new ModelFormatException(from + ": no tokenizer files to copy");
    if (Files.isRegularFile(from.resolve(GENERATION_CONFIG))) {
      Files.copy(from.resolve(GENERATION_CONFIG), to.resolve(GENERATION_CONFIG), StandardCopyOption.REPLACE_EXISTING);
    }
  }
}
