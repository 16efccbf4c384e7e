package io.prefstream.model.peft;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.LlamaWeights;
import io.prefstream.model.io.ModelFormatException;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.safetensors.SafetensorsFile;
import io.prefstream.model.safetensors.SafetensorsWriter;
import io.prefstream.model.tensor.NamedTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads and writes LoRA adapters in PEFT's directory format: {@code adapter_config.json} and
 * {@code adapter_model.safetensors} with keys such as
 * {@code base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight} (PEFT saves without the
 * adapter name; a {@code .default} segment is accepted on reading and dropped). Tensor names in
 * {@link PeftAdapter} are these keys. The config written carries the
 * fields PEFT and vLLM read. Options that change the computation in ways this loader does not compute
 * (DoRA, per-module rank/alpha patterns, biases, extra trainable modules, layer subsets, transposed
 * weights) are refused with a message naming the field; rsLoRA is accepted by folding its scaling
 * alpha/sqrt(r) into an equivalent alpha (alpha·sqrt(r)) for the plain alpha/r rule.
 */
public final class PeftAdapters {
  private static final Logger log = LoggerFactory.getLogger(PeftAdapters.class);
  public static final String CONFIG = "adapter_config.json";
  public static final String WEIGHTS = "adapter_model.safetensors";
  /** PEFT's prefix for a causal LM wrapped in PeftModelForCausalLM. */
  public static final String PREFIX = "base_model.model.";

  private static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
  private static final Pattern KEY = Pattern.compile(
      "base_model\\.model\\.model\\.layers\\.(\\d+)\\.(self_attn|mlp)\\.(\\w+_proj)\\.lora_([AB])(?:\\.default)?\\.weight");

  private PeftAdapters() {}

  /** Reads an adapter directory, checking names and the A/B shapes against each other. */
  public static PeftAdapter read(Path dir) throws IOException {
    return read(dir, null);
  }

  /**
   * Reads an adapter directory and, when {@code base} is given, checks that it adapts every layer's
   * target projections with matching [out, in] dimensions.
   */
  public static PeftAdapter read(Path dir, LlamaConfig base) throws IOException {
    Path cfgPath = dir.resolve(CONFIG);
    if (!Files.isRegularFile(cfgPath)) throw new ModelFormatException(dir + ": no " + CONFIG);
    ParsedConfig parsed = parseConfig(Files.readString(cfgPath), cfgPath.toString());
    LoraConfig cfg = parsed.config();
    Path wPath = dir.resolve(WEIGHTS);
    if (!Files.isRegularFile(wPath)) {
      String hint = Files.exists(dir.resolve("adapter_model.bin")) ? " (adapter_model.bin is a pickle; save with safe_serialization)" : "";
      throw new ModelFormatException(dir + ": no " + WEIGHTS + hint);
    }
    Map<String, NamedTensor> tensors = new LinkedHashMap<>();
    try (SafetensorsFile f = SafetensorsFile.open(wPath)) {
      for (String key : f.names()) {
        Matcher m = KEY.matcher(key);
        if (!m.matches()) {
          throw new ModelFormatException(wPath + ": tensor '" + key + "' is not a LoRA A/B weight of a decoder layer"
              + " projection (expected base_model.model.model.layers.<i>.<self_attn|mlp>.<proj>.lora_<A|B>.weight)");
        }
        int layer = Integer.parseInt(m.group(1));
        String module = m.group(3);
        if (!cfg.targetModules().contains(module)) {
          throw new ModelFormatException(wPath + ": tensor '" + key + "' adapts " + module
              + ", which target_modules " + new TreeSet<>(cfg.targetModules()) + " does not list");
        }
        if (!LlamaWeights.projectionParent(module).equals(m.group(2))) {
          throw new ModelFormatException(wPath + ": tensor '" + key + "' puts " + module + " under " + m.group(2));
        }
        String name = m.group(4).equals("A") ? PeftAdapter.loraA(layer, module) : PeftAdapter.loraB(layer, module);
        NamedTensor t = f.read(key);
        if (tensors.put(name, new NamedTensor(name, t.shape(), t.data())) != null) {
          throw new ModelFormatException(wPath + ": tensor '" + name + "' given twice (with and without .default)");
        }
      }
    }
    PeftAdapter adapter = new PeftAdapter(cfg, tensors, parsed.baseModel());
    check(adapter, base, wPath.toString());
    return adapter;
  }

