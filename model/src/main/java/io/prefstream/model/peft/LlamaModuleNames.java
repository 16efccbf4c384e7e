package io.prefstream.model.peft;

import io.prefstream.model.io.LlamaWeights;
import java.util.ArrayList;
import java.util.List;

/**
 * The module names that Hugging Face's {@code LlamaForCausalLM.named_modules()} lists for a model
 * with a given number of layers, without the root (PEFT skips the root). PEFT matches
 * {@code target_modules}, {@code exclude_modules} and the keys of {@code rank_pattern} and
 * {@code alpha_pattern} against these names, so resolving them here gives the modules PEFT would
 * adapt. Only the seven decoder projections are ones this project can adapt; {@code lm_head} and
 * {@code model.embed_tokens} are ones PEFT can adapt and this project cannot; PEFT refuses the
 * rest (norms, containers, activations).
 */
final class LlamaModuleNames {
  /** The decoder projections, in the order a layer declares them (and PEFT saves them). */
  static final List<String> PROJECTIONS =
      List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

  static final String LM_HEAD = "lm_head";
  static final String EMBED_TOKENS = "model.embed_tokens";

  private LlamaModuleNames() {}

  /**
   * One module: its path and, for a decoder projection, its layer and projection name.
   *
   * @param layer      the decoder layer, or -1 for a module outside the layers
   * @param projection {@code q_proj} … {@code down_proj}, or null for any other module
   */
  record Module(String path, int layer, String projection) {
    boolean isProjection() {
      return projection != null;
    }
  }

  /** The modules of a {@code numLayers}-layer Llama in {@code named_modules()} order. */
  static List<Module> of(int numLayers) {
    List<Module> out = new ArrayList<>();
    other(out, "model");
    other(out, EMBED_TOKENS);
    other(out, "model.layers");
    for (int i = 0; i < numLayers; i++) {
      String layer = "model.layers." + i;
      other(out, layer);
      other(out, layer + ".self_attn");
      for (String p : PROJECTIONS.subList(0, 4)) out.add(projection(i, p));
      other(out, layer + ".mlp");
      for (String p : PROJECTIONS.subList(4, 7)) out.add(projection(i, p));
      other(out, layer + ".mlp.act_fn");
      other(out, layer + ".input_layernorm");
      other(out, layer + ".post_attention_layernorm");
    }
    other(out, "model.norm");
    other(out, "model.rotary_emb");
    other(out, LM_HEAD);
    return List.copyOf(out);
  }

  /** {@code model.layers.<layer>.<self_attn|mlp>.<projection>}. */
  static String projectionPath(int layer, String projection) {
    return "model.layers." + layer + "." + LlamaWeights.projectionParent(projection) + "." + projection;
  }

  private static Module projection(int layer, String name) {
    return new Module(projectionPath(layer, name), layer, name);
  }

  private static void other(List<Module> out, String path) {
    out.add(new Module(path, -1, null));
  }
}
