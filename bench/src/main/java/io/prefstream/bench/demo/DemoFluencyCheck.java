package io.prefstream.bench.demo;

import io.prefstream.deploy.demo.DemoSettings;
import io.prefstream.deploy.demo.PreferenceProfile;
import io.prefstream.deploy.demo.corpus.ReplyForm;
import io.prefstream.deploy.demo.corpus.SupportCorpus;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.generate.FinishReason;
import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.Generator;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.peft.PeftAdapters;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.Content;
import io.prefstream.model.text.SequenceEncoder;
import io.prefstream.serving.fluency.ServedFluency.Nll;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The demo's fluency yardstick with many replies and no serving in the way: samples {@code --samples} replies to each
 * of the corpus's messages (what the demo's users ask) from the base model and from each given adapter (a demo's final
 * checkpoint), with the users' sampling ({@link DemoSettings#defaults}: temperature 1, top-p 1, 64 new tokens), and
 * scores every reply under the reference (the bare model) as the replica scores a served reply (the chat template's
 * assistant turn, re-encoded from the text). Prints, per model, the reference NLL per token (nats over tokens, the
 * replica's figure) with a 95% interval ({@link Nll#standardError}, the replica's rule), its rise over the base
 * model's, the share of replies the {@code keyword:WORD} judge likes ({@link PreferenceProfile.Keyword}), and the
 * replies' form ({@link ReplyForm}; replies stopped by the token limit counted apart).
 *
 * <p>The replica's own figure rests on the base model's first 64 replies and the last 64 sampled served ones, and its
 * rise moved up to ±25 points away from this one (bench/results/2026-12-04-demo-fluency-offline.md); this one rests on
 * hundreds of each.
 *
 * <p>Usage: {@code DemoFluencyCheck --model DIR [--samples 8] [--seed 1] [--keyword WORD] [NAME=ADAPTER_DIR ...]}
 */
public final class DemoFluencyCheck {
  private static final int SCORE_BATCH = 16;

  private DemoFluencyCheck() {}

  /** One model's replies: their reference NLL, and how many contain the keyword and have each form. */
  record Tally(String name, Nll nll, int containsKeyword, int[] forms) {}

