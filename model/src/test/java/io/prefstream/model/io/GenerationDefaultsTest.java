package io.prefstream.model.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tokenizer.ByteLevelTokenizerFiles;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerationDefaultsTest {
  @TempDir Path dir;

  private static Path family(String name) throws URISyntaxException {
    return Path.of(GenerationDefaultsTest.class.getResource("/families/" + name + "/config.json").toURI()).getParent();
  }

  private static GenerationDefaults readFamily(String name) throws Exception {
    Path d = family(name);
    return GenerationDefaults.read(d, HfConfigJson.readDetailed(d.resolve("config.json")));
  }

  @Test
  void readsLlama3SamplingDefaultsWithTransformersDefaultsForAbsentFields() throws Exception {
    GenerationDefaults g = readFamily("llama3");
    assertThat(g).isEqualTo(new GenerationDefaults(List.of(301, 308, 309), 300, -1, true, 0.6, 50, 0.9,
        OptionalInt.empty(), 1.0));
    assertThat(g.greedy()).isFalse();
  }

  @Test
  void readsQwenTopKRepetitionPenaltyAndPad() throws Exception {
    assertThat(readFamily("qwen2_5")).isEqualTo(new GenerationDefaults(List.of(302, 300), 300, 300, true, 0.7, 20, 0.8,
        OptionalInt.empty(), 1.1));
  }

  @Test
  void withoutDoSampleDecodingIsGreedyWhateverTheTemperatureSays() throws Exception {
    GenerationDefaults g = readFamily("linear_rope");
    assertThat(g.greedy()).isTrue();
    assertThat(g.temperature()).isEqualTo(0.9); // kept as written, but not applied
    assertThat(g.topP()).isEqualTo(0.6);
    assertThat(List.of(g.bosTokenId(), g.padTokenId())).containsExactly(1, 0);
    GenerationDefaults smol = readFamily("smollm2");
    assertThat(smol).isEqualTo(new GenerationDefaults(List.of(2), 1, 2, false, 1.0, 50, 1.0, OptionalInt.empty(), 1.0));
    assertThat(GenerationDefaults.parse("{\"do_sample\": false, \"temperature\": 0.0}", "g").greedy()).isTrue();
  }

  @Test
  void nullDisablesAFilterWhileAbsentTakesTheDefault() throws Exception {
    GenerationDefaults g = GenerationDefaults.parse("""
        {"do_sample": true, "top_k": null, "top_p": null, "temperature": null, "eos_token_id": null,
         "bos_token_id": null, "max_new_tokens": 128}""", "generation_config.json");
    assertThat(g).isEqualTo(new GenerationDefaults(List.of(), -1, -1, true, 1.0, 0, 1.0, OptionalInt.of(128), 1.0));
    assertThat(GenerationDefaults.parse("{}", "g").topK()).isEqualTo(GenerationDefaults.DEFAULT_TOP_K);
  }

  @Test
  void withoutTheFileTheIdsComeFromConfigJson() throws Exception {
    Path d = Files.createDirectories(dir.resolve("m"));
    Files.copy(family("llama3").resolve("config.json"), d.resolve("config.json"));
    GenerationDefaults g = GenerationDefaults.read(d, HfConfigJson.readDetailed(d.resolve("config.json")));
    assertThat(g).isEqualTo(new GenerationDefaults(List.of(301, 308, 309), 300, -1, false, 1.0, 50, 1.0,
        OptionalInt.empty(), 1.0));
  }

  @Test
  void loadedModelExposesItsGenerationDefaults() throws Exception {
    LlamaConfig c = new LlamaConfig(259, 32, 48, 2, 4, 2, 8, 64, 1e-5, 10000, true, false, 256, 257);
    HfModelDir.write(dir, c, ModelInit.randomWeights(c, 1), DType.F32);
    ByteLevelTokenizerFiles.write(dir, List.of(), 64);
    try (HfModel m = HfModelDir.load(dir)) {
      assertThat(m.generationDefaults()).isEqualTo(new GenerationDefaults(List.of(257), 256, -1, false, 1.0, 50, 1.0,
          OptionalInt.empty(), 1.0));
    }
    Files.writeString(dir.resolve(HfModelDir.GENERATION_CONFIG), "{\"do_sample\": true, \"top_p\": 2}");
    assertThatThrownBy(() -> HfModelDir.load(dir)).isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("generation_config.json: top_p must be in [0, 1], got 2.0");
  }

  private static void refused(String json, String fieldAndWhy) {
    assertThatThrownBy(() -> GenerationDefaults.parse(json, "m/generation_config.json"))
        .isInstanceOf(ModelFormatException.class).hasMessageStartingWith("m/generation_config.json: " + fieldAndWhy);
  }

  @Test
  void refusesMalformedValuesNamingFileAndField() {
    refused("{\"temperature\": \"hot\"}", "temperature must be a number");
    refused("{\"temperature\": -0.5}", "temperature must be a finite number >= 0");
    refused("{\"do_sample\": true, \"temperature\": 0}", "temperature must be > 0 when do_sample is true");
    refused("{\"do_sample\": \"yes\"}", "do_sample must be true or false");
    refused("{\"top_k\": -1}", "top_k must be >= 0");
    refused("{\"top_k\": 2.5}", "top_k must be an integer");
    refused("{\"top_p\": 1.5}", "top_p must be in [0, 1]");
    refused("{\"max_new_tokens\": 0}", "max_new_tokens must be >= 1");
    refused("{\"repetition_penalty\": 0}", "repetition_penalty must be a finite number > 0");
    refused("{\"eos_token_id\": [1, \"x\"]}", "eos_token_id list holds a non-integer");
    refused("{\"eos_token_id\": -1}", "eos_token_id must be a non-negative integer");
    refused("{\"pad_token_id\": \"0\"}", "pad_token_id must be a non-negative integer");
    refused("[1, 2]", "not a JSON object");
    refused("{\"do_sample\": tru", "not valid JSON");
  }
}
