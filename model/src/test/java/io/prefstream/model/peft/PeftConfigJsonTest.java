package io.prefstream.model.peft;

import static java.util.Map.entry;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.ModelFormatException;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.safetensors.SafetensorsFile;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What we write is PEFT's LoraConfig field set; what PEFT writes is read or refused by name. */
class PeftConfigJsonTest {
  @TempDir Path dir;

  static final LlamaConfig BASE = ModelPresets.tiny();
  static final LoraConfig LORA = new LoraConfig(4, 8, Set.of("q_proj", "v_proj", "down_proj"), 0.05);

  /**
   * Every field PEFT's {@code LoraConfig.to_dict()} gives, with the value it writes for a plain LoRA
   * on a causal LM, taken from huggingface/peft at commit 5d602fdbf (0.20.1.dev0):
   * {@code src/peft/config.py} (PeftConfigMixin: task_type, peft_type, auto_mapping, peft_version;
   * PeftConfig: base_model_name_or_path, revision, inference_mode — set true by save_pretrained) and
   * {@code src/peft/tuners/lora/config.py} (LoraConfig; runtime_config is popped by to_dict). The
   * fields whose value follows our settings are in {@link #VARYING}.
   */
  static final Map<String, String> PEFT_DEFAULTS = Map.ofEntries(
      entry("task_type", "\"CAUSAL_LM\""), entry("peft_type", "\"LORA\""), entry("auto_mapping", "null"),
      entry("revision", "null"), entry("inference_mode", "true"), entry("exclude_modules", "null"),
      entry("fan_in_fan_out", "false"), entry("bias", "\"none\""), entry("use_rslora", "false"),
      entry("modules_to_save", "null"), entry("init_lora_weights", "true"), entry("layers_to_transform", "null"),
      entry("layers_pattern", "null"), entry("rank_pattern", "{}"), entry("alpha_pattern", "{}"),
      entry("megatron_config", "null"), entry("megatron_core", "\"megatron.core\""),
      entry("trainable_token_indices", "null"), entry("loftq_config", "{}"), entry("eva_config", "null"),
      entry("corda_config", "null"), entry("lora_ga_config", "null"), entry("use_dora", "false"),
      entry("velora_config", "null"), entry("alora_invocation_tokens", "null"), entry("use_qalora", "false"),
      entry("qalora_group_size", "16"), entry("monteclora_config", "null"), entry("layer_replication", "null"),
      entry("lora_bias", "false"), entry("target_parameters", "null"), entry("use_bdlora", "null"),
      entry("arrow_config", "null"), entry("kasa_config", "null"), entry("ensure_weight_tying", "false"));
  static final Set<String> VARYING =
      Set.of("peft_version", "base_model_name_or_path", "r", "lora_alpha", "lora_dropout", "target_modules");

  private static final ObjectMapper PLAIN = new ObjectMapper();

  private PeftAdapter adapter(Optional<String> base) {
    return new PeftAdapter(LORA, PeftAdaptersTest.randomTensors(BASE, LORA, 7), base);
  }

  @Test
  void writesEveryFieldPeftsLoraConfigSavesWithPeftsTypes() throws IOException {
    PeftAdapters.write(dir, adapter(Optional.of("HuggingFaceTB/SmolLM2-135M")), DType.F32);
    JsonNode written = PLAIN.readTree(Files.readString(dir.resolve("adapter_config.json")));

    Set<String> expected = new TreeSet<>(PEFT_DEFAULTS.keySet());
    expected.addAll(VARYING);
    List<String> names = new ArrayList<>();
    written.fieldNames().forEachRemaining(names::add);
    assertThat(names).containsExactlyElementsOf(expected); // all of them, nothing else, sorted as PEFT sorts
    PEFT_DEFAULTS.forEach((field, json) -> assertThat(written.get(field)).as(field).isEqualTo(parse(json)));
    assertThat(written.get("r").isInt()).isTrue();
    assertThat(written.get("r").asInt()).isEqualTo(4);
    assertThat(written.get("lora_alpha").isIntegralNumber()).as("lora_alpha is an int in PEFT").isTrue();
    assertThat(written.get("lora_alpha").asInt()).isEqualTo(8);
    assertThat(written.get("lora_dropout").isFloatingPointNumber()).isTrue();
    assertThat(written.get("lora_dropout").asDouble()).isEqualTo(0.05);
    assertThat(written.get("target_modules")).isEqualTo(parse("[\"down_proj\", \"q_proj\", \"v_proj\"]"));
    assertThat(written.get("base_model_name_or_path").asText()).isEqualTo("HuggingFaceTB/SmolLM2-135M");
    assertThat(written.get("peft_version").isNull()).as("PEFT fills in its own version on load").isTrue();
  }

