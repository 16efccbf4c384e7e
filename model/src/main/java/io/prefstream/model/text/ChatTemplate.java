package io.prefstream.model.text;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * A model's own chat template (the Jinja {@code chat_template} of its tokenizer files), rendered as
 * {@code transformers}' {@code apply_chat_template} renders it: {@code trim_blocks} and
 * {@code lstrip_blocks} on, the variables {@code messages} (each {@code {role, content}}),
 * {@code add_generation_prompt}, {@code bos_token}, {@code eos_token}, {@code pad_token},
 * {@code unk_token}, and the functions {@code raise_exception(msg)} and {@code strftime_now(fmt)}.
 * The engine is jinjava; renders are checked against Python's jinja2 for the templates of real model
 * families in {@code ChatTemplateTest}. A template that raises, or fails to render, throws
 * {@link ChatTemplateException} with the template's message.
 */
public final class ChatTemplate {
  private static final JinjavaConfig CONFIG = JinjavaConfig.newBuilder()
      .withTrimBlocks(true)
      .withLstripBlocks(true)
      .withLegacyOverrides(LegacyOverrides.newBuilder()
          .withUseNaturalOperatorPrecedence(true)
          .withParseWhitespaceControlStrictly(true)
          .withKeepNullableLoopValues(true)
          .withUseTrimmingForNotesAndExpressions(true)
          .build())
      .withMaxOutputSize(16L << 20)
      .build();

  private final String source;
  private final Map<String, Object> specialTokens;
  private final Jinjava jinja;

  /**
   * @param source the Jinja text
   * @param specialTokens values for {@code bos_token}, {@code eos_token}, … (absent tokens render as empty)
   */
  public ChatTemplate(String source, Map<String, String> specialTokens) {
    this.source = Objects.requireNonNull(source, "source");
    this.specialTokens = new HashMap<>();
    for (String k : List.of("bos_token", "eos_token", "pad_token", "unk_token")) {
      this.specialTokens.put(k, specialTokens.getOrDefault(k, ""));
    }
    this.jinja = new Jinjava(CONFIG);
    jinja.getGlobalContext().registerFunction(
        new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
    jinja.getGlobalContext().registerFunction(
        new ELFunctionDefinition("", "strftime_now", ChatTemplate.class, "strftimeNow", String.class));
    jinja.getGlobalContext().registerFilter(new PythonJson());
    jinja.getGlobalContext().registerExpTest(new PythonIterable());
  }

  /** The chat template of a model's tokenizer files, with their special tokens, if they have one. */
  public static java.util.Optional<ChatTemplate> of(io.prefstream.model.tokenizer.TokenizerConfig files) {
    Map<String, String> tokens = new HashMap<>();
    files.bosToken().ifPresent(v -> tokens.put("bos_token", v));
    files.eosToken().ifPresent(v -> tokens.put("eos_token", v));
    files.padToken().ifPresent(v -> tokens.put("pad_token", v));
    files.unkToken().ifPresent(v -> tokens.put("unk_token", v));
    return files.chatTemplate().map(src -> new ChatTemplate(src, tokens));
  }

  /** The template's text. */
  public String source() {
    return source;
  }

  /**
   * Renders {@code messages}; with {@code addGenerationPrompt} the template appends the text that
   * opens an assistant turn.
   */
  public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
    List<Map<String, Object>> msgs = new ArrayList<>(messages.size());
    for (ChatMessage m : messages) {
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("role", m.role());
      o.put("content", m.content());
      msgs.add(o);
    }
    Map<String, Object> vars = new HashMap<>(specialTokens);
    vars.put("messages", msgs);
    vars.put("add_generation_prompt", addGenerationPrompt);
    // Templates test "strftime_now is defined" before calling it; in jinjava a function is not a variable.
    vars.put("strftime_now", true);
    RenderResult r;
    try {
      r = jinja.renderForResult(source, vars);
    } catch (RuntimeException e) {
      throw new ChatTemplateException(raisedMessage(e), e);
    }
    for (TemplateError e : r.getErrors()) {
      if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
        throw new ChatTemplateException(errorMessage(e), e.getException());
      }
    }
    return r.getOutput();
  }

  private static String errorMessage(TemplateError e) {
    Throwable t = e.getException();
    while (t != null) {
      if (t instanceof RaisedByTemplate raised) return raised.getMessage();
      t = t.getCause();
    }
    String where = e.getLineno() > 0 ? " (template line " + e.getLineno() + ")" : "";
    return "the chat template failed to render: " + e.getMessage() + where;
  }

  private static String raisedMessage(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof RaisedByTemplate raised) return raised.getMessage();
    }
    return "the chat template failed to render: " + e.getMessage();
  }

  /** {@code raise_exception(msg)}: what templates call to refuse a conversation. */
  public static String raiseException(String message) {
    throw new RaisedByTemplate(message);
  }

  /** {@code strftime_now(fmt)}: today's local date/time in a C strftime format (the common directives). */
  public static String strftimeNow(String format) {
    LocalDateTime now = LocalDateTime.now();
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < format.length(); i++) {
      char c = format.charAt(i);
      if (c != '%' || i + 1 == format.length()) {
        out.append(c);
        continue;
      }
      char d = format.charAt(++i);
      String pattern = switch (d) {
        case 'd' -> "dd";
        case 'm' -> "MM";
        case 'Y' -> "yyyy";
        case 'y' -> "yy";
        case 'b' -> "MMM";
        case 'B' -> "MMMM";
        case 'a' -> "EEE";
        case 'A' -> "EEEE";
        case 'H' -> "HH";
        case 'M' -> "mm";
        case 'S' -> "ss";
        case 'p' -> "a";
        default -> null;
      };
      if (pattern == null) {
        out.append(d == '%' ? "%" : "%" + d);
      } else {
        out.append(now.format(DateTimeFormatter.ofPattern(pattern, Locale.ENGLISH)));
      }
    }
    return out.toString();
  }

  /** Python's "is iterable": strings are iterable too (jinjava says no), which templates rely on for tool output. */
  private static final class PythonIterable implements com.hubspot.jinjava.lib.exptest.ExpTest {
    @Override
    public String getName() {
      return "iterable";
    }

    @Override
    public boolean evaluate(Object var, com.hubspot.jinjava.interpret.JinjavaInterpreter interpreter, Object... args) {
      return var instanceof CharSequence || var instanceof Iterable<?> || var instanceof java.util.Map<?, ?>
          || (var != null && var.getClass().isArray());
    }
  }

  /** What {@code raise_exception} throws inside the engine; surfaced as {@link ChatTemplateException}. */
  static final class RaisedByTemplate extends RuntimeException {
    RaisedByTemplate(String message) {
      super(message);
    }
  }
}
