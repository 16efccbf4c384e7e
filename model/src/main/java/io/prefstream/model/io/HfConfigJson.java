package io.prefstream.model.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.Rope;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Reads and writes Hugging Face's {@code config.json} for the decoders this project runs: Llama
 * (SmolLM is Llama), Qwen2 and Mistral without a sliding window. Absent fields take the defaults of
 * the matching transformers config class ({@code "bos_token_id": null} is no BOS, not the default);
 * RoPE scaling "linear" and "llama3" are read by {@link HfRopeJson}. Anything that would change the
 * computation in a way this implementation does not follow (other RoPE scaling, sliding windows,
 * other activations, MLP or output biases, quantisation) is refused with a message naming the field. Fields that only matter for
 * training in PyTorch (dropout, initializer range, pretraining_tp) are accepted and ignored.
 */
public final class HfConfigJson {
  static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  private static final Set<String> ARCHITECTURES = Set.of("LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM");

  /** transformers' defaults per model_type, for the fields a file may leave out. */
  private record Defaults(int vocab, int hidden, int intermediate, int layers, int heads, Integer kvHeads,
      int maxPositions, int bos, int eos) {}

  private static final Map<String, Defaults> DEFAULTS = Map.of(
      "llama", new Defaults(32000, 4096, 11008, 32, 32, null, 2048, 1, 2),
      "qwen2", new Defaults(151936, 4096, 22016, 32, 32, 32, 32768, -1, -1),
      "mistral", new Defaults(32000, 4096, 14336, 32, 32, 8, 4096 * 32, 1, 2));

  private HfConfigJson() {}

  /** Reads a config.json file into the architecture record. */
  public static LlamaConfig read(Path configJson) throws IOException {
    return readDetailed(configJson).config();
  }

  /** Reads a config.json file, keeping the model type, every EOS id, the pad id and the dtype. */
  public static HfModelConfig readDetailed(Path configJson) throws IOException {
    return parse(Files.readString(configJson), configJson.toString());
  }

  /** Parses config.json text; {@code source} names it in error messages. */
  public static HfModelConfig parse(String json, String source) throws ModelFormatException {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new ModelFormatException(source + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) throw new ModelFormatException(source + ": not a JSON object");
    JsonFields f = new JsonFields(root, source);

    String modelType = f.string("model_type", null);
    if (modelType == null || !DEFAULTS.containsKey(modelType)) {
      throw f.refuse("model_type", "'" + modelType + "' is not supported; expected llama, qwen2 or mistral"
          + " (SmolLM configs say llama)");
    }
    Defaults d = DEFAULTS.get(modelType);
    JsonNode arch = root.get("architectures");
    if (arch != null && !arch.isNull()) {
      if (!arch.isArray()) throw f.refuse("architectures", "must be a list of class names");
      for (JsonNode a : arch) {
        if (!ARCHITECTURES.contains(a.asText())) {
          throw f.refuse("architectures", "'" + a.asText() + "' is not supported; expected one of "
              + ARCHITECTURES);
        }
      }
    }
    String act = f.string("hidden_act", "silu");
    if (!act.equals("silu") && !act.equals("swish")) {
      throw f.refuse("hidden_act", "'" + act + "' is not supported; the SwiGLU MLP here uses silu");
    }
    if (f.bool("mlp_bias", false)) throw f.refuse("mlp_bias", "true is not supported; MLP projections have no bias");
    if (root.hasNonNull("quantization_config")) {
      throw f.refuse("quantization_config", "quantised checkpoints are not supported; give float weights");
    }
    boolean attentionBias;
    if (modelType.equals("qwen2")) {
      attentionBias = true; // Qwen2 always has q/k/v biases (and none on o_proj)
      if (f.bool("use_sliding_window", false)) {
        throw f.refuse("use_sliding_window", "true is not supported; only full attention is implemented");
      }
      JsonNode layerTypes = root.get("layer_types");
      if (layerTypes != null && layerTypes.isArray()) {
        for (JsonNode t : layerTypes) {
          if (!t.asText().equals("full_attention")) {
            throw f.refuse("layer_types", "'" + t.asText() + "' is not supported; only full_attention");
          }
        }
      }
    } else {
      // Llama's attention_bias also puts a bias on o_proj, which the decoder here does not have.
      if (f.bool("attention_bias", false)) {
        throw f.refuse("attention_bias", "true is not supported for " + modelType
            + " (it adds q/k/v/o biases); only Qwen2-style q/k/v biases are implemented");
      }
      attentionBias = false;
    }

    int vocab = f.integer("vocab_size", d.vocab());
    int hidden = f.integer("hidden_size", d.hidden());
    int intermediate = f.integer("intermediate_size", d.intermediate());
    int layers = f.integer("num_hidden_layers", d.layers());
    int heads = f.integer("num_attention_heads", d.heads());
    int kvHeads = f.integer("num_key_value_heads", d.kvHeads() == null ? heads : d.kvHeads());
    int maxPositions = f.integer("max_position_embeddings", d.maxPositions());
    if (modelType.equals("mistral")) {
      JsonNode sw = root.get("sliding_window");
      int window = sw == null ? 4096 : sw.isNull() ? -1 : f.integer("sliding_window", -1);
      if (window >= 0 && window < maxPositions) {
        throw f.refuse("sliding_window", window + " is active (below max_position_embeddings " + maxPositions
            + "); only full attention is implemented, set it to null");
      }
    }
    if (heads <= 0) throw f.refuse("num_attention_heads", "must be > 0, got " + heads);
    int headDim;
    if (root.hasNonNull("head_dim")) {
      headDim = f.integer("head_dim", 0);
    } else {
      if (hidden % heads != 0) {
        throw f.refuse("head_dim", "absent, and hidden_size " + hidden + " is not a multiple of num_attention_heads "
            + heads);
      }
      headDim = hidden / heads;
    }

    Rope rope = HfRopeJson.read(f);
    double eps = f.number("rms_norm_eps", 1e-6);
    boolean tie = f.bool("tie_word_embeddings", false);
    // "bos_token_id": null means the model has none; only an absent field takes the class default
    int bos = f.tokenIdOrNone("bos_token_id", d.bos());
    List<Integer> eosIds = f.tokenIds("eos_token_id", d.eos() >= 0 ? List.of(d.eos()) : List.of());
    Optional<Integer> pad = root.hasNonNull("pad_token_id") ? Optional.of(f.tokenId("pad_token_id", -1))
        : Optional.empty();
    Optional<String> dtype = Optional.ofNullable(f.string("torch_dtype", f.string("dtype", null)));

    LlamaConfig config;
    try {
      config = new LlamaConfig(vocab, hidden, intermediate, layers, heads, kvHeads, headDim, maxPositions, eps,
          rope, tie, attentionBias, bos, eosIds.isEmpty() ? -1 : eosIds.getFirst());
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(source + ": " + e.getMessage(), e);
    }
    return new HfModelConfig(config, modelType, eosIds, pad, dtype);
  }

