package io.prefstream.model.peft;

import io.prefstream.model.io.ModelFormatException;
import io.prefstream.model.peft.LlamaModuleNames.Module;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Which modules of a Llama a PEFT LoRA config adapts, and with which r and alpha, by PEFT's own
 * rules ({@code check_target_module_exists}, {@code _maybe_include_all_linear_layers},
 * {@code get_pattern_key}): a string {@code target_modules} is a regular expression that must match
 * a module's whole name; a list matches a name equal to an entry or ending in "." + entry;
 * {@code "all-linear"} (any case) is every linear layer but the output head; {@code exclude_modules}
 * follows the same rules and wins; a {@code rank_pattern} or {@code alpha_pattern} key applies to a
 * module whose name matches {@code (.*\.)?(key)} and the first such key in file order wins.
 * Regular expressions are compiled by {@code java.util.regex}, which reads literals, {@code .},
 * quantifiers, classes, groups, alternation, {@code \d} and {@code \w} on these ASCII names as
 * Python's {@code re} does; Python-only syntax such as {@code (?P<name>…)} fails to compile and is
 * refused naming the field.
 * The result must be what this project computes: the same projections in every layer, one r and
 * one alpha; anything else is refused naming the field and a module that breaks the rule.
 */
final class PeftTargets {
  private PeftTargets() {}

  /** A {@code target_modules} or {@code exclude_modules} value. */
  sealed interface Selector permits Regex, Names, AllLinear {
    boolean matches(Module m);
  }

  /** A string: PEFT full-matches it against the module name. */
  record Regex(Pattern pattern) implements Selector {
    static Regex of(String source, String field, String regex) throws ModelFormatException {
      return new Regex(compile(source, field, regex));
    }

    @Override
    public boolean matches(Module m) {
      return pattern.matcher(m.path()).matches();
    }

    @Override
    public String toString() {
      return "'" + pattern.pattern() + "'";
    }
  }

  /** A list: a module matches an entry equal to its name or a suffix after a dot. */
  record Names(List<String> names) implements Selector {
    Names {
      names = List.copyOf(names);
    }

    @Override
    public boolean matches(Module m) {
      return names.stream().anyMatch(n -> m.path().equals(n) || m.path().endsWith("." + n));
    }

    @Override
    public String toString() {
      return names.toString();
    }
  }

  /** {@code "all-linear"}: the linear layers but lm_head, i.e. the seven decoder projections. */
  record AllLinear() implements Selector {
    @Override
    public boolean matches(Module m) {
      return m.isProjection();
    }

    @Override
    public String toString() {
      return "'all-linear'";
    }
  }

  /** The projections adapted in every layer, and the r and alpha they all share. */
  record Resolved(Set<String> projections, int rank, double alpha) {}

  static Resolved resolve(PeftConfigJson.Fields f, int numLayers, String source) throws ModelFormatException {
    List<Module> targeted = new ArrayList<>();
    List<Module> adapted = new ArrayList<>();
    for (Module m : LlamaModuleNames.of(numLayers)) {
      if (!f.targets().matches(m)) continue;
      targeted.add(m);
      if (f.exclude() == null || !f.exclude().matches(m)) adapted.add(m);
    }
    for (Module m : adapted) {
      if (!m.isProjection()) {
        throw PeftConfigJson.refuse(source, "target_modules", f.targets() + " selects " + m.path() + unsupported(m));
      }
    }
    if (adapted.isEmpty()) {
      throw targeted.isEmpty()
          ? PeftConfigJson.refuse(source, "target_modules", f.targets() + " selects no module of a " + numLayers
              + "-layer Llama; expected some of " + LlamaModuleNames.PROJECTIONS)
          : PeftConfigJson.refuse(source, "exclude_modules", f.exclude() + " excludes every module target_modules selects");
    }
    String partial = partialProjection(adapted, numLayers);
    if (partial != null) {
      // Blame exclude_modules only when target_modules alone would have been fine.
      boolean targetsFine = partialProjection(targeted, numLayers) == null;
      throw PeftConfigJson.refuse(source, targetsFine ? "exclude_modules" : "target_modules",
          (targetsFine ? f.exclude() : f.targets()) + " leaves " + partial + " of " + numLayers
              + " only; supported: the same projections in every layer");
    }
    Set<String> projections = new LinkedHashSet<>();
    adapted.forEach(m -> projections.add(m.projection()));
    int r = shared(source, "rank_pattern", f.rankPattern(), f.r(), adapted, "r");
    double alpha = shared(source, "alpha_pattern", f.alphaPattern(), f.alpha(), adapted, "lora_alpha");
    return new Resolved(projections, r, alpha);
  }

  private static String unsupported(Module m) {
    if (m.path().equals(LlamaModuleNames.LM_HEAD)) return ": LoRA on lm_head is not supported; only the decoder projections";
    if (m.path().equals(LlamaModuleNames.EMBED_TOKENS)) {
      return ": LoRA on the embedding (lora_embedding_A/B) is not supported; only the decoder projections";
    }
    return ", which is not a linear layer LoRA can adapt (PEFT refuses it too); only the decoder projections "
        + LlamaModuleNames.PROJECTIONS;
  }

  /** A projection among {@code modules} adapted in some layers but not all, described; else null. */
  private static String partialProjection(List<Module> modules, int numLayers) {
    Map<String, Set<Integer>> layersOf = new TreeMap<>();
    for (Module m : modules) {
      if (m.isProjection()) layersOf.computeIfAbsent(m.projection(), k -> new TreeSet<>()).add(m.layer());
    }
    for (Map.Entry<String, Set<Integer>> e : layersOf.entrySet()) {
      if (e.getValue().size() != numLayers) return e.getKey() + " adapted in layers " + e.getValue();
    }
    return null;
  }

  /** The value every module gets from {@code pattern} (PEFT's get_pattern_key) or the default. */
  private static <T> T shared(String source, String field, Map<String, T> pattern, T fallback, List<Module> modules,
      String what) throws ModelFormatException {
    Map<Pattern, String> keys = new java.util.LinkedHashMap<>();
    for (String key : pattern.keySet()) keys.put(compile(source, field, "(.*\\.)?(" + key + ")"), key);
    T first = null;
    Module firstModule = null;
    for (Module m : modules) {
      T v = fallback;
      for (Map.Entry<Pattern, String> k : keys.entrySet()) {
        if (k.getKey().matcher(m.path()).matches()) {
          v = pattern.get(k.getValue());
          break;
        }
      }
      if (first == null) {
        first = v;
        firstModule = m;
      } else if (!first.equals(v)) {
        throw PeftConfigJson.refuse(source, field, pattern + " gives " + firstModule.path() + " " + what + "=" + first
            + " but " + m.path() + " " + what + "=" + v + "; supported: every module shares " + what);
      }
    }
    return first;
  }

  private static Pattern compile(String source, String field, String regex) throws ModelFormatException {
    try {
      return Pattern.compile(regex);
    } catch (PatternSyntaxException e) {
      throw PeftConfigJson.refuse(source, field, "'" + regex + "' is not a regular expression this loader reads: "
          + e.getDescription());
    }
  }
}
