package io.prefstream.model.io;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * Typed access to the fields of one JSON object of a Hugging Face file, refusing wrong types with
 * a {@link ModelFormatException} that names the file ({@code source}) and the field ({@code prefix}
 * + name, e.g. {@code rope_scaling.factor}). A JSON null reads like an absent field unless a method
 * says otherwise.
 */
record JsonFields(JsonNode root, String source, String prefix) {
  JsonFields(JsonNode root, String source) {
    this(root, source, "");
  }

  /** The fields of the object held by {@code name}, with messages naming {@code name.field}. */
  JsonFields nested(String name) {
    return new JsonFields(root.get(name), source, prefix + name + ".");
  }

  ModelFormatException refuse(String field, String why) {
    return new ModelFormatException(source + ": " + prefix + field + " " + why);
  }

  boolean present(String name) {
    return root.hasNonNull(name);
  }

  String string(String name, String dflt) throws ModelFormatException {
    JsonNode n = root.get(name);
    if (n == null || n.isNull()) return dflt;
    if (!n.isTextual()) throw refuse(name, "must be a string, got " + n);
    return n.asText();
  }

  int integer(String name, int dflt) throws ModelFormatException {
    JsonNode n = root.get(name);
    if (n == null || n.isNull()) return dflt;
    if (!n.isIntegralNumber() || !n.canConvertToInt()) throw refuse(name, "must be an integer, got " + n);
    return n.asInt();
  }

  /** A required integer; {@code why} says what needs it. */
  int requiredInteger(String name, String why) throws ModelFormatException {
    if (!present(name)) throw refuse(name, "is required " + why);
    return integer(name, 0);
  }

  /** A token id: a non-negative integer, {@code dflt} when absent or null. */
  int tokenId(String name, int dflt) throws ModelFormatException {
    JsonNode n = root.get(name);
    if (n == null || n.isNull()) return dflt;
    return checkedId(name, n);
  }

  /**
   * A token id where an explicit null means none (-1), as transformers reads it (None), while an
   * absent field takes {@code absentDefault}.
   */
  int tokenIdOrNone(String name, int absentDefault) throws ModelFormatException {
    JsonNode n = root.get(name);
    if (n == null) return absentDefault;
    if (n.isNull()) return -1;
    return checkedId(name, n);
  }

  /**
   * Token ids given as one integer or a list of them: empty for null, {@code absentDefault} when
   * the field is absent.
   */
  List<Integer> tokenIds(String name, List<Integer> absentDefault) throws ModelFormatException {
    JsonNode n = root.get(name);
    if (n == null) return absentDefault;
    List<Integer> ids = new ArrayList<>();
    if (n.isArray()) {
      for (JsonNode e : n) {
        if (!e.isIntegralNumber() || !e.canConvertToInt() || e.asInt() < 0) {
          throw refuse(name, "list holds a non-integer or negative id " + e);
        }
        ids.add(e.asInt());
      }
    } else if (!n.isNull()) {
      ids.add(checkedId(name, n));
    }
    return List.copyOf(ids);
  }

  private int checkedId(String name, JsonNode n) throws ModelFormatException {
    if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 0) {
      throw refuse(name, "must be a non-negative integer, got " + n);
    }
    return n.asInt();
  }

  double number(String name, double dflt) throws ModelFormatException {
    JsonNode n = root.get(name);
    if (n == null || n.isNull()) return dflt;
    if (!n.isNumber()) throw refuse(name, "must be a number, got " + n);
    return n.asDouble();
  }

  /** A required number; {@code why} says what needs it. */
  double requiredNumber(String name, String why) throws ModelFormatException {
    if (!present(name)) throw refuse(name, "is required " + why);
    return number(name, 0);
  }

  boolean bool(String name, boolean dflt) throws ModelFormatException {
    JsonNode n = root.get(name);
    if (n == null || n.isNull()) return dflt;
    if (!n.isBoolean()) throw refuse(name, "must be true or false, got " + n);
    return n.asBoolean();
  }
}
