package io.prefstream.bench.serving;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.schemas.avro.CheckpointFormat;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.SamplingParams;
import io.prefstream.serving.ServingNode;
import io.prefstream.serving.grpc.ServingConfig;
import io.prefstream.serving.registry.RegistrySettings;
import io.prefstream.serving.rollout.KafkaRolloutFeed;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * The serving replica as deployed (embedded broker, Kafka feed, Netty on loopback, tiny model on
 * the CPU), measured three ways:
 *
 * <ol>
 *   <li>Generate throughput (completion tokens/s) and request latency p50/p99 at 1 and 16
 *       concurrent clients, greedy, {@code --tokens} new tokens per request;
 *   <li>update → serving: from publishing a LoRA PolicyUpdate (AUTO mode) to the replica routing
 *       requests to it, p50/p99 over {@code --updates} updates;
 *   <li>request p99 at 16 clients while a new version is published every {@code --swap-ms} ms,
 *       against the same load without swaps.
 * </ol>
 *
 * Usage: {@code ServingBench [--seconds 10] [--tokens 32] [--updates 30] [--swap-ms 250]}. Prints a
 * Markdown report; asserts nothing.
 */
public final class ServingBench {
  private ServingBench() {}

  static final LoraConfig LORA = new LoraConfig(8, 16, LoraConfig.ALL_TARGETS, 0);

