package io.prefstream.bench.serving;

import io.prefstream.bench.BenchModels;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.serving.engine.BatchEngine;
import io.prefstream.serving.engine.EngineConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The batching engine in-process (no gRPC): aggregate completion tokens/s of N concurrent request
 * threads on one policy, then on {@code --adapters} policies each with its own LoRA adapter (rank
 * {@code --rank}, every projection) over the same base, so the cost of per-adapter-group deltas
 * shows as a ratio within one run. Prints numbers; asserts nothing.
 *
 * <p>{@code EngineBench [--hidden 576 --layers 30 --heads 9 --kv-heads 3 --intermediate 1536]
 * [--clients 8] [--requests 3] [--tokens 64] [--adapters 8] [--rank 8]}
 */
public final class EngineBench {
  public static void main(String[] args) throws Exception {
    int hidden = 576, layers = 30, heads = 9, kvHeads = 3, inter = 1536, clients = 8, requests = 3, tokens = 64, adapters = 8,
        rank = 8;
    for (int i = 0; i < args.length; i += 2) {
      int v = Integer.parseInt(args[i + 1]);
      switch (args[i]) {
        case "--hidden" -> hidden = v;
        case "--layers" -> layers = v;
        case "--heads" -> heads = v;
        case "--kv-heads" -> kvHeads = v;
        case "--intermediate" -> inter = v;
        case "--clients" -> clients = v;
        case "--requests" -> requests = v;
        case "--tokens" -> tokens = v;
        case "--adapters" -> adapters = v;
        case "--rank" -> rank = v;
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    LlamaConfig tiny = ModelPresets.tiny();
    LlamaConfig cfg = new LlamaConfig(tiny.vocabSize(), hidden, inter, layers, heads, kvHeads, hidden / heads, 2048, 1e-5, 10000.0,
        true, false, tiny.bosTokenId(), tiny.eosTokenId());
    CpuBackend be = new CpuBackend();
    LlamaModel base = LlamaModel.create(cfg, BenchModels.randomWeights(cfg, 1), be);
    List<LlamaModel> policies = new ArrayList<>();
    for (int a = 0; a < adapters; a++) {
      LlamaModel m = base.sibling();
      m.attachNewLora(new LoraConfig(rank, 2.0 * rank, LoraConfig.ALL_TARGETS, 0), 100 + a);
      policies.add(m);
    }
    System.out.printf(Locale.ROOT, "model: %d parameters (hidden %d, %d layers, %d/%d heads, MLP %d, vocab %d), F32, CPU%n",
        params(cfg), hidden, layers, heads, kvHeads, inter, cfg.vocabSize());
    try (BatchEngine engine = new BatchEngine(EngineConfig.defaults(), cfg, be)) {
      // Warm both shapes of step (one row, a full batch) until the JIT has compiled them, or the first
      // measured level pays for compilation and the ratios lean on it.
      run(engine, List.of(base), 1, 2, tokens, "warm-up, 1 client");
      run(engine, List.of(base), clients, 1, tokens, "warm-up, " + clients + " clients");
      // The adapter path (grouped LoRA products) compiles on its first use too.
      run(engine, policies, clients, 1, tokens, "warm-up, " + clients + " clients, " + adapters + " policies");
      double one = run(engine, List.of(base), 1, requests, tokens, "1 client, base model");
      double single = run(engine, List.of(base), clients, requests, tokens, clients + " clients, base model");
      // The comparison is policies with policies: 8 adapters against one adapter (as the gRPC
      // bench's policies-eight / policies-one); against the bare base it would also count LoRA itself.
      double oneLora = run(engine, policies.subList(0, 1), clients, requests, tokens, clients + " clients, one policy x LoRA r=" + rank);
      double multi = run(engine, policies, clients, requests, tokens, clients + " clients, " + adapters + " policies x LoRA r=" + rank);
      System.out.printf(Locale.ROOT, "ratio %d clients / 1 client: %.2f; %d policies / one policy: %.2f; one policy with LoRA / base: %.2f%n",
          clients, single / one, adapters, multi / oneLora, oneLora / single);
    }
  }

  private static long params(LlamaConfig c) {
    long h = c.hiddenSize(), qd = (long) c.numHeads() * c.headDim(), kd = (long) c.numKvHeads() * c.headDim();
    long layer = 2 * h * qd + 2 * h * kd + 3 * h * c.intermediateSize() + 2 * h;
    return c.numLayers() * layer + (long) c.vocabSize() * h + h;
  }

  private static double run(BatchEngine engine, List<LlamaModel> policies, int clients, int requests, int tokens, String label)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    List<Future<long[]>> fs = new ArrayList<>();
    long steps0 = engine.stats().steps(), rows0 = engine.stats().rows(), nanos0 = engine.stats().stepNanos();
    long t0 = System.nanoTime();
    for (int c = 0; c < clients; c++) {
      int client = c;
      fs.add(pool.submit(() -> {
        long done = 0;
        long[] lat = new long[requests + 1];
        for (int r = 0; r < requests; r++) {
          LlamaModel m = policies.get((client + r) % policies.size());
          int[] prompt = {1, 40 + client, 50 + r, 60, 70, 80, 90, 100};
          SamplingParams p = new SamplingParams(1.0, 0, 0.95, 1000L * client + r, tokens, -1, List.of());
          long s = System.nanoTime();
          done += engine.generate(m, prompt, p, null, null, () -> false).tokens().length;
          lat[r + 1] = System.nanoTime() - s;
        }
        lat[0] = done;
        return lat;
      }));
    }
    long total = 0;
    List<Long> lat = new ArrayList<>();
    for (Future<long[]> f : fs) {
      long[] r = f.get();
      total += r[0];
      for (int i = 1; i < r.length; i++) lat.add(r[i]);
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    pool.shutdown();
    lat.sort(null);
    double tps = total / secs;
    long steps = engine.stats().steps() - steps0;
    double inSteps = (engine.stats().stepNanos() - nanos0) / 1e9;
    System.out.printf(Locale.ROOT, "%-40s %6d tokens in %6.2f s: %8.1f tokens/s, p50 %.2f s; %d steps, %.1f rows/step, %.1f ms/step, %.0f%% of the time in steps%n",
        label, total, secs, tps, lat.get(lat.size() / 2) / 1e9, steps, (engine.stats().rows() - rows0) / (double) Math.max(1, steps),
        1e3 * inSteps / Math.max(1, steps), 100 * inSteps / secs);
    return tps;
  }
}
