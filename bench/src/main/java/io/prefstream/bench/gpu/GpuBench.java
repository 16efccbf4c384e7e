package io.prefstream.bench.gpu;

import io.prefstream.bench.BenchModels;
import io.prefstream.model.backend.AdamWCoefficients;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.Backends;
import io.prefstream.model.backend.Buf;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.cuda.CudaBackend;
import io.prefstream.model.llama.ForwardPass;
import io.prefstream.model.llama.KvCache;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.train.GradMode;
import io.prefstream.model.train.Parameter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The GPU benchmark beside bench/peer/torch_gpu_bench.py: a DPO step on the SmolLM2-135M shape
 * (random weights, LoRA r=16 on every projection, 16 pairs of sequence 512 sharing a 128-token
 * prompt: reference log-probs on a sibling without the adapter, policy forward and backward on
 * chosen and rejected, global grad norm and AdamW on the device, as the learner's DeviceAdamW does on
 * CUDA) and batch-1 greedy decode with the
 * KV cache. Prints one JSON object (also written to --out). A benchmark: it measures, never asserts.
 *
 * <p>Usage: GpuBench [--device cuda] [--preset smollm2-135m|small|tiny] [--pairs 16] [--seq 512]
 * [--prompt 128] [--steps 5] [--warmup 2] [--decode-tokens 128] [--recompute true|false] [--out file.json]
 * (a small preset on --device cpu is a smoke test of the bundle on a machine without a GPU).
 */
public final class GpuBench {
  private GpuBench() {}

  public static void main(String[] args) throws IOException {
    String device = "cuda", out = null, preset = "smollm2-135m";
    boolean recompute = false;
    int pairs = 16, seq = 512, prompt = 128, steps = 5, warmup = 2, decodeTokens = 128;
    for (int i = 0; i < args.length; i += 2) {
      String v = i + 1 < args.length ? args[i + 1] : null;
      if (v == null) throw new IllegalArgumentException(args[i] + " needs a value");
      switch (args[i]) {
        case "--device" -> device = v;
        case "--pairs" -> pairs = Integer.parseInt(v);
        case "--seq" -> seq = Integer.parseInt(v);
        case "--prompt" -> prompt = Integer.parseInt(v);
        case "--steps" -> steps = Integer.parseInt(v);
        case "--warmup" -> warmup = Integer.parseInt(v);
        case "--decode-tokens" -> decodeTokens = Integer.parseInt(v);
        case "--out" -> out = v;
        case "--preset" -> preset = v;
        case "--recompute" -> recompute = Boolean.parseBoolean(v);
        default -> throw new IllegalArgumentException("unknown option " + args[i]
            + "; expected --device, --preset, --pairs, --seq, --prompt, --steps, --warmup, --decode-tokens, --recompute, --out");
      }
    }
    Backends.Choice choice = Backends.choose(device);
    Backend be = choice.backend();
    try {
      String name = be instanceof CudaBackend c ? c.deviceName() : "cpu";
      LlamaConfig cfg = BenchModels.byName(preset);
      long t0 = System.nanoTime();
      LlamaModel policy = LlamaModel.create(cfg, BenchModels.randomWeights(cfg, 1), be);
      double loadS = (System.nanoTime() - t0) / 1e9;
      String dpo = dpo(be, policy, cfg, pairs, seq, prompt, steps, warmup, recompute);
      long[] memAfter = memory(be);
      String decode = decode(be, policy, cfg, decodeTokens);
      String json = String.format(Locale.ROOT,
          "{\"peer\":\"prefstream\",\"device\":\"%s\",\"backend\":\"%s\",\"preset\":\"%s\",\"recompute\":%s,\"model_load_s\":%.2f,"
              + "\"device_mem_used_gib\":%.2f,\"device_mem_total_gib\":%.2f,\"dpo\":%s,\"decode\":%s}",
          name, choice.device(), preset, recompute, loadS, (memAfter[1] - memAfter[0]) / (double) (1L << 30), memAfter[1] / (double) (1L << 30),
          dpo, decode);
      System.out.println(json);
      if (out != null) Files.writeString(Path.of(out), json + "\n");
    } finally {
      be.close();
    }
  }

  private static long[] memory(Backend be) {
    return be instanceof CudaBackend c ? c.memoryInfo() : new long[] {0, 0};
  }

  private static void sync(Backend be) {
    if (be instanceof CudaBackend c) c.synchronize();
  }

  private static List<PromptResponse> pairsBatch(LlamaConfig cfg, int pairs, int seq, int prompt, SplittableRandom r) {
    List<PromptResponse> chosen = new ArrayList<>(), rejected = new ArrayList<>();
    for (int p = 0; p < pairs; p++) {
      int[] pr = tokens(r, cfg.vocabSize(), prompt);
      chosen.add(new PromptResponse(pr, tokens(r, cfg.vocabSize(), seq - prompt)));
      rejected.add(new PromptResponse(pr, tokens(r, cfg.vocabSize(), seq - prompt)));
    }
    List<PromptResponse> all = new ArrayList<>(chosen);
    all.addAll(rejected);
    return all;
  }

