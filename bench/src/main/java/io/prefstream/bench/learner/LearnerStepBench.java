package io.prefstream.bench.learner;

import io.prefstream.bench.BenchModels;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.reference.PinnedReference;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.StepOutcome;
import io.prefstream.learner.trainer.TrainerConfig;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.Backends;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * CPU time of one DPO learner step ({@link DpoTrainer#step}) with the online defaults (sigmoid DPO,
 * β 0.1, LoRA r 8 α 16 on every projection, AdamW), split as the trainer reports it: reference
 * forward, policy forward+backward, optimiser. Two shapes: the tiny preset and SmolLM2-135M's shape,
 * both with random weights and the byte-level tokenizer (one token per byte), prompts of
 * {@code --prompt} bytes and responses of {@code --response} bytes. Reports the median over the
 * timed steps after warm-up steps. {@code --device cuda} times the same {@code DpoTrainer.step} the
 * learner runs on the GPU (host AdamW through the trainer's parameter bridge included), which is what
 * {@code bench/gpu-check.sh} reports beside GpuBench's device-optimiser step. Usage:
 * {@code LearnerStepBench [--device cpu|cuda|auto] [--prompt 32] [--response 96] [--lora-rank 8]
 * [--tiny-pairs 8] [--tiny-iters 30] [--big-pairs 4] [--big-iters 4] [--skip-tiny] [--skip-135m]}.
 * Prints a Markdown table; asserts nothing.
 */
public final class LearnerStepBench {
  private LearnerStepBench() {}

  private record Row(String shape, int pairs, int tokensPerStep, int steps, double stepMs, double refMs,
      double policyMs, double optMs) {}

  public static void main(String[] args) throws IOException {
    int prompt = 32, response = 96, tinyPairs = 8, tinyIters = 30, bigPairs = 4, bigIters = 4, loraRank = 8;
    boolean big = true, tinyShape = true;
    String device = "cpu";
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--prompt" -> prompt = Integer.parseInt(args[++i]);
        case "--response" -> response = Integer.parseInt(args[++i]);
        case "--tiny-pairs" -> tinyPairs = Integer.parseInt(args[++i]);
        case "--tiny-iters" -> tinyIters = Integer.parseInt(args[++i]);
        case "--big-pairs" -> bigPairs = Integer.parseInt(args[++i]);
        case "--big-iters" -> bigIters = Integer.parseInt(args[++i]);
        case "--skip-135m" -> big = false;
        case "--skip-tiny" -> tinyShape = false;
        case "--device" -> device = args[++i];
        case "--lora-rank" -> loraRank = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + "; expected --device, --prompt, --response, --lora-rank, --tiny-pairs, --tiny-iters, --big-pairs, --big-iters,"
            + " --skip-tiny, --skip-135m");
      }
    }
    System.out.println("machine: " + machine());
    Backends.Choice choice = Backends.choose(device);
    Backend backend = choice.backend();
    System.out.println("device: " + choice.device() + " (" + choice.reason() + ")");
    Path dir = Files.createTempDirectory("learner-step-bench-");
    List<Row> rows = new ArrayList<>();
    try {
      // The tiny model directory supplies the byte-level tokenizer for both shapes (its ids fit either vocabulary).
      ModelInit.writeRandomModel(dir, ModelPresets.tiny(), 1, List.of(), DType.F32);
      try (HfModel tiny = HfModelDir.load(dir)) {
        if (tinyShape) {
          rows.add(run("tiny", tiny.config(), tiny.weights(), tiny.tokenizer(), backend, loraRank, prompt, response,
              tinyPairs, 10, tinyIters));
        }
        if (big) {
          LlamaConfig cfg = BenchModels.smol135m();
          rows.add(run("smollm2-135m shape", cfg, BenchModels.randomWeights(cfg, 1), tiny.tokenizer(), backend, loraRank,
              prompt, response, bigPairs, 1, bigIters));
        }
      }
    } finally {
      deleteRecursively(dir);
      backend.close();
    }
    System.out.println();
    System.out.printf(Locale.ROOT, "sequences: prompt %d + response %d tokens (byte-level tokenizer), chosen and rejected per pair%n",
        prompt, response);
    System.out.println("| shape | pairs/batch | policy tokens/step | timed steps | step ms | reference fwd ms | policy fwd+bwd ms | optimiser ms | policy tokens/s | step tokens/s |");
    System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (Row r : rows) {
      System.out.printf(Locale.ROOT, "| %s | %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f |%n", r.shape(), r.pairs(),
          r.tokensPerStep(), r.steps(), r.stepMs(), r.refMs(), r.policyMs(), r.optMs(),
          r.tokensPerStep() / (r.policyMs() / 1e3), r.tokensPerStep() / (r.stepMs() / 1e3));
    }
  }

  private static Row run(String shape, LlamaConfig cfg, java.util.Map<String, io.prefstream.model.tensor.NamedTensor> weights,
      Tokenizer tokenizer, Backend backend, int loraRank, int prompt, int response, int pairs, int warmup, int iters) {
    TrainerConfig defaults = TrainerConfig.builder().build();
    TrainerConfig tc = TrainerConfig.builder().maxLength(prompt + response + 8).maxPromptLength(prompt + 4)
        .lora(new LoraConfig(loraRank, 2.0 * loraRank, defaults.lora().targetModules(), 0))
        .schedule(new LrSchedule.WarmupConstant(1e-4, 10)).build();
    LlamaModel model = LlamaModel.create(cfg, weights, backend);
    model.attachNewLora(tc.lora(), tc.loraSeed());
    DpoTrainer trainer = new DpoTrainer(model, tokenizer, tc, PinnedReference.base(model));
    SplittableRandom rnd = new SplittableRandom(7);
    // Each sequence: the prompt plus one response; 2 per pair (chosen, rejected), both run through the policy.
    int tokensPerStep = pairs * 2 * (prompt + response);
    double[] step = new double[iters], ref = new double[iters], pol = new double[iters], opt = new double[iters];
    for (int i = 0; i < warmup + iters; i++) {
      TrainingBatch batch = batch(rnd, "b" + i, pairs, prompt, response);
      long t0 = System.nanoTime();
      StepOutcome o = trainer.step(batch, 0);
      long total = System.nanoTime() - t0;
      if (!o.applied()) throw new IllegalStateException(shape + " step " + i + " was not applied: " + o.status());
      if (i >= warmup) {
        int k = i - warmup;
        step[k] = total / 1e6;
        ref[k] = o.timings().referenceNanos() / 1e6;
        pol[k] = o.timings().policyNanos() / 1e6;
        opt[k] = o.timings().optimizerNanos() / 1e6;
      }
      System.out.printf(Locale.ROOT, "%s step %d%s: %.1f ms (reference %.1f, policy %.1f, optimiser %.1f), loss %.4f%n", shape, i,
          i < warmup ? " (warm-up)" : "", total / 1e6, o.timings().referenceNanos() / 1e6, o.timings().policyNanos() / 1e6,
          o.timings().optimizerNanos() / 1e6, o.metrics().getOrDefault("loss", Double.NaN));
    }
    return new Row(shape, pairs, tokensPerStep, iters, median(step), median(ref), median(pol), median(opt));
  }

  private static TrainingBatch batch(SplittableRandom rnd, String id, int pairs, int prompt, int response) {
    List<TrainingBatch.Pair> out = new ArrayList<>();
    for (int i = 0; i < pairs; i++) {
      out.add(new TrainingBatch.Pair(text(rnd, prompt, "abcdefghijklmnopqrstuvwxyz ?"), text(rnd, response, "aeiou "),
          text(rnd, response, "xzqkvbdg "), null));
    }
    return new TrainingBatch(id, out, List.of());
  }

  private static String text(SplittableRandom rnd, int n, String alphabet) {
    StringBuilder sb = new StringBuilder(n);
    for (int i = 0; i < n; i++) sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
    return sb.toString();
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  /** Cores, CPU model, JDK and the load average when called. */
  static String machine() throws IOException {
    String cpu = "unknown CPU";
    Path info = Path.of("/proc/cpuinfo");
    if (Files.isReadable(info)) {
      cpu = Files.readAllLines(info).stream().filter(l -> l.startsWith("model name"))
          .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse(cpu);
    }
    return String.format(Locale.ROOT, "%d cores, %s, JDK %s (%s), max heap %d MiB, load average %s",
        Runtime.getRuntime().availableProcessors(), cpu, Runtime.version(), System.getProperty("java.vm.name"),
        Runtime.getRuntime().maxMemory() >> 20, loadAverage());
  }

  static String loadAverage() throws IOException {
    Path p = Path.of("/proc/loadavg");
    if (!Files.isReadable(p)) return "unknown";
    String[] f = Files.readString(p).trim().split("\\s+");
    return f[0] + " " + f[1] + " " + f[2] + " (1/5/15 min)";
  }

  static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) return;
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    }
  }
}
