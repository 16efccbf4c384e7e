package io.prefstream.model.lora;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.train.Parameter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A LoRA adapter over a Llama decoder: one {@link LoraLinear} per (layer, target module), with
 * PEFT's parameter names ({@code base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight})
 * so the tensors read and write as PEFT's {@code adapter_model.safetensors}. New adapters start as
 * PEFT starts them: A kaiming-uniform (bound 1/sqrt(in), from a seed), B zero, so the adapted model
 * equals the base model until the first update. {@code lora_dropout} is kept in the config but
 * not applied (training stays deterministic).
 */
public final class LoraAdapter {
  private static final Logger log = LoggerFactory.getLogger(LoraAdapter.class);
  private final LoraConfig config;
  private final Map<String, LoraLinear> linears; // key: "<layer>.<module>"
  /** The same by layer, then by module name: looked up on every adapted product without building a key. */
  private final List<Map<String, LoraLinear>> byLayer = new ArrayList<>();
  private final List<Parameter> parameters;

  private LoraAdapter(LoraConfig config, Map<String, LoraLinear> linears) {
    this.config = config;
    this.linears = linears;
    for (Map.Entry<String, LoraLinear> e : linears.entrySet()) {
      int dot = e.getKey().indexOf('.');
      int layer = Integer.parseInt(e.getKey().substring(0, dot));
      while (byLayer.size() <= layer) byLayer.add(new java.util.HashMap<>());
      byLayer.get(layer).put(e.getKey().substring(dot + 1), e.getValue());
    }
    List<Parameter> ps = new ArrayList<>();
    for (LoraLinear l : linears.values()) {
      ps.add(l.a());
      ps.add(l.b());
    }
    this.parameters = List.copyOf(ps);
  }

  /** The PEFT module path of a projection, e.g. {@code model.layers.3.self_attn.q_proj}. */
  public static String modulePath(int layer, String module) {
    String block = switch (module) {
      case "q_proj", "k_proj", "v_proj", "o_proj" -> "self_attn";
      case "gate_proj", "up_proj", "down_proj" -> "mlp";
      default -> throw new IllegalArgumentException("unknown projection '" + module + "'; expected one of " + LoraConfig.ALL_TARGETS);
    };
    return "model.layers." + layer + "." + block + "." + module;
  }

  /** PEFT's key for lora_A or lora_B of a projection. */
  public static String peftKey(int layer, String module, char which) {
    return "base_model.model." + modulePath(layer, module) + ".lora_" + which + ".weight";
  }

  /** Input and output widths of a projection in this architecture. */
  public static int[] inOut(LlamaConfig c, String module) {
    int qd = c.numHeads() * c.headDim(), kvd = c.numKvHeads() * c.headDim();
    return switch (module) {
      case "q_proj" -> new int[] {c.hiddenSize(), qd};
      case "k_proj", "v_proj" -> new int[] {c.hiddenSize(), kvd};
      case "o_proj" -> new int[] {qd, c.hiddenSize()};
      case "gate_proj", "up_proj" -> new int[] {c.hiddenSize(), c.intermediateSize()};
      case "down_proj" -> new int[] {c.intermediateSize(), c.hiddenSize()};
      default -> throw new IllegalArgumentException("unknown projection '" + module + "'");
    };
  }

  /** A fresh adapter initialised like PEFT: A ~ U(−1/√in, 1/√in) from {@code seed}, B = 0. */
  public static LoraAdapter initialise(LlamaConfig model, LoraConfig config, long seed, Backend backend) {
    SplittableRandom rnd = new SplittableRandom(seed);
    Map<String, NamedTensor> tensors = new LinkedHashMap<>();
    int r = config.rank();
    for (int layer = 0; layer < model.numLayers(); layer++) {
      for (String m : LoraConfig.ALL_TARGETS.stream().sorted().toList()) {
        if (!config.targetModules().contains(m)) continue;
        int[] io = inOut(model, m);
        float[] a = new float[r * io[0]];
        double bound = 1.0 / Math.sqrt(io[0]);
        for (int i = 0; i < a.length; i++) a[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
        tensors.put(peftKey(layer, m, 'A'), new NamedTensor(peftKey(layer, m, 'A'), new int[] {r, io[0]}, a));
        tensors.put(peftKey(layer, m, 'B'), new NamedTensor(peftKey(layer, m, 'B'), new int[] {io[1], r}, new float[io[1] * r]));
      }
    }
    return fromTensors(model, config, tensors, backend);
  }

  /**
   * An adapter from PEFT-named tensors (as read from {@code adapter_model.safetensors}). Every
   * (layer, target) must be present with shapes [r, in] and [out, r]; extra keys are refused.
   */
  public static LoraAdapter fromTensors(LlamaConfig model, LoraConfig config, Map<String, NamedTensor> tensors, Backend backend) {
    Map<String, LoraLinear> linears = new LinkedHashMap<>();
    int r = config.rank();
    float scaling = (float) config.scaling();
    int used = 0;
    for (int layer = 0; layer < model.numLayers(); layer++) {
      for (String m : LoraConfig.ALL_TARGETS.stream().sorted().toList()) {
        if (!config.targetModules().contains(m)) continue;
        int[] io = inOut(model, m);
        NamedTensor a = require(tensors, peftKey(layer, m, 'A'), new int[] {r, io[0]});
        NamedTensor b = require(tensors, peftKey(layer, m, 'B'), new int[] {io[1], r});
        used += 2;
        Parameter pa = new Parameter(a.name(), a.shape(), backend.weight(a.data(), r, io[0], true), backend.alloc(a.numel()), backend, true);
        Parameter pb = new Parameter(b.name(), b.shape(), backend.weight(b.data(), io[1], r, true), backend.alloc(b.numel()), backend, true);
        linears.put(layer + "." + m, new LoraLinear(pa, pb, r, io[0], io[1], scaling));
      }
    }
    if (config.dropout() > 0) {
      // Dropout would make a step depend on a random mask; training here stays deterministic.
      log.info("lora_dropout {} is recorded but not applied: LoRA training runs without dropout", config.dropout());
    }
    if (used != tensors.size()) {
      List<String> extra = tensors.keySet().stream().filter(k -> linears.values().stream()
          .noneMatch(l -> l.a().name().equals(k) || l.b().name().equals(k))).sorted().limit(5).toList();
      throw new IllegalArgumentException("adapter has tensors that match no targeted projection of this model: " + extra
          + " (target_modules " + config.targetModules() + ", " + model.numLayers() + " layers)");
    }
    return new LoraAdapter(config, linears);
  }

  private static NamedTensor require(Map<String, NamedTensor> tensors, String key, int[] shape) {
    NamedTensor t = tensors.get(key);
    if (t == null) throw new IllegalArgumentException("adapter is missing tensor " + key);
    if (!Arrays.equals(t.shape(), shape)) {
      throw new IllegalArgumentException(key + " has shape " + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(shape));
    }
    return t;
  }

  public LoraConfig config() {
    return config;
  }

  /** The update of one projection, or null when the module is not targeted. */
  public LoraLinear linear(int layer, String module) {
    return layer >= 0 && layer < byLayer.size() ? byLayer.get(layer).get(module) : null;
  }

  /** A then B for each adapted projection, layer by layer, in a fixed order. */
  public List<Parameter> parameters() {
    return parameters;
  }

  /** Host copies under PEFT's names, ready for {@code adapter_model.safetensors}. */
  public Map<String, NamedTensor> toTensors() {
    Map<String, NamedTensor> out = new LinkedHashMap<>();
    for (Parameter p : parameters) out.put(p.name(), p.toTensor());
    return out;
  }
}
