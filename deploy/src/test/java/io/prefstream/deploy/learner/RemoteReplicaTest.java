package io.prefstream.deploy.learner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.prefstream.deploy.cli.Main;
import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.learner.loop.Learner;
import io.prefstream.learner.loop.LearnerHooks;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.checkpoint.kafka.KafkaVersionStore;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.RolloutGrpc;
import io.prefstream.schemas.grpc.SamplingParams;
import io.prefstream.schemas.grpc.StatusRequest;
import io.prefstream.schemas.grpc.StatusResponse;
import io.prefstream.schemas.topic.Topics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A serving replica in another process, in another working directory, with no path in common with
 * the learner: the learner publishes every version through the Kafka version store, and the replica
 * (given only the bootstrap servers and the model) fetches, verifies and serves each one. Records
 * update → serving latency (from the learner's return from publishing to the replica's Status
 * reporting the version).
 */
class RemoteReplicaTest {
  private static final Logger LOG = LoggerFactory.getLogger(RemoteReplicaTest.class);
  private static final String TOKEN = "remote-token";
  private static final String POLICY = "remote";
  private static final int VERSIONS = 10;

  @TempDir Path dir;

  @Test
  void aReplicaWithoutTheLearnersDiskServesEveryVersionThroughTheKafkaStore() throws Exception {
    Path model = dir.resolve("model");
    ModelInit.writeRandomModel(model, ModelPresets.tiny(), 23, List.of(), DType.F32);
    Path replicaCwd = Files.createDirectories(dir.resolve("replica-cwd"));
    try (EmbeddedKafka kafka = EmbeddedKafka.start(); HfModel base = HfModelDir.load(model)) {
      kafka.ensureDefaultTopics();
      Process replica = startReplica(kafka.bootstrapServers(), model, replicaCwd);
      ManagedChannel channel = null;
      try {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", replicaPort(replica)).usePlaintext().build();
        ManagedChannel ch = channel;
        LearnerFixture fx = new LearnerFixture(kafka);
        Path learnerDisk = dir.resolve("learner-checkpoints");
        PolicySession session = PolicySession.open(base, new CpuBackend(), new CheckpointStore(learnerDisk), POLICY,
            LearnerFixture.trainerConfig());
        SplittableRandom rnd = new SplittableRandom(5);
        List<Long> latenciesMs = new ArrayList<>();
        try (KafkaVersionStore store = KafkaVersionStore.connect(kafka.clientConfig(), Topics.CHECKPOINTS,
                dir.resolve("learner-side-cache"));
            Learner learner = Learner.start(fx.config(POLICY, Topics.POLICY_UPDATES).checkpointEverySteps(2)
                .versionStore(store).build(), session, new PrometheusRegistry(), LearnerHooks.NONE)) {
          for (int v = 1; v <= VERSIONS; v++) {
            List<MicroBatch> two = List.of(LearnerFixture.batch("b" + v + "a", POLICY, 2L * v, rnd, 3),
                LearnerFixture.batch("b" + v + "b", POLICY, 2L * v + 1, rnd, 3));
            fx.sendBatches(two);
            int guard = 0;
            while (learner.version() < v) {
              learner.runOnce();
              if (++guard > 200) throw new AssertionError("the learner did not reach v" + v);
            }
            long published = System.nanoTime();
            long version = v;
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(10))
                .until(() -> status(ch).getServingVersion() == version);
            latenciesMs.add(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - published));
          }
        }
        // Every update named a kafka: URI, and the replica holds what it fetched in its own directory.
        List<PolicyUpdate> updates = fx.updates(Topics.POLICY_UPDATES);
        assertThat(updates).extracting(PolicyUpdate::getVersion).containsExactly(
            java.util.stream.LongStream.rangeClosed(1, VERSIONS).boxed().toArray(Long[]::new));
        assertThat(updates).allSatisfy(u -> assertThat(u.getCheckpointUri()).startsWith("kafka:///" + Topics.CHECKPOINTS + "/"));
        try (Stream<Path> cached = Files.list(replicaCwd.resolve("cache").resolve(POLICY))) {
          assertThat(cached.map(p -> p.getFileName().toString()).filter(n -> n.matches("\\d+")).count())
              .isEqualTo(VERSIONS);
        }
        var reply = GenerationGrpc.newBlockingStub(channel).generate(GenerateRequest.newBuilder().setPolicyId(POLICY)
            .setPrompt("hi").setSampling(SamplingParams.newBuilder().setMaxNewTokens(2)).build());
        assertThat(reply.getPolicy().getVersion()).isEqualTo(VERSIONS);
        List<Long> sorted = latenciesMs.stream().sorted().toList();
        LOG.info("update -> serving through the Kafka store, {} versions: p50 {} ms, p99 {} ms, max {} ms (all {})",
            VERSIONS, sorted.get(sorted.size() / 2), sorted.get((int) Math.ceil(0.99 * sorted.size()) - 1),
            sorted.getLast(), latenciesMs);
      } finally {
        if (channel != null) channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        replica.destroy();
        if (!replica.waitFor(30, TimeUnit.SECONDS)) replica.destroyForcibly();
      }
    }
  }

  private static StatusResponse status(ManagedChannel channel) {
    Metadata m = new Metadata();
    m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + TOKEN);
    return RolloutGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m))
        .withDeadlineAfter(10, TimeUnit.SECONDS).status(StatusRequest.newBuilder().setPolicyId(POLICY).build());
  }

  /** {@code prefstream serve} as a child JVM in {@code cwd}: the model and the bootstrap servers, nothing else shared. */
  private static Process startReplica(String bootstrap, Path model, Path cwd) throws IOException {
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
        "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow",
        "-cp", System.getProperty("java.class.path"),
        Main.class.getName(),
        "serve", "--model", model.toAbsolutePath().toString(), "--device", "cpu", "--bootstrap-servers", bootstrap,
        "--host", "127.0.0.1", "--port", "0", "--policy", POLICY, "--mode", "AUTO", "--gate-margin", "1",
        "--metrics-port", "-1", "--replica-id", "remote", "--checkpoint-cache", "cache"));
    ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile())
        .redirectError(cwd.resolve("replica.log").toFile());
    pb.environment().put("PREFSTREAM_ADMIN_TOKEN", TOKEN);
    return pb.start();
  }

  private static int replicaPort(Process replica) throws Exception {
    BufferedReader out = new BufferedReader(new InputStreamReader(replica.getInputStream(), StandardCharsets.UTF_8));
    String line = CompletableFuture.supplyAsync(() -> {
      try {
        return out.readLine();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }).get(120, TimeUnit.SECONDS);
    assertThat(line).as("the replica's first line").isNotNull().startsWith("serving policy");
    Matcher m = Pattern.compile("on 127\\.0\\.0\\.1:(\\d+)").matcher(line);
    assertThat(m.find()).as("port in: %s", line).isTrue();
    return Integer.parseInt(m.group(1));
  }
}