  public static void main(String[] args) throws Exception {
    int seconds = 10, tokens = 32, updates = 30, swapMs = 250;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--seconds" -> seconds = Integer.parseInt(args[++i]);
        case "--tokens" -> tokens = Integer.parseInt(args[++i]);
        case "--updates" -> updates = Integer.parseInt(args[++i]);
        case "--swap-ms" -> swapMs = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + "; expected --seconds, --tokens, --updates, --swap-ms");
      }
    }
    Path work = Files.createTempDirectory("serving-bench-");
    Path model = work.resolve("model");
    LlamaConfig cfg = ModelPresets.tiny();
    ModelInit.writeRandomModel(model, cfg, 3, List.of(), DType.F32);
    CheckpointStore store = new CheckpointStore(work.resolve("checkpoints"));
    int versionsNeeded = updates + (seconds * 1000 / swapMs) + 10;
    List<PolicyUpdate> pending = new ArrayList<>();
    for (long v = 1; v <= versionsNeeded; v++) pending.add(writeVersion(store, cfg, "default", v));

    System.out.println("# Serving benchmark (tiny model, CPU)");
    System.out.println();
    System.out.println(String.format(Locale.ROOT, "%s %s, %d CPUs, JDK %s, load average %.2f at start; %d new tokens"
        + " per request, greedy; %d s per measurement", System.getProperty("os.name"), System.getProperty("os.arch"),
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"),
        java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(), tokens, seconds));
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      kafka.ensureDefaultTopics();
      try (KafkaRolloutFeed learner = new KafkaRolloutFeed(kafka.bootstrapServers(), "bench-learner");
          ServingNode node = ServingNode.startWithKafka(kafka.bootstrapServers(), model, Optional.of(store.root()),
              ServingConfig.defaults().withHost("127.0.0.1").withPort(0).withMaxConcurrent(64),
              RegistrySettings.defaults("bench").withDefaultMode(RolloutMode.AUTO), new PrometheusRegistry())) {
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", node.port()).usePlaintext().build();
        GenerateRequest req = GenerateRequest.newBuilder().setPrompt("The weather today is")
            .setSampling(SamplingParams.newBuilder().setMaxNewTokens(tokens).setTemperature(0)).build();
        load(ch, req, 4, 3, () -> {}); // warm-up: JIT, connections

        System.out.println();
        System.out.println("| clients | requests | completion tokens/s | p50 ms | p99 ms |");
        System.out.println("|---|---|---|---|---|");
        for (int clients : new int[] {1, 16}) {
          Result r = load(ch, req, clients, seconds, () -> {});
          System.out.println(String.format(Locale.ROOT, "| %d | %d | %.0f | %.2f | %.2f |", clients, r.requests,
              r.tokens / r.seconds, r.p(50), r.p(99)));
        }

        // update -> serving
        double[] lat = new double[updates];
        for (int i = 0; i < updates; i++) {
          PolicyUpdate u = PolicyUpdate.newBuilder(pending.removeFirst()).setCreatedAt(Instant.now()).build();
          long t0 = System.nanoTime();
          learner.publishUpdate(u);
          while (node.registry().status("default").servingVersion() != u.getVersion()) LockSupport.parkNanos(100_000);
          lat[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(lat);
        System.out.println();
        System.out.println(String.format(Locale.ROOT, "update → serving over %d LoRA updates (publish to the replica routing"
            + " to the new version, AUTO mode, Kafka round trip for the promotion included): p50 %.1f ms, p99 %.1f ms, max %.1f ms",
            updates, pct(lat, 50), pct(lat, 99), lat[lat.length - 1]));

        // p99 with and without swaps
        Result quiet = load(ch, req, 16, seconds, () -> {});
        AtomicBoolean stop = new AtomicBoolean();
        int[] swaps = {0};
        final int period = swapMs;
        Thread swapper = new Thread(() -> {
          while (!stop.get() && !pending.isEmpty()) {
            learner.publishUpdate(PolicyUpdate.newBuilder(pending.removeFirst()).setCreatedAt(Instant.now()).build());
            swaps[0]++;
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(period));
          }
        });
        Result swapping = load(ch, req, 16, seconds, () -> {
          swapper.start();
        });
        stop.set(true);
        swapper.join();
        System.out.println();
        System.out.println("| 16 clients | requests | p50 ms | p99 ms | versions published |");
        System.out.println("|---|---|---|---|---|");
        System.out.println(String.format(Locale.ROOT, "| no swaps | %d | %.2f | %.2f | 0 |", quiet.requests, quiet.p(50), quiet.p(99)));
        System.out.println(String.format(Locale.ROOT, "| a swap every %d ms | %d | %.2f | %.2f | %d |", swapMs,
            swapping.requests, swapping.p(50), swapping.p(99), swaps[0]));
        System.out.println(String.format(Locale.ROOT, "%nswaps add %.2f ms to p99", swapping.p(99) - quiet.p(99)));
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  record Result(long requests, long tokens, double seconds, double[] latMs) {
    double p(double q) {
      return pct(latMs, q);
    }
  }

  static double pct(double[] sorted, double q) {
    if (sorted.length == 0) return Double.NaN;
    int i = (int) Math.ceil(q / 100.0 * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
  }

  static Result load(ManagedChannel ch, GenerateRequest req, int clients, int seconds, Runnable atStart) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    List<Future<long[]>> fs = new ArrayList<>();
    List<List<Double>> lats = new ArrayList<>();
    long t0 = System.nanoTime();
    atStart.run();
    for (int c = 0; c < clients; c++) {
      List<Double> mine = new ArrayList<>();
      lats.add(mine);
      String user = "bench-" + c;
      fs.add(pool.submit(() -> {
        var stub = GenerationGrpc.newBlockingStub(ch);
        long n = 0, toks = 0;
        while (System.nanoTime() < end) {
          long s = System.nanoTime();
          toks += stub.generate(GenerateRequest.newBuilder(req).setUserId(user).build()).getCompletionTokens();
          mine.add((System.nanoTime() - s) / 1e6);
          n++;
        }
        return new long[] {n, toks};
      }));
    }
    long n = 0, toks = 0;
    for (Future<long[]> f : fs) {
      long[] r = f.get();
      n += r[0];
      toks += r[1];
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    pool.shutdown();
    double[] all = lats.stream().flatMap(List::stream).mapToDouble(Double::doubleValue).sorted().toArray();
    return new Result(n, toks, secs, all);
  }

  /** Version {@code v} of {@code policy}: a random LoRA adapter (rank 8, every projection) written to the store. */
  static PolicyUpdate writeVersion(CheckpointStore store, LlamaConfig c, String policy, long v) throws Exception {
    Map<String, NamedTensor> t = new LinkedHashMap<>();
    Random rnd = new Random(31L * policy.hashCode() + v);
    for (int l = 0; l < c.numLayers(); l++) {
      for (String m : LORA.targetModules()) {
        int[] dims = io.prefstream.model.lora.LoraAdapter.inOut(c, m);
        String a = PeftAdapter.loraA(l, m), b = PeftAdapter.loraB(l, m);
        t.put(a, new NamedTensor(a, new int[] {LORA.rank(), dims[0]}, gaussian(rnd, LORA.rank() * dims[0])));
        t.put(b, new NamedTensor(b, new int[] {dims[1], LORA.rank()}, gaussian(rnd, dims[1] * LORA.rank())));
      }
    }
    // Rising eval accuracy, so the AUTO gate passes every version.
    double acc = Math.min(0.99, 0.5 + v * 0.001);
    TrainerState st = new TrainerState(v, v, Map.of(), "base", v > 1 ? v - 1 : null, PolicyCheckpoint.LORA,
        Map.of("eval/rewards/accuracies", acc));
    Checkpoint cp = PolicyCheckpoint.writeLora(store, policy, v, new PeftAdapter(LORA, t, Optional.empty()), null, st);
    return PolicyUpdate.newBuilder().setPolicyId(policy).setVersion(v).setParentVersion(v > 1 ? v - 1 : null)
        .setReferenceId("base").setCheckpointUri(cp.uri().toString()).setSha256(cp.manifestSha256())
        .setFormat(CheckpointFormat.LORA).setStep(v).setExamplesSeen(v).setMetrics(Map.of("eval/rewards/accuracies", acc))
        .setCreatedAt(Instant.now()).build();
  }

  private static float[] gaussian(Random rnd, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * 0.02);
    return x;
  }
}