  private static int[] tokens(SplittableRandom r, int vocab, int n) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
    return t;
  }

  /** Median ms of DPO steps: reference pass, policy forward+backward, grad norm, AdamW. */
  private static String dpo(Backend be, LlamaModel policy, LlamaConfig cfg, int pairs, int seq, int prompt, int steps,
      int warmup, boolean recompute) {
    LlamaModel reference = policy.sibling();
    policy.attachNewLora(BenchModels.lora(), 7);
    List<Parameter> params = policy.parameters(GradMode.LORA);
    List<Buf> m = new ArrayList<>(), v = new ArrayList<>();
    for (Parameter p : params) {
      m.add(be.alloc(p.numel()));
      v.add(be.alloc(p.numel()));
    }
    SplittableRandom r = new SplittableRandom(3);
    double beta = 0.1;
    double[] ms = new double[steps];
    double lastLoss = Double.NaN;
    for (int it = 0; it < warmup + steps; it++) {
      List<PromptResponse> batch = pairsBatch(cfg, pairs, seq, prompt, r);
      sync(be);
      long t0 = System.nanoTime();
      SequenceLogProbs ref = reference.logProbs(batch);
      ForwardPass pass = policy.forward(batch, GradMode.LORA, recompute);
      SequenceLogProbs pol = pass.result();
      double[] d = new double[2 * pairs];
      double loss = 0;
      for (int p = 0; p < pairs; p++) {
        double z = beta * ((pol.sum(p) - ref.sum(p)) - (pol.sum(pairs + p) - ref.sum(pairs + p)));
        double s = 1 / (1 + Math.exp(z));
        loss += Math.log1p(Math.exp(-z)) / pairs;
        d[p] = -beta * s / pairs;
        d[pairs + p] = beta * s / pairs;
      }
      pass.backward(d);
      double sq = 0;
      for (Parameter p : params) sq += be.sumSquares(p.grad(), p.numel());
      double clip = AdamWCoefficients.clipScale(Math.sqrt(sq), 1.0);
      AdamWCoefficients c = AdamWCoefficients.of(1e-4, 0.9, 0.999, 1e-8, 0.01, it + 1, clip, true);
      for (int i = 0; i < params.size(); i++) {
        Parameter p = params.get(i);
        be.adamwUpdate(p.value(), p.grad(), m.get(i), v.get(i), p.numel(), c);
        p.zeroGrad();
      }
      sync(be);
      if (it >= warmup) ms[it - warmup] = (System.nanoTime() - t0) / 1e6;
      lastLoss = loss;
    }
    double[] sorted = ms.clone();
    Arrays.sort(sorted);
    double med = sorted[sorted.length / 2];
    return String.format(Locale.ROOT, "{\"step_ms\":%.1f,\"policy_tokens_per_s\":%.0f,\"steps\":%d,\"all_ms\":%s,\"loss\":%.5f}",
        med, 2.0 * pairs * seq / (med / 1e3), steps, Arrays.toString(ms), lastLoss);
  }

  /**
   * Greedy batch-1 decode after a 16-token prompt (argmax on the host). The timed span includes the
   * prompt's prefill, as Hugging Face's generate() in the peer does, so both sides do the same work:
   * tokens/s = new tokens / (prefill + decode). The decode-only rate is reported beside it.
   */
  private static String decode(Backend be, LlamaModel model, LlamaConfig cfg, int newTokens) {
    model.detachLora();
    SplittableRandom r = new SplittableRandom(5);
    int[] prompt = tokens(r, cfg.vocabSize(), 16);
    // warm-up session, then the timed one
    double tps = 0, decodeOnly = 0;
    for (int round = 0; round < 2; round++) {
      KvCache cache = model.newKvCache(prompt.length + newTokens + 8);
      sync(be);
      long t0 = System.nanoTime();
      float[] logits = model.forwardCached(cache, prompt);
      sync(be);
      long t1 = System.nanoTime();
      int n = round == 0 ? Math.min(8, newTokens) : newTokens;
      for (int i = 0; i < n; i++) {
        int next = argmax(logits);
        logits = model.forwardCached(cache, new int[] {next});
      }
      argmax(logits); // the last token is picked too, as generate() does
      sync(be);
      long t2 = System.nanoTime();
      tps = n / ((t2 - t0) / 1e9);
      decodeOnly = n / ((t2 - t1) / 1e9);
    }
    return String.format(Locale.ROOT, "{\"tokens\":%d,\"tokens_per_s\":%.1f,\"decode_only_tokens_per_s\":%.1f,"
        + "\"prefill_timed\":true}", newTokens, tps, decodeOnly);
  }

  private static int argmax(float[] x) {
    int best = 0;
    for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
    return best;
  }
}
