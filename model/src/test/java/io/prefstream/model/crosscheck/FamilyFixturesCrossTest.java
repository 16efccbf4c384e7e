package io.prefstream.model.crosscheck;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.Rope;
import io.prefstream.model.config.RopeScaling;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HandWrittenModelDir;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.llama.KvCache;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.Ref;
import io.prefstream.model.safetensors.HandWrittenSafetensors;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.tokenizer.ByteLevelTokenizerFiles;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each fixture under {@code families/<family>/} (config.json and generation_config.json shaped like
 * the published ones) gets seeded random F32 weights in a temporary copy, is loaded through
 * {@link HfModelDir}, and its logits over 96 positions (past the llama3 fixtures' original context
 * of 64, so RoPE scaling matters) are compared with {@link Float64Llama}. The reference reads the
 * shapes and RoPE fields from the config.json text itself and computes the scaled frequencies with
 * {@link Ref#llama3Frequency}, so a loader that drops or misreads the scaling fails here. The same
 * comparison covers cached prefill + decode, where positions come from the cache.
 */
class FamilyFixturesCrossTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int POSITIONS = 96, PREFILL = 80;
  private static final double MAX_REL_ERR = 1e-4;

  /** What each fixture must parse to, spelled out so a fixture edit shows up here. */
  record Family(String name, Rope rope, boolean tied, boolean qkvBias, int bos, List<Integer> eos,
      List<Integer> generationEos, boolean greedy) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Family> families() {
    return Stream.of(
        new Family("llama3", new Rope(500000, new RopeScaling.Llama3(32, 1, 4, 64)), true, false, 300,
            List.of(301, 308, 309), List.of(301, 308, 309), false),
        new Family("llama31", new Rope(500000, new RopeScaling.Llama3(8, 1, 4, 64)), false, false, 300,
            List.of(301, 308, 309), List.of(301, 308, 309), false),
        new Family("qwen2_5", Rope.unscaled(1e6), true, true, 300, List.of(302), List.of(302, 300), false),
        new Family("smollm2", Rope.unscaled(1e5), true, false, 1, List.of(2), List.of(2), true),
        new Family("mistral", Rope.unscaled(1e6), false, false, 1, List.of(2), List.of(2), true),
        new Family("linear_rope", new Rope(10000, new RopeScaling.Linear(4)), false, false, 1, List.of(2), List.of(2),
            true));
  }

  static Stream<Family> scaledFamilies() {
    return families().filter(f -> !f.rope().scaling().equals(RopeScaling.NONE));
  }

  @TempDir Path tmp;

  @ParameterizedTest(name = "{0}")
  @MethodSource("families")
  void loadedFamilyGivesTheFloat64ReferenceLogits(Family family) throws Exception {
    // create: the fixture with random weights
    Path dir = copyFixture(family.name());
    JsonNode json = JSON.readTree(Files.readString(dir.resolve("config.json")));
    LlamaConfig shapes = shapesFromJson(json);
    Map<String, NamedTensor> weights = HandWrittenModelDir.tensors(shapes, family.name().hashCode());
    writeWeights(dir, weights);
    double[] invFreq = inverseFrequenciesFromJson(json, shapes.headDim());
    int[] tokens = tokens(shapes.vocabSize());
    double[][] ref = Float64Llama.logits(shapes, invFreq, weights, tokens);

    try (HfModel hf = HfModelDir.load(dir)) {
      // verify: what the loader parsed
      assertThat(hf.config().rope()).isEqualTo(family.rope());
      assertThat(hf.config()).isEqualTo(new LlamaConfig(shapes.vocabSize(), shapes.hiddenSize(), shapes.intermediateSize(),
          shapes.numLayers(), shapes.numHeads(), shapes.numKvHeads(), shapes.headDim(), shapes.maxPositions(),
          shapes.rmsNormEps(), family.rope(), family.tied(), family.qkvBias(), family.bos(), family.eos().getFirst()));
      assertThat(hf.hfConfig().eosTokenIds()).isEqualTo(family.eos());
      assertThat(hf.generationDefaults().eosTokenIds()).isEqualTo(family.generationEos());
      assertThat(hf.generationDefaults().greedy()).isEqualTo(family.greedy());

      // verify: full-sequence logits, then prefill + one-token decode steps through the KV cache
      LlamaModel model = LlamaModel.create(hf.config(), hf.weights(), new CpuBackend());
      float[] logits = model.logits(tokens);
      int v = shapes.vocabSize();
      for (int t = 0; t < tokens.length; t++) {
        assertClose(Arrays.copyOfRange(logits, t * v, (t + 1) * v), ref[t], family + " position " + t);
      }
      KvCache cache = model.newKvCache(tokens.length);
      float[] last = model.forwardCached(cache, Arrays.copyOf(tokens, PREFILL));
      assertClose(last, ref[PREFILL - 1], family + " prefill");
      for (int t = PREFILL; t < tokens.length; t++) {
        last = model.forwardCached(cache, new int[] {tokens[t]});
        assertClose(last, ref[t], family + " decode at position " + t);
      }
    }
  }

  /** The scaling must move the logits at late positions, or the comparison above proves nothing about it. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("scaledFamilies")
  void scaledFamiliesDifferFromUnscaledRopeAtLatePositions(Family family) throws Exception {
    JsonNode json = JSON.readTree(Files.readString(fixture(family.name()).resolve("config.json")));
    LlamaConfig shapes = shapesFromJson(json);
    Map<String, NamedTensor> weights = HandWrittenModelDir.tensors(shapes, family.name().hashCode());
    int[] tokens = tokens(shapes.vocabSize());
    double[][] scaled = Float64Llama.logits(shapes, inverseFrequenciesFromJson(json, shapes.headDim()), weights, tokens);
    double[][] plain = Float64Llama.logits(shapes, Float64Llama.unscaled(shapes), weights, tokens);
    assertThat(relErr(scaled[POSITIONS - 1], plain[POSITIONS - 1])).isGreaterThan(100 * MAX_REL_ERR);
  }

  // ---- the test's own reading of config.json (transformers' defaults for absent fields) ----

  private static LlamaConfig shapesFromJson(JsonNode c) {
    int hidden = c.get("hidden_size").asInt(), heads = c.get("num_attention_heads").asInt();
    int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
    boolean qwen = c.get("model_type").asText().equals("qwen2");
    return new LlamaConfig(c.get("vocab_size").asInt(), hidden, c.get("intermediate_size").asInt(),
        c.get("num_hidden_layers").asInt(), heads, c.path("num_key_value_heads").asInt(heads), headDim,
        c.get("max_position_embeddings").asInt(), c.get("rms_norm_eps").asDouble(), c.path("rope_theta").asDouble(10000),
        c.path("tie_word_embeddings").asBoolean(false), qwen, -1, -1);
  }

  private static double[] inverseFrequenciesFromJson(JsonNode c, int hd) {
    double theta = c.path("rope_theta").asDouble(10000);
    JsonNode s = c.path("rope_scaling");
    String type = s.isObject() ? s.path("rope_type").asText(s.path("type").asText()) : "default";
    double[] f = new double[hd / 2];
    for (int j = 0; j < f.length; j++) {
      double base = Ref.baseFrequency(theta, j, hd);
      f[j] = switch (type) {
        case "default" -> base;
        case "linear" -> base / s.get("factor").asDouble();
        case "llama3" -> Ref.llama3Frequency(base, s.get("factor").asDouble(), s.get("low_freq_factor").asDouble(),
            s.get("high_freq_factor").asDouble(), s.get("original_max_position_embeddings").asDouble());
        default -> throw new AssertionError("fixture with rope type " + type);
      };
    }
    return f;
  }

  // ---- fixture plumbing ----

  static Path fixture(String family) throws URISyntaxException {
    return Path.of(FamilyFixturesCrossTest.class.getResource("/families/" + family + "/config.json").toURI()).getParent();
  }

  private Path copyFixture(String family) throws IOException, URISyntaxException {
    Path from = fixture(family), to = tmp.resolve(family);
    Files.createDirectories(to);
    try (Stream<Path> files = Files.list(from)) {
      for (Path f : files.toList()) Files.copy(f, to.resolve(f.getFileName()));
    }
    // the fixtures may gain real tokenizer files; until then any tokenizer within the vocabulary will do
    if (!Files.exists(to.resolve("tokenizer.json"))) ByteLevelTokenizerFiles.write(to, List.of(), 1024);
    return to;
  }

  private static void writeWeights(Path dir, Map<String, NamedTensor> weights) throws IOException {
    HandWrittenSafetensors st = new HandWrittenSafetensors().metadata("format", "pt");
    for (NamedTensor t : weights.values()) st.f32(t.name(), t.shape(), t.data());
    st.writeTo(dir.resolve("model.safetensors"));
  }

  /** Seeded random ids over the whole vocabulary (special ids included). */
  private static int[] tokens(int vocab) {
    SplittableRandom r = new SplittableRandom(7);
    int[] t = new int[POSITIONS];
    for (int i = 0; i < t.length; i++) t[i] = r.nextInt(vocab);
    return t;
  }

  private static double relErr(float[] actual, double[] expected) {
    double[] a = new double[actual.length];
    for (int i = 0; i < a.length; i++) a[i] = actual[i];
    return relErr(a, expected);
  }

  /** max |a − e| / max |e|. */
  private static double relErr(double[] actual, double[] expected) {
    double diff = 0, scale = 0;
    for (int i = 0; i < expected.length; i++) {
      diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
      scale = Math.max(scale, Math.abs(expected[i]));
    }
    return diff / scale;
  }

  private static void assertClose(float[] actual, double[] expected, String where) {
    assertThat(relErr(actual, expected)).as(where).isLessThanOrEqualTo(MAX_REL_ERR);
  }
}
