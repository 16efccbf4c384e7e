package io.prefstream.model.peft;

import static java.util.Map.entry;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.ModelFormatException;
import io.prefstream.model.peft.PeftTargets.Selector;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code adapter_config.json} of a PEFT LoRA adapter. {@link #write} gives every field that PEFT's
 * {@code LoraConfig.to_dict()} saves (PEFT 0.20.1.dev0, commit 5d602fd: PeftConfigMixin,
 * PeftConfig and LoraConfig fields, {@code runtime_config} left out as PEFT leaves it out), keys
 * sorted as PEFT sorts them. {@link #parse} checks every field it finds: the ones that decide the
 * computation are read; bookkeeping and initialisation-only fields are accepted with any value;
 * features this project does not compute are refused, naming the field, its value and what is
 * supported, unless their value is off (PEFT tests them for truth, so null, false, 0, "", [] and {}
 * are off); fields this code does not know (a newer PEFT) are accepted when off and refused
 * otherwise, since they might change the computation.
 */
final class PeftConfigJson {
  private static final Logger log = LoggerFactory.getLogger(PeftConfigJson.class);
  static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  /** Read below: they decide which modules are adapted and how the update is scaled. */
  private static final Set<String> READ = Set.of("peft_type", "task_type", "r", "lora_alpha", "lora_dropout",
      "use_rslora", "target_modules", "exclude_modules", "rank_pattern", "alpha_pattern", "base_model_name_or_path",
      "init_lora_weights", "bias", "layers_to_transform");

  /** Accepted with any value: they do not change what a loaded adapter computes. */
  private static final Set<String> NEUTRAL = Set.of(
      "auto_mapping", "peft_version", "revision", "inference_mode", // bookkeeping
      "layers_pattern", // only used with layers_to_transform, which is refused when set
      "megatron_core", // a module path, only used with megatron_config
      "loftq_config", "eva_config", "corda_config", "lora_ga_config", // used only when an adapter is created
      "qalora_group_size", // only used with use_qalora
      "ensure_weight_tying", // only ties adapters on embeddings, lm_head or modules_to_save, all refused
      "runtime_config"); // PEFT drops it on load

  /** Changes the computation unless off; the value is what it would turn on. */
  private static final Map<String, String> MUST_BE_OFF = Map.ofEntries(
      entry("fan_in_fan_out", "(Conv1D-style transposed weights) is not supported for Llama; expected false"),
      entry("use_dora", "(DoRA) is not supported; expected false: only plain LoRA"),
      entry("use_qalora", "(QALoRA, which pools the input) is not supported; expected false: only plain LoRA"),
      entry("lora_bias", "(a bias on lora_B) is not supported; expected false"),
      entry("modules_to_save", "(fully trained extra modules) is not supported; expected null:"
          + " only LoRA on every layer's projections"),
      entry("layer_replication", "(replicated layers) is not supported; expected null"),
      entry("target_parameters", "(LoRA on raw parameters) is not supported; expected null: only target_modules"),
      entry("megatron_config", "(Megatron parallel layers) is not supported; expected null"),
      entry("trainable_token_indices", "(trainable token embeddings) is not supported; expected null"));

  /** LoRA variants (PEFT tags these fields is_lora_variant); any value but null or false selects one. */
  private static final Map<String, String> VARIANTS = Map.of("velora_config", "VeLoRA",
      "alora_invocation_tokens", "aLoRA", "monteclora_config", "MonteCLoRA", "use_bdlora", "BD-LoRA",
      "arrow_config", "Arrow routing", "kasa_config", "KaSA");

  private PeftConfigJson() {}

  /**
   * What decides the computation. {@code exclude} is null when nothing is excluded; the patterns
   * keep the file's key order, which is the order PEFT tries them in.
   */
  record Fields(int r, double alpha, double dropout, boolean useRslora, Selector targets, Selector exclude,
      Map<String, Integer> rankPattern, Map<String, Double> alphaPattern, Optional<String> baseModel) {}

  /** Parses and checks {@code adapter_config.json} text; {@code source} starts every message. */
  static Fields parse(String json, String source) throws ModelFormatException {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new ModelFormatException(source + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) throw new ModelFormatException(source + ": not a JSON object");
    String peftType = root.path("peft_type").asText("");
    if (!peftType.equals("LORA")) throw refuse(source, "peft_type", "'" + peftType + "' is not supported; expected \"LORA\"");
    JsonNode task = root.get("task_type");
    if (task != null && !task.isNull() && !task.asText().equals("CAUSAL_LM")) {
      throw refuse(source, "task_type", "'" + task.asText() + "' is not supported; expected \"CAUSAL_LM\"");
    }
    for (Map.Entry<String, JsonNode> e : root.properties()) checkOther(source, e.getKey(), e.getValue());
    checkInit(source, root.get("init_lora_weights"));
    String bias = root.path("bias").asText("none");
    if (!bias.equals("none")) throw refuse(source, "bias", "'" + bias + "' is not supported; expected \"none\"");
    JsonNode layers = root.get("layers_to_transform");
    if (layers != null && !layers.isNull() && !(layers.isArray() && layers.isEmpty())) {
      throw refuse(source, "layers_to_transform", layers + " is not supported; expected null: every layer must be adapted");
    }
    int r = positiveInt(source, "r", root.get("r"), 8);
    double alpha = number(source, "lora_alpha", root.get("lora_alpha"), 8);
    double dropout = number(source, "lora_dropout", root.get("lora_dropout"), 0);
    JsonNode rs = root.get("use_rslora");
    if (rs != null && !rs.isNull() && !rs.isBoolean()) throw refuse(source, "use_rslora", rs + " must be true or false");
    JsonNode base = root.get("base_model_name_or_path");
    return new Fields(r, alpha, dropout, rs != null && rs.asBoolean(), targets(source, root.get("target_modules")),
        exclude(source, root.get("exclude_modules")), rankPattern(source, root.get("rank_pattern")),
        alphaPattern(source, root.get("alpha_pattern")),
        base == null || base.isNull() ? Optional.empty() : Optional.of(base.asText()));
  }

  private static void checkOther(String source, String field, JsonNode v) throws ModelFormatException {
    if (READ.contains(field) || NEUTRAL.contains(field)) return;
    if (MUST_BE_OFF.containsKey(field)) {
      if (!isOff(v)) throw refuse(source, field, v + " " + MUST_BE_OFF.get(field));
    } else if (VARIANTS.containsKey(field)) {
      if (!(v.isNull() || (v.isBoolean() && !v.asBoolean()))) {
        throw refuse(source, field, v + " selects " + VARIANTS.get(field) + ", a LoRA variant, which is not supported;"
            + " expected null: only plain LoRA");
      }
    } else if (isOff(v)) {
      log.info("{}: ignoring field {} = {}, unknown here and off", source, field, v);
    } else {
      throw refuse(source, field, v + " is not a field this loader knows (a newer PEFT?) and it is set, so it might"
          + " change the computation; expected it absent, null or false");
    }
  }

  /** PEFT's truth test: None, False, 0, "", [] and {} are off. */
  private static boolean isOff(JsonNode v) {
    return v.isNull() || (v.isBoolean() && !v.asBoolean()) || (v.isNumber() && v.asDouble() == 0)
        || (v.isTextual() && v.asText().isEmpty()) || (v.isContainerNode() && v.isEmpty());
  }

  /** Initialisations that leave the base weights as they are; others are refused naming why. */
  private static void checkInit(String source, JsonNode v) throws ModelFormatException {
    if (v == null || v.isBoolean()) return;
    String s = v.asText();
    String lower = s.toLowerCase(Locale.ROOT);
    if (v.isTextual() && (lower.equals("gaussian") || s.equals("eva") || s.equals("orthogonal"))) return;
    if (v.isTextual() && (s.startsWith("pissa") || s.startsWith("corda") || lower.equals("olora") || s.equals("loftq")
        || s.equals("lora_ga"))) {
      throw refuse(source, "init_lora_weights", "'" + s + "' changed the base weights when the adapter was created,"
          + " so this adapter only fits that residual base; save it with PEFT's path_initial_model_for_weight_conversion"
          + " (which writes a plain LoRA with init_lora_weights true) and load that");
    }
    if (v.isTextual() && lower.equals("mica")) {
      throw refuse(source, "init_lora_weights", "'" + s + "' selects MiCA, a LoRA variant, which is not supported;"
          + " expected true, false, \"gaussian\", \"eva\" or \"orthogonal\"");
    }
    throw refuse(source, "init_lora_weights", v + " is not supported; expected true, false, \"gaussian\", \"eva\""
        + " or \"orthogonal\"");
  }

  private static Selector targets(String source, JsonNode tm) throws ModelFormatException {
    if (tm == null || tm.isNull()) {
      throw refuse(source, "target_modules", "is missing; expected a list such as [\"q_proj\", \"v_proj\"], a regular"
          + " expression or \"all-linear\"");
    }
    if (tm.isTextual() && tm.asText().toLowerCase(Locale.ROOT).equals("all-linear")) return new PeftTargets.AllLinear();
    return selector(source, "target_modules", tm);
  }

  private static Selector exclude(String source, JsonNode ex) throws ModelFormatException {
    return ex == null || isOff(ex) ? null : selector(source, "exclude_modules", ex);
  }

  private static Selector selector(String source, String field, JsonNode v) throws ModelFormatException {
    if (v.isTextual()) return PeftTargets.Regex.of(source, field, v.asText());
    if (!v.isArray()) throw refuse(source, field, v + " must be a list of module names or a regular expression");
    List<String> names = new ArrayList<>();
    for (JsonNode n : v) {
      if (!n.isTextual()) throw refuse(source, field, v + " must list module names as strings");
      names.add(n.asText());
    }
    return new PeftTargets.Names(names);
  }

  private static Map<String, Integer> rankPattern(String source, JsonNode p) throws ModelFormatException {
    Map<String, Integer> out = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : patternEntries(source, "rank_pattern", p)) {
      out.put(e.getKey(), positiveInt(source, "rank_pattern", e.getValue(), 0));
    }
    return out;
  }

  private static Map<String, Double> alphaPattern(String source, JsonNode p) throws ModelFormatException {
    Map<String, Double> out = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : patternEntries(source, "alpha_pattern", p)) {
      out.put(e.getKey(), number(source, "alpha_pattern", e.getValue(), 0));
    }
    return out;
  }

  private static Set<Map.Entry<String, JsonNode>> patternEntries(String source, String field, JsonNode p)
      throws ModelFormatException {
    if (p == null || p.isNull()) return Set.of();
    if (!p.isObject()) throw refuse(source, field, p + " must be an object from module pattern to value");
    return p.properties();
  }

  private static int positiveInt(String source, String field, JsonNode v, int absent) throws ModelFormatException {
    if (v == null || v.isNull()) return absent;
    if (!v.isIntegralNumber() || v.asLong() <= 0 || v.asLong() > Integer.MAX_VALUE) {
      throw refuse(source, field, v + " must be a positive integer");
    }
    return v.asInt();
  }

  private static double number(String source, String field, JsonNode v, double absent) throws ModelFormatException {
    if (v == null || v.isNull()) return absent;
    if (!v.isNumber()) throw refuse(source, field, v + " must be a number");
    return v.asDouble();
  }

  static ModelFormatException refuse(String source, String field, String why) {
    return new ModelFormatException(source + ": " + field + " " + why);
  }

  /**
   * adapter_config.json as PEFT saves a plain LoRA on a causal LM with these settings: every field
   * of its LoraConfig, at PEFT's default where this project has no setting. {@code peft_version}
   * is null because PEFT did not write this file (PEFT fills in its own version on load).
   */
  static ObjectNode write(LoraConfig c, Optional<String> baseModel) {
    Map<String, Object> f = new TreeMap<>();
    f.put("alpha_pattern", Map.of());
    f.put("alora_invocation_tokens", null);
    f.put("arrow_config", null);
    f.put("auto_mapping", null); // PEFT writes a mapping only when task_type is null
    f.put("base_model_name_or_path", baseModel.orElse(null));
    f.put("bias", "none");
    f.put("corda_config", null);
    f.put("ensure_weight_tying", false);
    f.put("eva_config", null);
    f.put("exclude_modules", null);
    f.put("fan_in_fan_out", false);
    f.put("inference_mode", true); // PeftModel.save_pretrained sets it for the saved copy
    f.put("init_lora_weights", true); // A kaiming-uniform, B zero: what LoraAdapter.initialise does
    f.put("kasa_config", null);
    f.put("layer_replication", null);
    f.put("layers_pattern", null);
    f.put("layers_to_transform", null);
    f.put("loftq_config", Map.of());
    boolean integral = c.alpha() == Math.rint(c.alpha()) && Math.abs(c.alpha()) < 1e15;
    f.put("lora_alpha", integral ? (Object) (long) c.alpha() : c.alpha()); // PEFT's type is int
    f.put("lora_bias", false);
    f.put("lora_dropout", c.dropout());
    f.put("lora_ga_config", null);
    f.put("megatron_config", null);
    f.put("megatron_core", "megatron.core");
    f.put("modules_to_save", null);
    f.put("monteclora_config", null);
    f.put("peft_type", "LORA");
    f.put("peft_version", null);
    f.put("qalora_group_size", 16);
    f.put("r", c.rank());
    f.put("rank_pattern", Map.of());
    f.put("revision", null);
    f.put("target_modules", List.copyOf(new TreeSet<>(c.targetModules())));
    f.put("target_parameters", null);
    f.put("task_type", "CAUSAL_LM");
    f.put("trainable_token_indices", null);
    f.put("use_bdlora", null);
    f.put("use_dora", false);
    f.put("use_qalora", false);
    f.put("use_rslora", false); // rsLoRA read from PEFT is folded into lora_alpha, see PeftAdapters
    f.put("velora_config", null);
    return JSON.valueToTree(f);
  }
}
