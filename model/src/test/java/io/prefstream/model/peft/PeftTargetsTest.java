package io.prefstream.model.peft;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.ModelFormatException;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * target_modules, exclude_modules, rank_pattern and alpha_pattern resolved as PEFT resolves them
 * (tuners_utils.check_target_module_exists, utils/other.get_pattern_key), against the module names of
 * a 2-layer Llama unless a test says otherwise.
 */
class PeftTargetsTest {
  private static String config(String targets, String extra) {
    return "{\"peft_type\": \"LORA\", \"task_type\": \"CAUSAL_LM\", \"r\": 4, \"lora_alpha\": 8,"
        + " \"target_modules\": " + targets + (extra.isEmpty() ? "" : ", " + extra) + "}";
  }

  private static LoraConfig parse(String targets, String extra, int layers) throws ModelFormatException {
    return PeftAdapters.parseConfig(config(targets, extra), "c.json", layers).config();
  }

  private static Set<String> targets(String targets, String extra) throws ModelFormatException {
    return parse(targets, extra, 2).targetModules();
  }

  private static void refused(String targets, String extra, int layers, String field, String fragment) {
    assertThatThrownBy(() -> parse(targets, extra, layers)).isInstanceOf(ModelFormatException.class)
        .hasMessageStartingWith("c.json: " + field + " ").hasMessageContaining(fragment);
  }

  @Test
  void aStringIsARegexMatchedAgainstTheWholeModuleName() throws Exception {
    assertThat(targets("\".*q_proj\"", "")).containsExactlyInAnyOrder("q_proj");
    assertThat(targets("\".*\\\\.(q|v)_proj\"", "")).containsExactlyInAnyOrder("q_proj", "v_proj");
    assertThat(targets("\"model\\\\.layers\\\\.\\\\d+\\\\.self_attn\\\\..*\"", ""))
        .containsExactlyInAnyOrder("q_proj", "k_proj", "v_proj", "o_proj");
    // A bare name as a string matches no whole module name, so it selects nothing (PEFT raises too).
    refused("\"q_proj\"", "", 2, "target_modules", "'q_proj' selects no module of a 2-layer Llama");
  }

  @Test
  void refusesARegexThatSelectsSomeLayersOrAModuleLoraCannotAdapt() {
    refused("\"model\\\\.layers\\\\.0\\\\..*_proj\"", "", 2, "target_modules", "adapted in layers [0] of 2 only");
    refused("\".*norm\"", "", 2, "target_modules", "selects model.layers.0.input_layernorm, which is not a linear layer");
    refused("\".*\\\\.mlp\"", "", 2, "target_modules", "selects model.layers.0.mlp, which is not a linear layer");
  }

  @Test
  void aListMatchesWholeNamesOrDottedSuffixesAndIgnoresEntriesThatMatchNothing() throws Exception {
    assertThat(targets("[\"self_attn.q_proj\", \"model.layers.0.mlp.up_proj\", \"model.layers.1.mlp.up_proj\", \"c_attn\"]", ""))
        .containsExactlyInAnyOrder("q_proj", "up_proj");
    // "proj" is not a dotted suffix of "model.layers.0.self_attn.q_proj".
    refused("[\"proj\"]", "", 2, "target_modules", "selects no module");
    refused("[\"model.layers.0.mlp.up_proj\", \"model.layers.1.mlp.up_proj\"]", "", 3, "target_modules",
        "up_proj adapted in layers [0, 1] of 3 only");
    refused("[\"q_proj\", \"lm_head\"]", "", 2, "target_modules", "selects lm_head: LoRA on lm_head is not supported");
  }

  @Test
  void allLinearInAnyCaseIsEveryDecoderProjection() throws Exception {
    assertThat(targets("\"all-linear\"", "")).isEqualTo(LoraConfig.ALL_TARGETS);
    assertThat(targets("\"ALL-Linear\"", "")).isEqualTo(LoraConfig.ALL_TARGETS);
  }

