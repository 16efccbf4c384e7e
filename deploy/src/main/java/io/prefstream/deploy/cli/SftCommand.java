package io.prefstream.deploy.cli;

import io.prefstream.learner.sft.SftConfig;
import io.prefstream.learner.sft.SftExample;
import io.prefstream.learner.sft.SftTrainer;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.peft.PeftAdapters;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.train.GradMode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarConsumer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream sft}: supervised next-token fine-tuning of a model directory on TRL-style
 * prompt-completion examples (text, or conversations rendered with the model's chat template), with a LoRA adapter (written as a PEFT adapter directory)
 * or all weights (written as a new model directory with the tokenizer). A held-out share of the
 * data gives the loss before and after; a progress bar on stderr and a loss line every
 * {@code --log-every} steps on stdout show the run.
 */
@Command(
    name = "sft",
    mixinStandardHelpOptions = true,
    description = {
      "Supervised fine-tuning (next-token, reply tokens only) with AdamW: a LoRA adapter or all weights.",
      "--data is JSONL in TRL's layout: {\"prompt\": …, \"completion\": …} with strings or lists of"
          + " {\"role\", \"content\"} messages, or {\"messages\": [...]} ending with the assistant turn to learn"
          + " (other fields are ignored)."
    })
public final class SftCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model directory to start from.")
  Path model;

  @Option(names = "--data", required = true, paramLabel = "FILE", description = "JSONL training examples.")
  Path data;

  @Option(names = "--steps", required = true, description = "Optimiser steps.")
  int steps;

  static final class Mode {
    @Option(names = "--lora-rank", paramLabel = "R", description = "Train a LoRA adapter of rank R on every projection (alpha 2R). The default, with R = 8.")
    Integer loraRank;

    @Option(names = "--full", description = "Train every weight and write a whole model directory.")
    boolean full;
  }

  @ArgGroup(exclusive = true, multiplicity = "0..1")
  Mode mode;

  @Option(names = "--lr", description = "Peak learning rate (warm-up, then cosine to a tenth). Default: 1e-3 (LoRA: 2e-3).")
  Double lr;

  @Option(names = "--batch", defaultValue = "8", description = "Examples per step. Default: ${DEFAULT-VALUE}.")
  int batch;

  @Option(names = "--warmup", description = "Warm-up steps. Default: 5% of --steps.")
  Integer warmup;

  @Option(names = "--weight-decay", defaultValue = "0.0", description = "AdamW's decoupled weight decay. Default: ${DEFAULT-VALUE}.")
  double weightDecay;

  @Option(names = "--seed", defaultValue = "0", description = "Seed of the example order, the held-out split and the adapter. Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--eval", defaultValue = "64", paramLabel = "N", description = "Examples held out to measure the loss before and after (0: none). Default: ${DEFAULT-VALUE}.")
  int eval;

  @Option(names = "--log-every", defaultValue = "50", paramLabel = "N", description = "Print the mean loss every N steps. Default: ${DEFAULT-VALUE}.")
  int logEvery;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where to write the adapter (LoRA) or the model (--full); must not exist or be empty.")
  Path out;

  @Option(names = "--dtype", defaultValue = "F32", description = "Type of the written weights: F32 or BF16. Default: ${DEFAULT-VALUE}.")
  String dtype;

  @Override
  public Integer call() throws IOException {
    boolean fullMode = mode != null && mode.full;
    int rank = mode != null && mode.loraRank != null ? mode.loraRank : 8;
    if (rank < 1) throw new ParameterException(spec.commandLine(), "--lora-rank must be >= 1, got " + rank);
    if (steps < 1) throw new ParameterException(spec.commandLine(), "--steps must be >= 1, got " + steps);
    if (batch < 1) throw new ParameterException(spec.commandLine(), "--batch must be >= 1, got " + batch);
    if (eval < 0 || logEvery < 1) throw new ParameterException(spec.commandLine(), "--eval must be >= 0 and --log-every >= 1");
    DType type = switch (dtype.toUpperCase(Locale.ROOT)) {
      case "F32" -> DType.F32;
      case "BF16" -> DType.BF16;
      default -> throw new ParameterException(spec.commandLine(), "--dtype must be F32 or BF16, got " + dtype);
    };
    if (Files.exists(out) && !(Files.isDirectory(out) && isEmpty(out))) {
      throw new ParameterException(spec.commandLine(), "--out " + out + " already exists and is not an empty directory; choose a new one");
    }
    double peak = lr != null ? lr : fullMode ? 1e-3 : 2e-3;
    SftConfig config;
    try {
      config = new SftConfig(fullMode ? GradMode.FULL : GradMode.LORA,
          fullMode ? null : new LoraConfig(rank, 2.0 * rank, LoraConfig.ALL_TARGETS, 0.0), steps, batch, peak,
          warmup != null ? warmup : Math.max(1, steps / 20), weightDecay, 1.0, seed);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    List<SftExample> all = SftExample.readJsonl(data);
    List<SftExample> held = new ArrayList<>();
    List<SftExample> train = split(all, held);
    PrintWriter o = spec.commandLine().getOut();
    ModelDirectory.require(spec.commandLine(), "--model", model);
    try (LoadedModel m = LoadedModel.open(model)) {
      double before = held.isEmpty() ? Double.NaN : SftTrainer.evaluate(m.model(), m.tokenizer(), held, batch);
      SftTrainer trainer = new SftTrainer(m.model(), m.tokenizer(), train, config);
      o.printf(Locale.ROOT, "sft %s: %d training examples, %d held out, %d steps of %d, lr %.2g%s%n",
          fullMode ? "full" : "LoRA r=" + rank, train.size(), held.size(), steps, batch, peak,
          held.isEmpty() ? "" : String.format(Locale.ROOT, ", held-out loss %.4f", before));
      o.flush();
      long t0 = System.nanoTime();
      double[] window = {0, 0};
      int[] skipped = {0};
      try (ProgressBar bar = new ProgressBarBuilder().setTaskName("sft").setInitialMax(steps)
          .setConsumer(new ErrConsumer(spec.commandLine().getErr())).setUpdateIntervalMillis(500).build()) {
        trainer.train(s -> {
          bar.step();
          bar.setExtraMessage(String.format(Locale.ROOT, " loss %.3f", s.loss()));
          if (!s.applied()) skipped[0]++;
          window[0] += s.loss();
          window[1]++;
          if (s.step() % logEvery == 0 || s.step() == steps) {
            o.printf(Locale.ROOT, "step %d/%d loss %.4f lr %.2e grad-norm %.3f %.1f s%n", s.step(), steps,
                window[0] / window[1], s.learningRate(), s.gradNorm(), (System.nanoTime() - t0) / 1e9);
            o.flush();
            window[0] = window[1] = 0;
          }
        });
      }
      if (!held.isEmpty()) {
        o.printf(Locale.ROOT, "held-out loss %.4f -> %.4f%n", before, SftTrainer.evaluate(m.model(), m.tokenizer(), held, batch));
      }
      if (skipped[0] > 0) o.printf("%d step(s) skipped for non-finite loss or gradients%n", skipped[0]);
      if (fullMode) {
        HfModelDir.write(out, m.config(), m.model().exportWeights(), type);
        HfModelDir.copyTokenizerFiles(model, out);
        // the source's sampling defaults and EOS list (HfModelDir.write knows only config.json's ids)
        Path gen = model.resolve(HfModelDir.GENERATION_CONFIG);
        if (Files.isRegularFile(gen)) {
          Files.copy(gen, out.resolve(HfModelDir.GENERATION_CONFIG), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        o.printf("wrote model directory %s%n", out);
      } else {
        LoraAdapter a = m.model().lora().orElseThrow();
        PeftAdapters.write(out, new PeftAdapter(a.config(), a.toTensors(), Optional.of(model.toString())), type);
        o.printf("wrote PEFT adapter %s (use it with --adapter %s)%n", out, out);
      }
    }
    o.flush();
    return 0;
  }

  /** Moves a seeded random {@code --eval} examples (at most a fifth of the data) into {@code held}. */
  private List<SftExample> split(List<SftExample> all, List<SftExample> held) {
    int n = Math.min(eval, all.size() / 5);
    if (n == 0) return all;
    List<SftExample> train = new ArrayList<>(all);
    SplittableRandom r = new SplittableRandom(seed ^ 0x5eedL);
    for (int i = 0; i < n; i++) held.add(train.remove(r.nextInt(train.size())));
    return train;
  }

  private static boolean isEmpty(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.findAny().isEmpty();
    }
  }

  /** Renders the bar on the command's stderr, redrawn in place with a carriage return. */
  private static final class ErrConsumer implements ProgressBarConsumer {
    private final PrintWriter err;

    ErrConsumer(PrintWriter err) {
      this.err = err;
    }

    @Override
    public int getMaxRenderedLength() {
      return 100;
    }

    @Override
    public void accept(String rendered) {
      err.print('\r');
      err.print(rendered);
      err.flush();
    }

    @Override
    public void close() {
      err.println();
      err.flush();
    }
  }
}
