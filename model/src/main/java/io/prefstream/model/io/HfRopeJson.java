package io.prefstream.model.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.config.Rope;
import io.prefstream.model.config.RopeScaling;
import java.util.Map;

/**
 * The RoPE fields of {@code config.json}: {@code rope_theta} with {@code rope_scaling} (transformers
 * 4: {@code rope_type}, or the older {@code type}), or transformers 5's {@code rope_parameters}
 * object that carries {@code rope_theta} and {@code rope_type} together. Types "default", "linear"
 * and "llama3" are read; every other type (dynamic, yarn, longrope, ...) changes the angles with the
 * sequence length or rescales attention, and is refused by name.
 */
final class HfRopeJson {
  private HfRopeJson() {}

  /** Reads theta and the scaling; refusals name the field, e.g. {@code rope_scaling.factor}. */
  static Rope read(JsonFields f) throws ModelFormatException {
    refusePartialRotary(f);
    double theta = f.number("rope_theta", 10000.0);
    RopeScaling scaling = RopeScaling.NONE;
    boolean fromScaling = f.present("rope_scaling");
    if (fromScaling) scaling = scaling(f, "rope_scaling", true);
    if (f.present("rope_parameters")) {
      JsonFields p = f.nested("rope_parameters");
      if (!p.root().isObject()) throw f.refuse("rope_parameters", "must be an object or null, got " + p.root());
      for (Map.Entry<String, JsonNode> e : p.root().properties()) {
        if (e.getValue().isObject()) {
          throw p.refuse(e.getKey(), "is an object: RoPE per layer type is not supported; only one RoPE for all layers");
        }
      }
      refusePartialRotary(p);
      theta = p.number("rope_theta", theta);
      RopeScaling fromParams = scaling(f, "rope_parameters", false);
      if (fromScaling && !fromParams.equals(scaling)) {
        throw f.refuse("rope_parameters", "says " + fromParams + " but rope_scaling says " + scaling
            + "; give one of them");
      }
      scaling = fromParams;
    }
    try {
      return new Rope(theta, scaling);
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(f.source() + ": " + e.getMessage(), e);
    }
  }

  private static RopeScaling scaling(JsonFields f, String field, boolean typeRequired) throws ModelFormatException {
    JsonFields s = f.nested(field);
    if (!s.root().isObject()) throw f.refuse(field, "must be an object or null, got " + s.root());
    String typeKey = s.present("rope_type") ? "rope_type" : s.present("type") ? "type" : null;
    if (typeKey == null && typeRequired) throw f.refuse(field, "has no rope_type (or type); say \"default\" or drop it");
    String type = typeKey == null ? "default" : s.string(typeKey, "default");
    String needs = "for rope_type '" + type + "'";
    try {
      return switch (type) {
        case "default" -> RopeScaling.NONE;
        case "linear" -> new RopeScaling.Linear(s.requiredNumber("factor", needs));
        case "llama3" -> new RopeScaling.Llama3(s.requiredNumber("factor", needs),
            s.requiredNumber("low_freq_factor", needs), s.requiredNumber("high_freq_factor", needs),
            s.requiredInteger("original_max_position_embeddings", needs));
        default -> throw s.refuse(typeKey, "'" + type + "' is not supported; supported: default, linear, llama3"
            + " (dynamic, yarn and longrope scale with the sequence length or rescale attention)");
      };
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(f.source() + ": " + field + " " + e.getMessage(), e);
    }
  }

  private static void refusePartialRotary(JsonFields f) throws ModelFormatException {
    if (f.present("partial_rotary_factor") && f.number("partial_rotary_factor", 1.0) != 1.0) {
      throw f.refuse("partial_rotary_factor", f.root().get("partial_rotary_factor")
          + " is not supported; RoPE here rotates the whole head (1.0)");
    }
  }

  /** Writes {@code rope_theta} and {@code rope_scaling} (null when unscaled) as transformers 4 reads them. */
  static void write(ObjectNode o, Rope rope) {
    o.put("rope_theta", rope.theta());
    switch (rope.scaling()) {
      case RopeScaling.Unscaled u -> o.putNull("rope_scaling");
      case RopeScaling.Linear l -> {
        ObjectNode s = o.putObject("rope_scaling");
        s.put("rope_type", l.type());
        s.put("factor", l.factor());
      }
      case RopeScaling.Llama3 l -> {
        ObjectNode s = o.putObject("rope_scaling");
        s.put("rope_type", l.type());
        s.put("factor", l.factor());
        s.put("low_freq_factor", l.lowFreqFactor());
        s.put("high_freq_factor", l.highFreqFactor());
        s.put("original_max_position_embeddings", l.originalMaxPositions());
      }
    }
  }
}