  public static void main(String[] args) throws Exception {
    Path modelDir = null;
    int samples = 8;
    long seed = 1;
    String keyword = null;
    List<String[]> adapters = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--model" -> modelDir = Path.of(args[++i]);
        case "--samples" -> samples = Integer.parseInt(args[++i]);
        case "--seed" -> seed = Long.parseLong(args[++i]);
        case "--keyword" -> keyword = args[++i];
        default -> {
          int eq = args[i].indexOf('=');
          if (args[i].startsWith("--") || eq <= 0) {
            throw new IllegalArgumentException("unknown argument " + args[i]
                + "; expected --model DIR, --samples N, --seed S, --keyword WORD and NAME=ADAPTER_DIR");
          }
          adapters.add(new String[] {args[i].substring(0, eq), args[i].substring(eq + 1)});
        }
      }
    }
    if (modelDir == null) throw new IllegalArgumentException("--model DIR is required");
    if (samples < 2) throw new IllegalArgumentException("--samples must be >= 2, got " + samples);
    for (String[] a : adapters) {
      if (!Files.isRegularFile(Path.of(a[1]).resolve(PeftAdapters.CONFIG))) {
        throw new IllegalArgumentException(a[1] + ": no " + PeftAdapters.CONFIG + " (expected a PEFT adapter directory)");
      }
    }
    HfModel hf = HfModelDir.load(modelDir);
    LlamaModel model = LlamaModel.create(hf.config(), hf.weights(), new CpuBackend());
    SequenceEncoder encoder = new SequenceEncoder(hf.tokenizer(), model.config().maxPositions(), 0, false);
    List<String> messages = SupportCorpus.prompts();
    PreferenceProfile.Keyword judge = keyword == null ? null : new PreferenceProfile.Keyword(keyword);
    // The demo users' sampling, from the demo's own defaults (the report folder is not used).
    DemoSettings demo = DemoSettings.defaults(modelDir, judge != null ? judge : new PreferenceProfile.Polite(), Path.of("."));
    SamplingParams users = new SamplingParams(demo.temperature(), 0, demo.topP(), seed, demo.maxNewTokens(),
        hf.stopTokenIds(), List.of());
    System.out.printf(Locale.ROOT, "model %s; %d messages x %d replies per model; temperature %s, top-p %s, %d new tokens;"
        + " seed %d%s%n", modelDir, messages.size(), samples, users.temperature(), users.topP(), users.maxNewTokens(), seed,
        judge == null ? "" : "; " + judge.label());
    List<Tally> tallies = new ArrayList<>();
    tallies.add(run("base", null, model, hf, encoder, messages, samples, users, judge));
    for (String[] a : adapters) {
      PeftAdapter adapter = PeftAdapters.read(Path.of(a[1]), model.config());
      tallies.add(run(a[0], adapter, model, hf, encoder, messages, samples, users, judge));
    }
    print(tallies, judge != null);
  }

  static Tally run(String name, PeftAdapter adapter, LlamaModel model, HfModel hf, SequenceEncoder encoder,
      List<String> messages, int samples, SamplingParams users, PreferenceProfile.Keyword judge) {
    long started = System.nanoTime();
    if (adapter == null) model.detachLora(); else model.attachLora(adapter.config(), adapter.tensors());
    Generator gen = new Generator(model);
    List<PromptResponse> seqs = new ArrayList<>();
    int[] forms = new int[4];
    int containsKeyword = 0;
    for (int m = 0; m < messages.size(); m++) {
      List<ChatMessage> prompt = List.of(ChatMessage.user(messages.get(m)));
      int[] ids = encoder.promptIds(Content.messages(prompt));
      for (int s = 0; s < samples; s++) {
        SamplingParams params = users.withSeed(users.seed() + (long) m * samples + s);
        GenerationResult r = gen.generate(ids, params, t -> hf.tokenizer().decode(t, true), t -> {});
        String reply = r.text();
        if (judge != null && judge.likes(reply)) containsKeyword++;
        forms[r.finishReason() == FinishReason.LENGTH ? 3 : ReplyForm.of(reply).ordinal()]++;
        if (reply.isEmpty()) continue; // nothing to score (the replica scores no empty reply either)
        seqs.add(encoder.encode(Content.messages(prompt), Content.messages(List.of(new ChatMessage("assistant", reply)))));
      }
    }
    // Scored under the reference: the bare model.
    model.detachLora();
    Nll nll = Nll.NONE;
    for (int i = 0; i < seqs.size(); i += SCORE_BATCH) {
      SequenceLogProbs lp = model.logProbs(seqs.subList(i, Math.min(seqs.size(), i + SCORE_BATCH)));
      for (int s = 0; s < lp.size(); s++) nll = nll.plus(-lp.sum(s), lp.tokenCounts()[s]);
    }
    System.err.printf(Locale.ROOT, "%s: %d replies in %.1f s%n", name, messages.size() * samples,
        (System.nanoTime() - started) / 1e9);
    return new Tally(name, nll, containsKeyword, forms);
  }

  static void print(List<Tally> tallies, boolean keyword) {
    Tally base = tallies.getFirst();
    System.out.println();
    System.out.println("| model | replies | reference NLL per token (95% interval) | vs base (95% interval) |"
        + (keyword ? " contain the keyword |" : "") + " well formed / repeat / broken / cut |");
    System.out.println("|---|---|---|---|" + (keyword ? "---|" : "") + "---|");
    for (Tally t : tallies) {
      double r = t.nll().perToken(), se = t.nll().standardError();
      String rise = "-";
      if (t != base) {
        double ratio = r / base.nll().perToken();
        double relSe = ratio * Math.hypot(se / r, base.nll().standardError() / base.nll().perToken());
        rise = String.format(Locale.ROOT, "%+.1f%% (%+.1f%% to %+.1f%%)", 100 * (ratio - 1), 100 * (ratio - 1 - 1.96 * relSe),
            100 * (ratio - 1 + 1.96 * relSe));
      }
      int all = t.forms()[0] + t.forms()[1] + t.forms()[2] + t.forms()[3];
      System.out.printf(Locale.ROOT, "| %s | %d | %.4f (%.4f-%.4f) | %s |%s %s |%n", t.name(), t.nll().replies(), r, r - 1.96 * se,
          r + 1.96 * se, rise, keyword ? String.format(Locale.ROOT, " %s |", pct(t.containsKeyword(), all)) : "",
          pct(t.forms()[0], all) + " / " + pct(t.forms()[1], all) + " / " + pct(t.forms()[2], all) + " / "
              + pct(t.forms()[3], all));
    }
  }

  private static String pct(int n, int of) {
    return String.format(Locale.ROOT, "%.1f%%", 100.0 * n / of);
  }
}
