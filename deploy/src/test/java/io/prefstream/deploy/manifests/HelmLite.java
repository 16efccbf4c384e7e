package io.prefstream.deploy.manifests;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * Renders the chart's templates without helm (not installed here or in CI), for the subset of Go
 * templates the chart keeps to: {@code {{ .Values.a.b }}}, {@code {{ .Release.Name }}}, {@code | quote},
 * and, each on a line of its own, {@code {{- if .Values.x }}}, {@code {{- range $k, $v := .Values.m }}},
 * {@code {{- end }}} and {@code {{- toYaml .Values.x | nindent N }}}. Anything else inside braces is an
 * error, so a template that leaves the subset fails the test instead of rendering wrongly.
 */
final class HelmLite {
  private static final Pattern IF = Pattern.compile("\\{\\{-? *if +(\\S+) *-?}}");
  private static final Pattern RANGE = Pattern.compile("\\{\\{-? *range +\\$(\\w+), *\\$(\\w+) *:= *(\\S+) *-?}}");
  private static final Pattern END = Pattern.compile("\\{\\{-? *end *-?}}");
  private static final Pattern TO_YAML = Pattern.compile("\\{\\{-? *toYaml +(\\S+) *\\| *nindent +(\\d+) *-?}}");
  private static final Pattern EXPR = Pattern.compile("\\{\\{-? *([^|}]+?) *(\\| *quote)? *-?}}");

  private final Map<String, Object> values;
  private final String release;

  HelmLite(Map<String, Object> values, String release) {
    this.values = values;
    this.release = release;
  }

  /** The rendered text of one template. */
  String render(String template) {
    List<String> out = new ArrayList<>();
    List<String> lines = template.lines().toList();
    int end = render(lines, 0, Map.of(), out);
    if (end != lines.size()) throw new IllegalArgumentException("unbalanced {{ end }} at line " + (end + 1));
    return String.join("\n", out) + "\n";
  }

  /** Renders from line i until an unmatched end (returned index) or the last line. */
  private int render(List<String> lines, int i, Map<String, Object> vars, List<String> out) {
    while (i < lines.size()) {
      String line = lines.get(i);
      String t = line.trim();
      Matcher m;
      if (END.matcher(t).matches()) {
        return i;
      } else if ((m = IF.matcher(t)).matches()) {
        boolean on = truthy(lookup(m.group(1), vars));
        List<String> body = new ArrayList<>();
        i = render(lines, i + 1, vars, body);
        requireEnd(lines, i);
        if (on) out.addAll(body);
        i++;
      } else if ((m = RANGE.matcher(t)).matches()) {
        Object over = lookup(m.group(3), vars);
        int bodyStart = i + 1;
        int bodyEnd = matchingEnd(lines, bodyStart);
        if (over instanceof Map<?, ?> map) {
          for (Map.Entry<?, ?> e : map.entrySet()) {
            Map<String, Object> inner = new java.util.HashMap<>(vars);
            inner.put(m.group(1), e.getKey());
            inner.put(m.group(2), e.getValue());
            render(lines.subList(bodyStart, bodyEnd), 0, inner, out);
          }
        } else if (over != null) {
          throw new IllegalArgumentException("range over a non-map: " + m.group(3));
        }
        i = bodyEnd + 1;
      } else if ((m = TO_YAML.matcher(t)).matches()) {
        Object v = lookup(m.group(1), vars);
        String indent = " ".repeat(Integer.parseInt(m.group(2)));
        DumperOptions o = new DumperOptions();
        o.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        if (v != null) new Yaml(o).dump(v).lines().forEach(l -> out.add(indent + l));
        i++;
      } else {
        out.add(substitute(line, vars));
        i++;
      }
    }
    return i;
  }

  /** The index of the end that closes a block whose body starts at {@code i}. */
  private static int matchingEnd(List<String> lines, int i) {
    int depth = 0;
    for (; i < lines.size(); i++) {
      String t = lines.get(i).trim();
      if (IF.matcher(t).matches() || RANGE.matcher(t).matches()) depth++;
      else if (END.matcher(t).matches() && depth-- == 0) return i;
    }
    throw new IllegalArgumentException("{{ range }} without {{ end }}");
  }

  private static void requireEnd(List<String> lines, int i) {
    if (i >= lines.size()) throw new IllegalArgumentException("{{ if/range }} without {{ end }}");
  }

  private String substitute(String line, Map<String, Object> vars) {
    Matcher m = EXPR.matcher(line);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      Object v = lookup(m.group(1).trim(), vars);
      String s = v == null ? "" : String.valueOf(v);
      if (m.group(2) != null) s = "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
      m.appendReplacement(sb, Matcher.quoteReplacement(s));
    }
    m.appendTail(sb);
    if (sb.indexOf("{{") >= 0) throw new IllegalArgumentException("template outside the supported subset: " + line);
    return sb.toString();
  }

  private Object lookup(String expr, Map<String, Object> vars) {
    if (expr.equals(".Release.Name")) return release;
    if (expr.startsWith("$")) {
      if (!vars.containsKey(expr.substring(1))) throw new IllegalArgumentException("unknown variable " + expr);
      return vars.get(expr.substring(1));
    }
    if (!expr.startsWith(".Values.")) throw new IllegalArgumentException("unsupported expression " + expr);
    Object v = values;
    for (String part : expr.substring(".Values.".length()).split("\\.")) {
      if (!(v instanceof Map<?, ?> map) || !map.containsKey(part)) {
        throw new IllegalArgumentException(expr + ": no such value in values.yaml");
      }
      v = map.get(part);
    }
    return v;
  }

  private static boolean truthy(Object v) {
    return switch (v) {
      case null -> false;
      case Boolean b -> b;
      case Number n -> n.doubleValue() != 0;
      case String s -> !s.isEmpty();
      case Map<?, ?> m -> !m.isEmpty();
      case List<?> l -> !l.isEmpty();
      default -> true;
    };
  }
}