  /** Every A is [r, in], every B is [out, r] with the same module's A; with a base, the full set. */
  static void check(PeftAdapter a, LlamaConfig base, String where) throws ModelFormatException {
    int r = a.config().rank();
    Map<String, int[]> modules = new java.util.TreeMap<>(); // module path -> {layer}, keyed for order
    Map<String, String> projOf = new LinkedHashMap<>();
    for (String name : a.tensors().keySet()) {
      Matcher m = KEY.matcher(name);
      if (!m.matches() || name.contains(".default.")) {
        throw new ModelFormatException(where + ": tensor '" + name + "' is not a PEFT LoRA key"
            + " (base_model.model.model.layers.<i>.<self_attn|mlp>.<proj>.lora_<A|B>.weight)");
      }
      if (!a.config().targetModules().contains(m.group(3))) {
        throw new ModelFormatException(where + ": tensor '" + name + "' adapts " + m.group(3)
            + ", which target_modules " + new TreeSet<>(a.config().targetModules()) + " does not list");
      }
      if (!LlamaWeights.projectionParent(m.group(3)).equals(m.group(2))) {
        throw new ModelFormatException(where + ": tensor '" + name + "' puts " + m.group(3) + " under " + m.group(2));
      }
      String path = PeftAdapter.modulePath(Integer.parseInt(m.group(1)), m.group(3));
      modules.put(path, new int[] {Integer.parseInt(m.group(1))});
      projOf.put(path, m.group(3));
    }
    for (Map.Entry<String, int[]> e : modules.entrySet()) {
      String module = e.getKey();
      NamedTensor A = a.tensors().get(PREFIX + module + ".lora_A.weight");
      NamedTensor B = a.tensors().get(PREFIX + module + ".lora_B.weight");
      if (A == null || B == null) {
        throw new ModelFormatException(where + ": " + module + " has lora_" + (A == null ? "B" : "A")
            + " but no lora_" + (A == null ? "A" : "B"));
      }
      if (A.shape().length != 2 || A.shape()[0] != r) {
        throw new ModelFormatException(where + ": " + A.name() + " has shape " + Arrays.toString(A.shape())
            + "; expected [r=" + r + ", in]");
      }
      if (B.shape().length != 2 || B.shape()[1] != r) {
        throw new ModelFormatException(where + ": " + B.name() + " has shape " + Arrays.toString(B.shape())
            + "; expected [out, r=" + r + "]");
      }
      if (base != null) {
        int layer = e.getValue()[0];
        if (layer >= base.numLayers()) {
          throw new ModelFormatException(where + ": " + module + " is beyond the base model's " + base.numLayers()
              + " layers");
        }
        int[] shape = LlamaWeights.projectionShape(base, projOf.get(module));
        if (B.shape()[0] != shape[0] || A.shape()[1] != shape[1]) {
          throw new ModelFormatException(where + ": " + module + " adapts [out=" + B.shape()[0] + ", in="
              + A.shape()[1] + "] but the base projection is " + Arrays.toString(shape));
        }
      }
    }
    if (base != null) {
      List<String> missing = new ArrayList<>();
      for (int i = 0; i < base.numLayers(); i++) {
        for (String t : new TreeSet<>(a.config().targetModules())) {
          if (!modules.containsKey(PeftAdapter.modulePath(i, t))) missing.add(PeftAdapter.modulePath(i, t));
        }
      }
      if (!missing.isEmpty()) {
        throw new ModelFormatException(where + ": no LoRA weights for " + missing.size() + " targeted module(s), e.g. "
            + missing.subList(0, Math.min(4, missing.size())));
      }
    }
  }