  @Test
  void writesEveryFieldOfTheHandWrittenPeft020Fixture() throws IOException {
    PeftAdapters.write(dir, adapter(Optional.empty()), DType.F32);
    JsonNode written = PLAIN.readTree(Files.readString(dir.resolve("adapter_config.json")));
    JsonNode fixture;
    try (InputStream in = getClass().getResourceAsStream("/peft/v0.20-regex-exclude/adapter_config.json")) {
      fixture = PLAIN.readTree(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    }
    Set<String> fixtureFields = new HashSet<>();
    fixture.fieldNames().forEachRemaining(fixtureFields::add);
    Set<String> ours = new HashSet<>();
    written.fieldNames().forEachRemaining(ours::add);
    assertThat(ours).containsAll(fixtureFields);
    for (String f : fixtureFields) {
      if (f.equals("target_modules") || f.equals("exclude_modules")) continue; // the fixture's are a regex and a list
      assertThat(written.get(f).getNodeType()).as(f).isIn(fixture.get(f).getNodeType(),
          com.fasterxml.jackson.databind.node.JsonNodeType.NULL);
    }
  }

  @Test
  void writesWeightsUnderPeftsKeysWithPeftsShapes() throws IOException {
    PeftAdapters.write(dir, adapter(Optional.empty()), DType.F32);
    Map<String, List<Integer>> expected = new HashMap<>();
    for (int l = 0; l < 4; l++) {
      String p = "base_model.model.model.layers." + l + ".";
      expected.put(p + "self_attn.q_proj.lora_A.weight", List.of(4, 64));
      expected.put(p + "self_attn.q_proj.lora_B.weight", List.of(64, 4));
      expected.put(p + "self_attn.v_proj.lora_A.weight", List.of(4, 64));
      expected.put(p + "self_attn.v_proj.lora_B.weight", List.of(32, 4));
      expected.put(p + "mlp.down_proj.lora_A.weight", List.of(4, 172));
      expected.put(p + "mlp.down_proj.lora_B.weight", List.of(64, 4));
    }
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
      Map<String, List<Integer>> got = new HashMap<>();
      for (String n : f.names()) got.put(n, java.util.Arrays.stream(f.info(n).shape()).boxed().toList());
      assertThat(got).isEqualTo(expected);
      assertThat(f.metadata()).containsEntry("format", "pt");
    }
  }

  private static JsonNode parse(String json) {
    try {
      return PLAIN.readTree(json);
    } catch (IOException e) {
      throw new IllegalArgumentException(json, e);
    }
  }

  /** A minimal adapter_config.json with one field added or replaced. */
  private static String with(String field, String json) {
    com.fasterxml.jackson.databind.node.ObjectNode o = (com.fasterxml.jackson.databind.node.ObjectNode)
        parse("{\"peft_type\": \"LORA\", \"task_type\": \"CAUSAL_LM\", \"r\": 4, \"lora_alpha\": 8,"
            + " \"target_modules\": [\"q_proj\", \"v_proj\"]}");
    o.set(field, parse(json));
    return o.toString();
  }

  private static void accepted(String field, String json) {
    assertThatCode(() -> PeftAdapters.parseConfig(with(field, json), "c.json", 2)).as(field + " = " + json)
        .doesNotThrowAnyException();
  }

  private static void refused(String field, String json, String fragment) {
    assertThatThrownBy(() -> PeftAdapters.parseConfig(with(field, json), "c.json", 2)).as(field + " = " + json)
        .isInstanceOf(ModelFormatException.class).hasMessageStartingWith("c.json: " + field + " ")
        .hasMessageContaining(fragment);
  }

