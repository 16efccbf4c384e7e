package io.prefstream.model.peft;

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
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Reads and writes LoRA adapters in PEFT's directory format: {@code adapter_config.json} and
 * {@code adapter_model.safetensors}, tensor keys as {@link PeftKeys} describes them (PEFT's saved
 * names; the {@code .default} adapter-name spelling is also read, and dropped).
 *
 * <p>Writing gives every field PEFT's LoraConfig saves ({@link PeftConfigJson#write}); PEFT and vLLM
 * load it as a plain LoRA. Reading resolves {@code target_modules} (list, regular expression or
 * "all-linear"), {@code exclude_modules}, {@code rank_pattern} and {@code alpha_pattern} against the
 * module names of a Llama with PEFT's matching rules ({@link PeftTargets}); the layer count is the
 * base model's when one is given, else one past the highest layer in the weights. What this project
 * does not compute is refused with a message naming the field or tensor and what is supported.
 * rsLoRA ({@code use_rslora}: scaling alpha/sqrt(r)) is read by folding into an alpha for the plain
 * alpha/r rule ({@link #plainAlpha}); the scaling then equals PEFT's alpha/sqrt(r) in float (what
 * {@code LoraAdapter} applies) and is within one ulp of it in double, checked for every r up to 256
 * and alpha = 0.5, 1, …, 64. Tests: PeftAdaptersTest, PeftConfigJsonTest,
 * PeftTargetsTest, PeftFixturesTest (hand-written PEFT fixtures, merged weights checked against
 * W + scaling·B·A).
 */
public final class PeftAdapters {
  public static final String CONFIG = "adapter_config.json";
  public static final String WEIGHTS = "adapter_model.safetensors";
  /** PEFT's prefix for a causal LM wrapped in PeftModelForCausalLM. */
  public static final String PREFIX = "base_model.model.";

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
    PeftConfigJson.Fields fields = PeftConfigJson.parse(Files.readString(cfgPath), cfgPath.toString());
    Path wPath = dir.resolve(WEIGHTS);
    if (!Files.isRegularFile(wPath)) {
      String hint = Files.exists(dir.resolve("adapter_model.bin"))
          ? " (adapter_model.bin is a pickle; save with safe_serialization)" : "";
      throw new ModelFormatException(dir + ": no " + WEIGHTS + hint);
    }
    Map<String, NamedTensor> tensors = new LinkedHashMap<>();
    LoraConfig cfg;
    try (SafetensorsFile f = SafetensorsFile.open(wPath)) {
      Map<String, PeftKeys.Factor> factors = new LinkedHashMap<>();
      for (String key : f.names()) factors.put(key, PeftKeys.parse(key, true, wPath.toString()));
      if (factors.isEmpty()) throw new ModelFormatException(wPath + ": holds no LoRA weights");
      int layers = base != null ? base.numLayers()
          : factors.values().stream().mapToInt(PeftKeys.Factor::layer).max().getAsInt() + 1;
      cfg = loraConfig(fields, layers, cfgPath.toString());
      for (Map.Entry<String, PeftKeys.Factor> e : factors.entrySet()) {
        String name = e.getValue().name();
        NamedTensor t = f.read(e.getKey());
        if (tensors.put(name, new NamedTensor(name, t.shape(), t.data())) != null) {
          throw new ModelFormatException(wPath + ": tensor '" + name + "' given twice (with and without .default)");
        }
      }
    }
    PeftAdapter adapter = new PeftAdapter(cfg, tensors, fields.baseModel());
    check(adapter, base, wPath.toString());
    return adapter;
  }

  /**
   * Every name is a PEFT key of a targeted projection, every A is [r, in] and every B is [out, r]
   * with the same module's A; with a base, the layers and [out, in] fit it and nothing is missing.
   */
  static void check(PeftAdapter a, LlamaConfig base, String where) throws ModelFormatException {
    int r = a.config().rank();
    Map<String, PeftKeys.Factor> modules = new TreeMap<>(); // module path -> its factor, for a stable order
    for (String name : a.tensors().keySet()) {
      PeftKeys.Factor k = PeftKeys.parse(name, false, where);
      if (!a.config().targetModules().contains(k.projection())) {
        throw new ModelFormatException(where + ": tensor '" + name + "' adapts " + k.projection()
            + ", which target_modules " + new TreeSet<>(a.config().targetModules()) + " does not list");
      }
      modules.put(k.modulePath(), k);
    }
    for (PeftKeys.Factor k : modules.values()) {
      String module = k.modulePath();
      NamedTensor A = a.tensors().get(PeftAdapter.loraA(k.layer(), k.projection()));
      NamedTensor B = a.tensors().get(PeftAdapter.loraB(k.layer(), k.projection()));
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
        if (k.layer() >= base.numLayers()) {
          throw new ModelFormatException(where + ": " + module + " is beyond the base model's " + base.numLayers()
              + " layers");
        }
        int[] shape = LlamaWeights.projectionShape(base, k.projection());
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
      for (String t : LlamaModuleNames.PROJECTIONS) {
        if (!lora.targetModules().contains(t)) continue;
        int[] s = LlamaWeights.projectionShape(base, t);
        out.put(PeftAdapter.loraA(i, t), new int[] {lora.rank(), s[1]});
        out.put(PeftAdapter.loraB(i, t), new int[] {s[0], lora.rank()});
      }
    }
    return out;
  }

  record ParsedConfig(LoraConfig config, Optional<String> baseModel) {}

  /**
   * Parses adapter_config.json text for a Llama of {@code numLayers} layers (regular expressions and
   * patterns are resolved against its module names); {@code source} starts every message.
   */
  static ParsedConfig parseConfig(String json, String source, int numLayers) throws ModelFormatException {
    PeftConfigJson.Fields fields = PeftConfigJson.parse(json, source);
    return new ParsedConfig(loraConfig(fields, numLayers, source), fields.baseModel());
  }

  private static LoraConfig loraConfig(PeftConfigJson.Fields fields, int numLayers, String source)
      throws ModelFormatException {
    PeftTargets.Resolved t = PeftTargets.resolve(fields, numLayers, source);
    try {
      return new LoraConfig(t.rank(), plainAlpha(t.alpha(), t.rank(), fields.useRslora()), t.projections(),
          fields.dropout());
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(source + ": " + e.getMessage(), e);
    }
  }

  /**
   * The alpha that gives PEFT's scaling under the plain alpha/r rule: alpha itself, or with rsLoRA
   * (scaling alpha/sqrt(r)) a value a' with a'/r == alpha/sqrt(r) in double where one exists within
   * four ulps of (alpha/sqrt(r))·r, else that product (then a'/r is within one ulp of it).
   */
  static double plainAlpha(double alpha, int r, boolean rslora) {
    if (!rslora) return alpha;
    double scaling = alpha / Math.sqrt(r);
    double folded = scaling * r;
    double up = folded, down = folded;
    for (int i = 0; i <= 4; i++) {
      if (up / r == scaling) return up;
      if (down / r == scaling) return down;
      up = Math.nextUp(up);
      down = Math.nextDown(down);
    }
    return folded;
  }

  /** adapter_config.json as PEFT writes it for a plain LoRA on a causal LM (see {@link PeftConfigJson#write}). */
  public static ObjectNode configJson(LoraConfig c, Optional<String> baseModel) {
    return PeftConfigJson.write(c, baseModel);
  }

  /**
   * Writes adapter_config.json and adapter_model.safetensors ({@code dtype} F32 or BF16, metadata
   * {@code format: pt} as PEFT writes it) into {@code dir}, after {@link #check}.
   */
  public static void write(Path dir, PeftAdapter adapter, DType dtype) throws IOException {
    check(adapter, null, "adapter to write");
    Files.createDirectories(dir);
    Files.writeString(dir.resolve(CONFIG), PeftConfigJson.JSON.writeValueAsString(
        configJson(adapter.config(), adapter.baseModelNameOrPath())) + "\n");
    List<NamedTensor> out = new ArrayList<>();
    for (String name : new TreeSet<>(adapter.tensors().keySet())) out.add(adapter.tensors().get(name));
    SafetensorsWriter.write(dir.resolve(WEIGHTS), out, Map.of("format", "pt"), dtype);
  }
}
