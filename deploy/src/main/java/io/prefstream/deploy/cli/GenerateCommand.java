package io.prefstream.deploy.cli;

import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.Generator;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.io.GenerationDefaults;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.Content;
import io.prefstream.model.text.SequenceEncoder;
import io.prefstream.model.tokenizer.StreamingDecoder;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream generate}: loads a model (and optionally a PEFT adapter), wraps the prompt in the
 * model's own chat template (unless {@code --raw}) and streams the sampled reply to stdout token by token.
 * Text that could be the start of a stop string is held back until it is clear it is not one, so a
 * stop string never reaches the output.
 */
@Command(
    name = "generate",
    mixinStandardHelpOptions = true,
    description = "Generate a reply to a prompt with a model directory (and optionally a LoRA adapter), streamed to stdout.")
public final class GenerateCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto",
      description = "Compute backend: cuda, cpu, or auto (cuda when a GPU and the CUDA libraries are found, else cpu;"
          + " it says which on stderr). Default: ${DEFAULT-VALUE}.")
  String device;

  @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model directory.")
  Path model;

  @Option(names = "--adapter", paramLabel = "DIR", description = "PEFT LoRA adapter directory to apply.")
  Path adapter;

  @Option(names = "--prompt", required = true, description = "The user's message (rendered with the model's chat template).")
  String prompt;

  @Option(names = "--raw", description = "Continue the prompt text as it stands (the tokenizer's own special tokens"
      + " only) instead of answering it as a user message through the model's chat template.")
  boolean raw;

  @Option(names = "--max-new-tokens", description = "Default: the model's generation_config.json max_new_tokens, else 128.")
  Integer maxNewTokens;

  @Option(names = "--temperature", description = "0 is greedy. Default: the model's generation_config.json (greedy unless"
      + " it sets do_sample, as transformers' generate).")
  Double temperature;

  @Option(names = "--top-p", description = "Nucleus sampling threshold. Default: the model's generation_config.json.")
  Double topP;

  @Option(names = "--top-k", description = "Keep the k most likely tokens (0: all). Default: the model's generation_config.json.")
  Integer topK;

  @Option(names = "--seed", defaultValue = "0", description = "Sampling seed; the same seed gives the same text. Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--stop", paramLabel = "TEXT", description = "Stop when this text appears (repeatable); EOS always stops.")
  List<String> stops = new ArrayList<>();

  @Option(names = "--samples", defaultValue = "1", description = "Replies to sample, with seeds seed, seed+1, …, one per line block. Default: ${DEFAULT-VALUE}.")
  int samples;

  @Override
  public Integer call() throws IOException {
    if (samples < 1) throw new ParameterException(spec.commandLine(), "--samples must be >= 1, got " + samples);
    if (prompt.isBlank()) throw new ParameterException(spec.commandLine(), "--prompt is empty");
    List<String> allStops = new ArrayList<>(stops);
    for (String s : allStops) if (s.isEmpty()) throw new ParameterException(spec.commandLine(), "--stop must not be empty");
    SamplingParams base;
    ModelDirectory.require(spec.commandLine(), "--model", model);
    try (LoadedModel m = LoadedModel.open(model, LoadedModel.chooseDevice(device, spec.commandLine()))) {
      if (adapter != null) m.useAdapter(m.readAdapter(adapter));
      try {
        GenerationDefaults d = m.generation();
        double t = temperature != null ? temperature : d.greedy() ? 0 : d.temperature();
        double p = topP != null ? topP : d.topP() > 0 ? d.topP() : 1.0;
        int k = topK != null ? topK : d.greedy() ? 0 : d.topK();
        int n = maxNewTokens != null ? maxNewTokens : d.maxNewTokens().orElse(128);
        base = new SamplingParams(t, k, p, seed, n, m.stopTokenIds(), allStops);
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), e.getMessage());
      }
      SequenceEncoder encoder = m.encoder();
      if (!raw && encoder.template().isEmpty()) {
        throw new ParameterException(spec.commandLine(), m.dir() + " has no chat_template (tokenizer_config.json or"
            + " chat_template.jinja): pass --raw to continue the prompt as text");
      }
      int[] ids;
      try {
        ids = encoder.promptIds(raw ? Content.text(prompt) : Content.messages(List.of(ChatMessage.user(prompt))));
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), "--prompt: " + e.getMessage());
      }
      Generator gen = new Generator(m.model());
      PrintWriter out = spec.commandLine().getOut();
      for (int i = 0; i < samples; i++) {
        if (i > 0) out.println();
        HoldBack sink = new HoldBack(out, allStops, !raw);
        StreamingDecoder dec = m.tokenizer().streamDecoder();
        GenerationResult r = gen.generate(ids, base.withSeed(seed + i), t -> m.tokenizer().decode(t, true),
            token -> sink.push(dec.push(token)));
        sink.finish(r.text());
        out.println();
        out.flush();
      }
    }
    return 0;
  }

  /**
   * Prints streamed text, holding back any tail that could begin a stop string; at the end prints
   * what remains of the final (stop-cut) text. With {@code trimLeading}, leading whitespace (the
   * space the chat format puts before a reply) is not printed.
   */
  static final class HoldBack {
    private final PrintWriter out;
    private final List<String> stops;
    private final StringBuilder text = new StringBuilder();
    private final boolean trimLeading;
    private int printed;
    private int skipped = -1;

    HoldBack(PrintWriter out, List<String> stops, boolean trimLeading) {
      this.out = out;
      this.stops = stops;
      this.trimLeading = trimLeading;
    }

    void push(String piece) {
      text.append(piece);
      int safe = text.length() - heldTail();
      for (String s : stops) {
        int at = text.indexOf(s);
        if (at >= 0) safe = Math.min(safe, at);
      }
      emitUpTo(safe);
    }

    void finish(String finalText) {
      emitUpTo(finalText.length(), finalText);
    }

    private void emitUpTo(int end) {
      emitUpTo(end, text.toString());
    }

    private void emitUpTo(int end, String source) {
      if (skipped < 0) {
        int i = 0;
        if (trimLeading) while (i < end && Character.isWhitespace(source.charAt(i))) i++;
        if (trimLeading && i == end) return; // only blanks so far
        skipped = i;
        printed = i;
      }
      if (end > printed) {
        out.write(source, printed, end - printed);
        out.flush();
        printed = end;
      }
    }

    /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
    private int heldTail() {
      int best = 0;
      String t = text.toString();
      for (String s : stops) {
        for (int k = Math.min(s.length() - 1, t.length()); k > best; k--) {
          if (t.regionMatches(t.length() - k, s, 0, k)) {
            best = k;
            break;
          }
        }
      }
      return best;
    }
  }
}