  /** The expected A/B shapes of a full adapter for {@code base}, in layer then module order. */
  public static Map<String, int[]> expectedShapes(LlamaConfig base, LoraConfig lora) {
    Map<String, int[]> out = new LinkedHashMap<>();
    for (int i = 0; i < base.numLayers(); i++) {
      for (String t : LoraConfig.ALL_TARGETS.stream().sorted(PeftAdapters::moduleOrder).toList()) {
        if (!lora.targetModules().contains(t)) continue;
        int[] s = LlamaWeights.projectionShape(base, t);
        out.put(PeftAdapter.loraA(i, t), new int[] {lora.rank(), s[1]});
        out.put(PeftAdapter.loraB(i, t), new int[] {s[0], lora.rank()});
      }
    }
    return out;
  }

  private static int moduleOrder(String a, String b) {
    List<String> order = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");
    return Integer.compare(order.indexOf(a), order.indexOf(b));
  }

  record ParsedConfig(LoraConfig config, Optional<String> baseModel) {}

  /** Parses adapter_config.json text; {@code source} names it in messages. */
  static ParsedConfig parseConfig(String json, String source) throws ModelFormatException {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new ModelFormatException(source + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) throw new ModelFormatException(source + ": not a JSON object");
    String peftType = root.path("peft_type").asText("");
    if (!peftType.equals("LORA")) {
      throw refuse(source, "peft_type", "'" + peftType + "' is not supported; expected \"LORA\"");
    }
    JsonNode task = root.get("task_type");
    if (task != null && !task.isNull() && !task.asText().equals("CAUSAL_LM")) {
      throw refuse(source, "task_type", "'" + task.asText() + "' is not supported; expected \"CAUSAL_LM\"");
    }
    if (root.path("use_dora").asBoolean(false)) throw refuse(source, "use_dora", "true (DoRA) is not supported");
    if (root.path("fan_in_fan_out").asBoolean(false)) {
      throw refuse(source, "fan_in_fan_out", "true (Conv1D-style transposed weights) is not supported for Llama");
    }
    if (root.path("lora_bias").asBoolean(false)) throw refuse(source, "lora_bias", "true is not supported");
    String bias = root.path("bias").asText("none");
    if (!bias.equals("none")) throw refuse(source, "bias", "'" + bias + "' is not supported; expected \"none\"");
    for (String field : List.of("rank_pattern", "alpha_pattern")) {
      JsonNode p = root.get(field);
      if (p != null && !p.isNull() && !(p.isObject() && p.isEmpty())) {
        throw refuse(source, field, p + " is not supported; every module must share r and lora_alpha");
      }
    }
    for (String field : List.of("modules_to_save", "layers_to_transform", "layer_replication", "exclude_modules",
        "target_parameters", "trainable_token_indices")) {
      JsonNode p = root.get(field);
      if (p != null && !p.isNull() && !(p.isContainerNode() && p.isEmpty())) {
        throw refuse(source, field, p + " is not supported; only LoRA on every layer's projections");
      }
    }
    int r = root.path("r").asInt(8);
    JsonNode alphaNode = root.get("lora_alpha");
    double alpha = alphaNode == null || alphaNode.isNull() ? 8 : alphaNode.asDouble();
    if (root.path("use_rslora").asBoolean(false)) {
      // rsLoRA scales by alpha/sqrt(r); alpha·sqrt(r) under the plain alpha/r rule is the same factor.
      double folded = alpha * Math.sqrt(r);
      log.info("{}: use_rslora: folding scaling {}/sqrt({}) into lora_alpha {}", source, alpha, r, folded);
      alpha = folded;
    }
    double dropout = root.path("lora_dropout").asDouble(0.0);
    Set<String> targets = new LinkedHashSet<>();
    JsonNode tm = root.get("target_modules");
    if (tm == null || tm.isNull()) {
      throw refuse(source, "target_modules", "is missing; expected a list such as [\"q_proj\", \"v_proj\"]");
    } else if (tm.isTextual()) {
      if (!tm.asText().equals("all-linear")) {
        throw refuse(source, "target_modules", "'" + tm.asText() + "' (a regular expression) is not supported;"
            + " give a list of module names or \"all-linear\"");
      }
      targets.addAll(LoraConfig.ALL_TARGETS);
    } else if (tm.isArray()) {
      for (JsonNode t : tm) {
        String name = t.asText();
        if (!LoraConfig.ALL_TARGETS.contains(name)) {
          throw refuse(source, "target_modules", "'" + name + "' is not supported; expected some of "
              + new TreeSet<>(LoraConfig.ALL_TARGETS));
        }
        targets.add(name);
      }
    } else {
      throw refuse(source, "target_modules", "must be a list or \"all-linear\", got " + tm);
    }
    LoraConfig cfg;
    try {
      cfg = new LoraConfig(r, alpha, targets, dropout);
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(source + ": " + e.getMessage(), e);
    }
    JsonNode base = root.get("base_model_name_or_path");
    return new ParsedConfig(cfg, base == null || base.isNull() ? Optional.empty() : Optional.of(base.asText()));
  }

