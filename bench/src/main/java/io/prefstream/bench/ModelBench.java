package io.prefstream.bench;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.cpu.WorkerPool;
import io.prefstream.model.generate.Generator;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.train.GradMode;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A plain runner for the model's CPU throughput: forward (no-grad log-probs) and forward+backward
 * (LoRA gradients) tokens/s on random weights, with peak heap and the machine it ran on. Usage:
 * {@code ModelBench [--preset tiny|small|smollm2-135m] [--seq 256] [--batch 1] [--iters 3] [--warmup 3]
 * [--threads N] [--recompute]}. Prints results; asserts nothing.
 */
public final class ModelBench {
  private ModelBench() {}

  public static void main(String[] args) throws IOException {
    String preset = "smollm2-135m";
    int seq = 256, batch = 1, iters = 3, warmup = 3, threads = Runtime.getRuntime().availableProcessors();
    boolean recompute = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--preset" -> preset = args[++i];
        case "--seq" -> seq = Integer.parseInt(args[++i]);
        case "--batch" -> batch = Integer.parseInt(args[++i]);
        case "--iters" -> iters = Integer.parseInt(args[++i]);
        case "--warmup" -> warmup = Integer.parseInt(args[++i]);
        case "--threads" -> threads = Integer.parseInt(args[++i]);
        case "--recompute" -> recompute = true;
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + "; expected --preset, --seq, --batch, --iters, --warmup, --threads, --recompute");
      }
    }
    System.out.println(machine() + ", threads " + threads);
    LlamaConfig cfg = BenchModels.byName(preset);
    try (WorkerPool pool = new WorkerPool(threads)) {
      LlamaModel model = LlamaModel.create(cfg, BenchModels.randomWeights(cfg, 1), new CpuBackend(pool));
      model.attachNewLora(BenchModels.lora(), 2);
      List<PromptResponse> data = BenchModels.batch(cfg, batch, seq, 3);
      long tokens = (long) batch * seq;
      double[] grads = new double[batch];
      java.util.Arrays.fill(grads, 1.0);
      for (int w = 0; w < warmup; w++) model.logProbs(data); // JIT and workspace allocation
      double fwd = best(iters, () -> model.logProbs(data));
      model.zeroGrad(GradMode.LORA);
      final boolean rc = recompute;
      for (int w = 0; w < warmup; w++) model.forward(data, GradMode.LORA, rc).backward(grads);
      double fb = best(iters, () -> model.forward(data, GradMode.LORA, rc).backward(grads));
      System.out.printf(Locale.ROOT, "%s seq %d batch %d: forward %.1f tokens/s (%.3f s), forward+backward LoRA%s %.1f tokens/s (%.3f s), peak heap %.0f MiB%n",
          preset, seq, batch, tokens / fwd, fwd, rc ? " (recompute)" : "", tokens / fb, fb, peakHeapMiB());
      // Decoding: a 16-token prompt, 32 greedy tokens through the KV cache (after one warm-up run).
      Generator gen = new Generator(model);
      int[] prompt = java.util.Arrays.copyOf(data.get(0).response(), 16);
      SamplingParams greedy = SamplingParams.greedy(32, -1);
      gen.generate(prompt, greedy, null, null);
      long t0 = System.nanoTime();
      int made = gen.generate(prompt, greedy, null, null).tokens().length;
      double s = (System.nanoTime() - t0) / 1e9;
      System.out.printf(Locale.ROOT, "%s decode (LoRA attached, unmerged): %.1f tokens/s (%d tokens in %.3f s)%n", preset, made / s, made, s);
    }
  }

  private static double best(int iters, Runnable r) {
    double best = Double.MAX_VALUE;
    for (int i = 0; i < iters; i++) {
      long t0 = System.nanoTime();
      r.run();
      best = Math.min(best, (System.nanoTime() - t0) / 1e9);
    }
    return best;
  }

  static double peakHeapMiB() {
    long sum = 0;
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      if (p.getType() == MemoryType.HEAP && p.getPeakUsage() != null) sum += p.getPeakUsage().getUsed();
    }
    return sum / (1024.0 * 1024.0);
  }

  /** Cores, CPU model (from /proc/cpuinfo where present) and JDK. */
  static String machine() throws IOException {
    String cpu = "unknown CPU";
    Path info = Path.of("/proc/cpuinfo");
    if (Files.isReadable(info)) {
      cpu = Files.readAllLines(info).stream().filter(l -> l.startsWith("model name"))
          .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse(cpu);
    }
    return String.format(Locale.ROOT, "%d cores, %s, JDK %s (%s)", Runtime.getRuntime().availableProcessors(), cpu,
        Runtime.version(), System.getProperty("java.vm.name"));
  }
}