  @Test
  void refusesFeaturesItDoesNotComputeUnlessTheyAreOff() {
    Map<String, String> on = Map.of("fan_in_fan_out", "true", "use_dora", "true", "use_qalora", "true",
        "lora_bias", "true", "modules_to_save", "[\"lm_head\"]", "layer_replication", "[[0, 2], [1, 2]]",
        "target_parameters", "[\"mlp.experts.down_proj\"]", "megatron_config", "{\"tensor_model_parallel_size\": 2}",
        "trainable_token_indices", "[5, 7]");
    on.forEach((field, value) -> refused(field, value, value.replace(" ", "")));
    for (String field : on.keySet()) {
      for (String off : List.of("null", "false", "[]", "{}")) accepted(field, off);
    }
  }

  @Test
  void refusesLoraVariantsByName() {
    Map<String, String> variant = Map.of("velora_config", "VeLoRA", "alora_invocation_tokens", "aLoRA",
        "monteclora_config", "MonteCLoRA", "use_bdlora", "BD-LoRA", "arrow_config", "Arrow", "kasa_config", "KaSA");
    variant.forEach((field, name) -> {
      refused(field, "{}", name); // PEFT turns a dict into a config object, which is true
      accepted(field, "null");
    });
    refused("alora_invocation_tokens", "[128, 9]", "aLoRA");
    refused("init_lora_weights", "\"mica\"", "MiCA");
  }

  @Test
  void refusesInitialisationsThatChangedTheBaseWeights() {
    for (String init : List.of("pissa", "pissa_niter_16", "corda", "olora", "loftq", "lora_ga")) {
      refused("init_lora_weights", "\"" + init + "\"", "path_initial_model_for_weight_conversion");
    }
    for (String init : List.of("true", "false", "\"gaussian\"", "\"eva\"", "\"orthogonal\"")) {
      accepted("init_lora_weights", init);
    }
    refused("init_lora_weights", "\"xavier\"", "expected true, false");
  }

  @Test
  void acceptsBookkeepingAndInitOnlyFieldsWithAnyValue() {
    accepted("inference_mode", "false");
    accepted("peft_version", "\"0.99.0@abc\"");
    accepted("auto_mapping", "{\"base_model_class\": \"LlamaForCausalLM\", \"parent_library\": \"transformers\"}");
    accepted("revision", "\"main\"");
    accepted("eva_config", "{\"rho\": 2.0}");
    accepted("loftq_config", "{\"loftq_bits\": 4}");
    accepted("qalora_group_size", "32");
    accepted("ensure_weight_tying", "true");
    accepted("runtime_config", "{\"ephemeral_gpu_offload\": false}");
    accepted("megatron_core", "\"megatron.core\"");
    accepted("task_type", "null");
  }

  @Test
  void acceptsUnknownFieldsWhenOffAndRefusesThemWhenSet() {
    accepted("use_new_thing", "false");
    accepted("new_thing_config", "null");
    refused("use_new_thing", "true", "not a field this loader knows");
    refused("new_group_size", "3", "might change the computation");
  }

  @Test
  void refusesMistypedNumbers() {
    refused("r", "4.5", "positive integer");
    refused("r", "0", "positive integer");
    refused("lora_alpha", "\"16\"", "must be a number");
    refused("use_rslora", "\"yes\"", "true or false");
    refused("bias", "\"all\"", "expected \"none\"");
  }

  @Test
  void rsLoraScalingIsPeftsAlphaOverSqrtRInFloatAndWithinAnUlpInDouble() throws Exception {
    for (int r = 1; r <= 256; r++) {
      for (int k = 1; k <= 128; k++) {
        double alpha = k / 2.0;
        double peft = alpha / Math.sqrt(r); // lora/layer.py: lora_alpha / math.sqrt(r)
        double ours = new LoraConfig(r, PeftAdapters.plainAlpha(alpha, r, true), Set.of("q_proj"), 0).scaling();
        assertThat((float) ours).as("r=%d alpha=%s", r, alpha).isEqualTo((float) peft);
        assertThat(Math.abs(ours - peft)).as("r=%d alpha=%s", r, alpha).isLessThanOrEqualTo(Math.ulp(peft));
      }
    }
    // Where a double with a'/r == alpha/sqrt(r) exists it is found: r=6 has one, alpha·sqrt(r) is not it.
    var p = PeftAdapters.parseConfig(with("use_rslora", "true").replace("\"r\":4", "\"r\":6")
        .replace("\"lora_alpha\":8", "\"lora_alpha\":16"), "c.json", 2);
    assertThat(p.config().scaling()).isEqualTo(16 / Math.sqrt(6));
  }
}