  private static ModelFormatException refuse(String source, String field, String why) {
    return new ModelFormatException(source + ": " + field + " " + why);
  }

  /** adapter_config.json as PEFT writes it for a plain LoRA on a causal LM. */
  public static ObjectNode configJson(LoraConfig c, Optional<String> baseModel) {
    ObjectNode o = JSON.createObjectNode();
    o.putObject("alpha_pattern");
    o.putNull("auto_mapping");
    if (baseModel.isPresent()) o.put("base_model_name_or_path", baseModel.get());
    else o.putNull("base_model_name_or_path");
    o.put("bias", "none");
    o.put("fan_in_fan_out", false);
    o.put("inference_mode", true);
    o.put("init_lora_weights", true);
    o.putNull("layer_replication");
    o.putNull("layers_pattern");
    o.putNull("layers_to_transform");
    o.putObject("loftq_config");
    if (c.alpha() == Math.rint(c.alpha()) && Math.abs(c.alpha()) < 1e9) o.put("lora_alpha", (long) c.alpha());
    else o.put("lora_alpha", c.alpha());
    o.put("lora_dropout", c.dropout());
    o.putNull("megatron_config");
    o.put("megatron_core", "megatron.core");
    o.putNull("modules_to_save");
    o.put("peft_type", "LORA");
    o.put("r", c.rank());
    o.putObject("rank_pattern");
    o.putNull("revision");
    ArrayNode t = o.putArray("target_modules");
    new TreeSet<>(c.targetModules()).forEach(t::add);
    o.put("task_type", "CAUSAL_LM");
    o.put("use_dora", false);
    o.put("use_rslora", false);
    return o;
  }

  /** Writes adapter_config.json and adapter_model.safetensors ({@code dtype} F32 or BF16) into {@code dir}. */
  public static void write(Path dir, PeftAdapter adapter, DType dtype) throws IOException {
    check(adapter, null, "adapter to write");
    Files.createDirectories(dir);
    Files.writeString(dir.resolve(CONFIG),
        JSON.writeValueAsString(configJson(adapter.config(), adapter.baseModelNameOrPath())) + "\n");
    List<NamedTensor> out = new ArrayList<>();
    for (String name : new TreeSet<>(adapter.tensors().keySet())) out.add(adapter.tensors().get(name));
    SafetensorsWriter.write(dir.resolve(WEIGHTS), out, Map.of("format", "pt"), dtype);
  }
}