  /**
   * The config.json transformers needs to load these weights: Llama when there are no attention
   * biases, Qwen2 (q/k/v biases) otherwise. {@code torchDtype} is "float32" or "bfloat16".
   */
  public static ObjectNode toJson(LlamaConfig c, String torchDtype) {
    ObjectNode o = JSON.createObjectNode();
    boolean qwen = c.attentionBias();
    o.putArray("architectures").add(qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
    o.put("model_type", qwen ? "qwen2" : "llama");
    o.put("vocab_size", c.vocabSize());
    o.put("hidden_size", c.hiddenSize());
    o.put("intermediate_size", c.intermediateSize());
    o.put("num_hidden_layers", c.numLayers());
    o.put("num_attention_heads", c.numHeads());
    o.put("num_key_value_heads", c.numKvHeads());
    o.put("head_dim", c.headDim());
    o.put("max_position_embeddings", c.maxPositions());
    o.put("rms_norm_eps", c.rmsNormEps());
    HfRopeJson.write(o, c.rope());
    o.put("hidden_act", "silu");
    o.put("tie_word_embeddings", c.tieWordEmbeddings());
    o.put("attention_dropout", 0.0);
    o.put("initializer_range", 0.02);
    if (qwen) {
      o.put("use_sliding_window", false);
      o.putNull("sliding_window");
      o.put("max_window_layers", c.numLayers());
    } else {
      o.put("attention_bias", false);
      o.put("mlp_bias", false);
      o.put("pretraining_tp", 1);
    }
    if (c.bosTokenId() >= 0) o.put("bos_token_id", c.bosTokenId());
    else o.putNull("bos_token_id");
    if (c.eosTokenId() >= 0) o.put("eos_token_id", c.eosTokenId());
    else o.putNull("eos_token_id");
    o.put("torch_dtype", torchDtype);
    o.put("use_cache", true);
    return o;
  }

  /** Writes {@link #toJson} to a file. */
  public static void write(Path file, LlamaConfig c, String torchDtype) throws IOException {
    Files.writeString(file, JSON.writeValueAsString(toJson(c, torchDtype)) + "\n");
  }
}
