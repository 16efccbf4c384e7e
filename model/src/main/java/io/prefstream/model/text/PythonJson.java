package io.prefstream.model.text;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import java.util.Map;

/**
 * The {@code tojson} filter as transformers defines it for chat templates: Python's
 * {@code json.dumps(x, ensure_ascii=False, indent=…, separators=…, sort_keys=…)}, whose default
 * separators are {@code ", "} and {@code ": "} (and {@code ","} between items when indenting).
 * jinjava's own {@code tojson} writes compact JSON, which would change what a template renders.
 */
final class PythonJson implements AdvancedFilter {
  @Override
  public String getName() {
    return "tojson";
  }

  @Override
  public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
    Object indentArg = kwargs.getOrDefault("indent", args.length > 0 ? args[0] : null);
    int indent = indentArg == null ? -1 : Integer.parseInt(indentArg.toString());
    boolean sortKeys = Boolean.parseBoolean(String.valueOf(kwargs.getOrDefault("sort_keys", "false")));
    StringBuilder out = new StringBuilder();
    write(var, indent, 0, sortKeys, out);
    return out.toString();
  }

  static void write(Object v, int indent, int depth, boolean sortKeys, StringBuilder out) {
    switch (v) {
      case null -> out.append("null");
      case Boolean b -> out.append(b ? "true" : "false");
      case Integer i -> out.append(i);
      case Long l -> out.append(l);
      case Number n -> out.append(n.doubleValue() == Math.rint(n.doubleValue()) && !(n instanceof Double || n instanceof Float)
          ? String.valueOf(n.longValue()) : pythonFloat(n.doubleValue()));
      case Map<?, ?> m -> {
        var entries = new java.util.ArrayList<Map.Entry<?, ?>>(m.entrySet());
        if (sortKeys) entries.sort((a, b) -> String.valueOf(a.getKey()).compareTo(String.valueOf(b.getKey())));
        out.append('{');
        boolean first = true;
        for (Map.Entry<?, ?> e : entries) {
          separator(first, indent, depth + 1, out);
          first = false;
          string(String.valueOf(e.getKey()), out);
          out.append(": ");
          write(e.getValue(), indent, depth + 1, sortKeys, out);
        }
        close(first, indent, depth, out);
        out.append('}');
      }
      case Iterable<?> it -> {
        out.append('[');
        boolean first = true;
        for (Object o : it) {
          separator(first, indent, depth + 1, out);
          first = false;
          write(o, indent, depth + 1, sortKeys, out);
        }
        close(first, indent, depth, out);
        out.append(']');
      }
      default -> string(v.toString(), out);
    }
  }

  private static void separator(boolean first, int indent, int depth, StringBuilder out) {
    if (indent < 0) {
      if (!first) out.append(", ");
    } else {
      if (!first) out.append(',');
      out.append('\n').append(" ".repeat(indent * depth));
    }
  }

  private static void close(boolean empty, int indent, int depth, StringBuilder out) {
    if (indent >= 0 && !empty) out.append('\n').append(" ".repeat(indent * depth));
  }

  private static String pythonFloat(double d) {
    if (Double.isNaN(d)) return "NaN";
    if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
    return Double.toString(d);
  }

  /** A JSON string as Python writes it with ensure_ascii=False: only quotes, backslashes and controls escaped. */
  static void string(String s, StringBuilder out) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        case '\b' -> out.append("\\b");
        case '\f' -> out.append("\\f");
        default -> {
          if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
          else out.append(c);
        }
      }
    }
    out.append('"');
  }
}