  @Test
  void excludeModulesWinsOverTargetModules() throws Exception {
    assertThat(targets("\"all-linear\"", "\"exclude_modules\": [\"down_proj\", \"o_proj\"]"))
        .containsExactlyInAnyOrder("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj");
    assertThat(targets("\"all-linear\"", "\"exclude_modules\": \".*\\\\.mlp\\\\..*\""))
        .containsExactlyInAnyOrder("q_proj", "k_proj", "v_proj", "o_proj");
    // lm_head matched by the regex but excluded, as PEFT checks exclusion first.
    assertThat(targets("\".*(q_proj|lm_head)\"", "\"exclude_modules\": [\"lm_head\"]")).containsExactly("q_proj");
    // "mlp" names the container only, so the projections under it stay adapted.
    assertThat(targets("[\"up_proj\"]", "\"exclude_modules\": [\"mlp\"]")).containsExactly("up_proj");
    assertThat(targets("[\"q_proj\"]", "\"exclude_modules\": []")).containsExactly("q_proj");
  }

  @Test
  void refusesAnExclusionThatLeavesALayerSubsetNamingExcludeModules() {
    refused("\"all-linear\"", "\"exclude_modules\": \"model\\\\.layers\\\\.1\\\\..*\"", 2, "exclude_modules",
        "adapted in layers [0] of 2 only");
    refused("[\"q_proj\"]", "\"exclude_modules\": [\"q_proj\"]", 2, "exclude_modules", "excludes every module");
  }

  @Test
  void patternsThatGiveEveryModuleTheSameValueAreApplied() throws Exception {
    LoraConfig c = parse("[\"q_proj\"]", "\"rank_pattern\": {\"q_proj\": 8}, \"alpha_pattern\": {\"q_proj\": 32}", 2);
    assertThat(c.rank()).isEqualTo(8);
    assertThat(c.alpha()).isEqualTo(32);
    // A key must match a whole dotted suffix: "_proj" does not, so r stays 4.
    assertThat(parse("[\"q_proj\"]", "\"rank_pattern\": {\"_proj\": 8}", 2).rank()).isEqualTo(4);
    // The first key in file order wins: q_proj gets 16 from "(q|v)_proj", not 32, so both share 16.
    LoraConfig first = parse("[\"q_proj\", \"v_proj\"]", "\"alpha_pattern\": {\"(q|v)_proj\": 16, \"q_proj\": 32}", 2);
    assertThat(first.alpha()).isEqualTo(16);
    // rsLoRA applies to the pattern's values: 32 / sqrt(16).
    LoraConfig rs = parse("[\"v_proj\"]", "\"use_rslora\": true, \"rank_pattern\": {\"v_proj\": 16},"
        + " \"alpha_pattern\": {\"model.layers.\\\\d+.self_attn.v_proj\": 32}", 2);
    assertThat(rs.rank()).isEqualTo(16);
    assertThat(rs.scaling()).isEqualTo(32 / Math.sqrt(16));
  }

  @Test
  void refusesPatternsThatGiveModulesDifferentValuesNamingTwoOfThem() {
    refused("[\"q_proj\", \"v_proj\"]", "\"rank_pattern\": {\"v_proj\": 8}", 2, "rank_pattern",
        "model.layers.0.self_attn.q_proj r=4 but model.layers.0.self_attn.v_proj r=8");
    refused("[\"q_proj\"]", "\"alpha_pattern\": {\"model.layers.1.self_attn.q_proj\": 16}", 2, "alpha_pattern",
        "model.layers.0.self_attn.q_proj lora_alpha=8.0 but model.layers.1.self_attn.q_proj lora_alpha=16.0");
  }

  @Test
  void refusesRegexSyntaxJavaCannotRead() {
    refused("\"(?P<m>q_proj)\"", "", 2, "target_modules", "is not a regular expression this loader reads");
    refused("[\"q_proj\"]", "\"rank_pattern\": {\"(?P<m>q_proj)\": 8}", 2, "rank_pattern", "is not a regular expression");
  }

  @Test
  void matchesAgainstTheNamesTransformersListsForLlamaForCausalLM() {
    // named_modules() of a 1-layer LlamaForCausalLM (transformers 4.45+), root left out as PEFT leaves it.
    assertThat(LlamaModuleNames.of(1).stream().map(LlamaModuleNames.Module::path).toList()).containsExactly(
        "model", "model.embed_tokens", "model.layers", "model.layers.0", "model.layers.0.self_attn",
        "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj",
        "model.layers.0.self_attn.o_proj", "model.layers.0.mlp", "model.layers.0.mlp.gate_proj",
        "model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj", "model.layers.0.mlp.act_fn",
        "model.layers.0.input_layernorm", "model.layers.0.post_attention_layernorm", "model.norm",
        "model.rotary_emb", "lm_head");
  }
}
