package io.prefstream.model.peft;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.LlamaWeights;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.Tiny;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.safetensors.HandWrittenSafetensors;
import io.prefstream.model.tensor.NamedTensor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Adapters as PEFT saves them, for {@link Tiny#tied()} (2 layers, C=16, MLP 24). Each
 * {@code src/test/resources/peft/<fixture>/adapter_config.json} is what that PEFT version's
 * {@code save_pretrained} writes ({@code json.dumps(to_dict(), indent=2, sort_keys=True)}, the
 * field set of that tag); the {@code adapter_model.safetensors} beside it is written here at run
 * time with PEFT's keys and {@code {"format": "pt"}}. Each adapter is read, attached to a CPU
 * {@link LlamaModel} and merged; every merged projection must be W + scaling·B·A computed here in
 * double from the same numbers, with the scaling written out from the fixture's r and lora_alpha.
 */
class PeftFixturesTest {
  @TempDir Path dir;

  static final LlamaConfig BASE = Tiny.tied();
  static final long BASE_SEED = 8;

  /** A fixture and what PEFT would do with it, stated independently of the loader. */
  record Fixture(String name, int r, double scaling, List<String> projections, boolean bf16, String baseModel) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Fixture> fixtures() {
    return Stream.of(
        // LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"]), PEFT 0.17.1
        new Fixture("v0.17-q-v", 8, 16.0 / 8, List.of("q_proj", "v_proj"), false, "HuggingFaceTB/SmolLM2-135M"),
        // LoraConfig(r=6, lora_alpha=16, use_rslora=True, target_modules="all-linear"), PEFT 0.18.0, bf16 weights
        new Fixture("v0.18-rslora-all-linear", 6, 16 / Math.sqrt(6),
            List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), true, "/models/tiny"),
        // LoraConfig(r=4, lora_alpha=8, target_modules=<regex over q/k/v/o and down>, exclude_modules=["v_proj"]), 0.20.0
        new Fixture("v0.20-regex-exclude", 4, 8.0 / 4, List.of("q_proj", "k_proj", "o_proj", "down_proj"), false,
            "HuggingFaceTB/SmolLM2-135M"));
  }

  /** The fixture's config copied into {@code to}, and its weights written there; returns the A/B values by key. */
  private static Map<String, float[]> install(Fixture f, Path to, boolean adapterName) throws IOException {
    Files.createDirectories(to);
    try (InputStream in = PeftFixturesTest.class.getResourceAsStream("/peft/" + f.name() + "/adapter_config.json")) {
      Files.write(to.resolve("adapter_config.json"), in.readAllBytes());
    }
    SplittableRandom rnd = new SplittableRandom(f.name().hashCode());
    HandWrittenSafetensors st = new HandWrittenSafetensors().metadata("format", "pt");
    Map<String, float[]> values = new HashMap<>();
    for (int l = 0; l < BASE.numLayers(); l++) {
      for (String p : f.projections()) {
        int[] outIn = LlamaWeights.projectionShape(BASE, p);
        String prefix = "base_model.model.model.layers." + l + "." + LlamaWeights.projectionParent(p) + "." + p;
        String suffix = adapterName ? ".default.weight" : ".weight";
        float[] a = values(rnd, f.r() * outIn[1], f.bf16());
        float[] b = values(rnd, outIn[0] * f.r(), f.bf16());
        if (f.bf16()) {
          st.bf16Truncated(prefix + ".lora_A" + suffix, new int[] {f.r(), outIn[1]}, a);
          st.bf16Truncated(prefix + ".lora_B" + suffix, new int[] {outIn[0], f.r()}, b);
        } else {
          st.f32(prefix + ".lora_A" + suffix, new int[] {f.r(), outIn[1]}, a);
          st.f32(prefix + ".lora_B" + suffix, new int[] {outIn[0], f.r()}, b);
        }
        values.put(prefix + ".lora_A.weight", a);
        values.put(prefix + ".lora_B.weight", b);
      }
    }
    st.writeTo(to.resolve("adapter_model.safetensors"));
    return values;
  }

  /** Trained-looking values; on the bf16 grid (low 16 bits zero) when the file stores bf16. */
  private static float[] values(SplittableRandom rnd, int n, boolean bf16) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      float x = (float) (rnd.nextGaussian() * 0.3);
      v[i] = bf16 ? Float.intBitsToFloat(Float.floatToRawIntBits(x) & 0xFFFF0000) : x;
    }
    return v;
  }

  private static Map<String, NamedTensor> merged(PeftAdapter a) {
    LlamaModel m = LlamaModel.create(BASE, Tiny.weights(BASE, BASE_SEED), new CpuBackend());
    m.attachLora(a.config(), a.tensors());
    m.mergeLora();
    return m.exportWeights();
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void mergedWeightsAreBasePlusScalingTimesBA(Fixture f) throws IOException {
    Map<String, float[]> lora = install(f, dir, false);
    PeftAdapter a = PeftAdapters.read(dir, BASE);
    assertThat(a.config().rank()).isEqualTo(f.r());
    assertThat(a.config().targetModules()).containsExactlyInAnyOrderElementsOf(f.projections());
    assertThat((float) a.config().scaling()).isEqualTo((float) f.scaling());
    assertThat(a.baseModelNameOrPath()).contains(f.baseModel());

    Map<String, NamedTensor> base = Tiny.weights(BASE, BASE_SEED);
    Map<String, NamedTensor> merged = merged(a);
    int checked = 0;
    for (Map.Entry<String, NamedTensor> e : base.entrySet()) {
      String name = e.getKey();
      float[] w = e.getValue().data();
      float[] got = merged.get(name).data();
      String module = name.substring(0, name.length() - ".weight".length());
      float[] A = lora.get("base_model.model." + module + ".lora_A.weight");
      if (A == null) {
        assertThat(got).as(name + " is not adapted").containsExactly(w);
        continue;
      }
      float[] B = lora.get("base_model.model." + module + ".lora_B.weight");
      int out = e.getValue().shape()[0], in = e.getValue().shape()[1], r = f.r();
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < in; i++) {
          double delta = 0;
          for (int k = 0; k < r; k++) delta += (double) B[o * r + k] * A[k * in + i];
          double want = w[o * in + i] + f.scaling() * delta;
          assertThat((double) got[o * in + i]).as("%s[%d][%d]", name, o, i)
              .isCloseTo(want, org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(want))));
        }
      }
      checked++;
    }
    assertThat(checked).isEqualTo(BASE.numLayers() * f.projections().size());
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void roundTripsToIdenticalTensorsAndConfig(Fixture f) throws IOException {
    install(f, dir.resolve("peft"), false);
    PeftAdapter read = PeftAdapters.read(dir.resolve("peft"), BASE);
    PeftAdapters.write(dir.resolve("ours"), read, DType.F32);
    PeftAdapter back = PeftAdapters.read(dir.resolve("ours"), BASE);
    assertThat(back.config()).isEqualTo(read.config());
    assertThat(back.baseModelNameOrPath()).isEqualTo(read.baseModelNameOrPath());
    assertThat(back.tensors().keySet()).isEqualTo(read.tensors().keySet());
    read.tensors().forEach((name, t) -> {
      assertThat(back.tensor(name).shape()).as(name).containsExactly(t.shape());
      assertThat(back.tensor(name).data()).as(name).containsExactly(t.data());
    });
    if (f.bf16()) {
      PeftAdapters.write(dir.resolve("bf16"), read, DType.BF16); // values on the bf16 grid survive bf16 exactly
      assertThat(PeftAdapters.read(dir.resolve("bf16"), BASE)).isEqualTo(read);
    }
  }

  @Test
  void readsTheDefaultAdapterNameSpellingAsTheSavedOne() throws IOException {
    Fixture f = fixtures().findFirst().orElseThrow();
    install(f, dir.resolve("saved"), false);
    install(f, dir.resolve("raw"), true);
    assertThat(PeftAdapters.read(dir.resolve("raw"), BASE)).isEqualTo(PeftAdapters.read(dir.resolve("saved"), BASE));
  }

  @Test
  void rsLoraMergesExactlyAsThePlainAdapterWithAlphaTimesSqrtR() throws IOException {
    Fixture rs = fixtures().filter(f -> f.name().contains("rslora")).findFirst().orElseThrow();
    install(rs, dir.resolve("rslora"), false);
    install(rs, dir.resolve("plain"), false);
    Path plainConfig = dir.resolve("plain").resolve("adapter_config.json");
    String json = Files.readString(plainConfig);
    String plain = json.replace("\"use_rslora\": true", "\"use_rslora\": false")
        .replace("\"lora_alpha\": 16,", "\"lora_alpha\": " + 16 * Math.sqrt(6) + ",");
    assertThat(plain).isNotEqualTo(json).contains("\"use_rslora\": false", "\"lora_alpha\": 39.19183588453");
    Files.writeString(plainConfig, plain);

    PeftAdapter withRsLora = PeftAdapters.read(dir.resolve("rslora"), BASE);
    PeftAdapter withPlain = PeftAdapters.read(dir.resolve("plain"), BASE);
    assertThat((float) withRsLora.config().scaling()).isEqualTo((float) withPlain.config().scaling());
    Map<String, NamedTensor> a = merged(withRsLora), b = merged(withPlain);
    assertThat(a.keySet()).isEqualTo(b.keySet());
    a.forEach((name, t) -> assertThat(t.data()).as(name).containsExactly(b.get(name).data()));
  }
}
