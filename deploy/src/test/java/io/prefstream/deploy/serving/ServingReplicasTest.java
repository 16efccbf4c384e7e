package io.prefstream.deploy.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.prefstream.deploy.cli.Main;
import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.schemas.avro.CheckpointFormat;
import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.PinReference;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.schemas.grpc.FeedbackGrpc;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerateResponse;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.RollbackRequest;
import io.prefstream.schemas.grpc.RolloutGrpc;
import io.prefstream.schemas.grpc.SamplingParams;
import io.prefstream.schemas.grpc.SetCanaryRequest;
import io.prefstream.schemas.grpc.StatusRequest;
import io.prefstream.schemas.grpc.StatusResponse;
import io.prefstream.schemas.grpc.SubmitFeedbackRequest;
import io.prefstream.schemas.grpc.ThumbFeedback;
import io.prefstream.schemas.serde.AvroSerdes;
import io.prefstream.schemas.serde.PreferenceEventDeserializer;
import io.prefstream.schemas.topic.Topics;
import io.prefstream.serving.ServingNode;
import io.prefstream.serving.feedback.EventKeys;
import io.prefstream.serving.grpc.ServingConfig;
import io.prefstream.serving.registry.RegistrySettings;
import io.prefstream.serving.rollout.KafkaRolloutFeed;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Serving replicas on a real (embedded) broker: they follow prefstream.policy-updates, converge on
 * the desired state in the compacted prefstream.rollout (also a replica started afterwards),
 * publish feedback to prefstream.events and pin references on prefstream.control; the {@code serve}
 * and {@code rollout} commands drive the same RPCs.
 */
class ServingReplicasTest {
  static final String TOKEN = "replica-token";
  static final LoraConfig LORA = new LoraConfig(4, 8, LoraConfig.ALL_TARGETS, 0);

  @TempDir static Path root;
  static EmbeddedKafka kafka;
  static Path model;
  static CheckpointStore store;
  static KafkaRolloutFeed publisher;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    kafka.ensureDefaultTopics();
    model = root.resolve("model");
    ModelInit.writeRandomModel(model, ModelPresets.tiny(), 5, List.of(), DType.F32);
    store = new CheckpointStore(root.resolve("checkpoints"));
    publisher = new KafkaRolloutFeed(kafka.bootstrapServers(), "test-learner");
  }

  @AfterAll
  static void stop() {
    if (publisher != null) publisher.close();
    if (kafka != null) kafka.close();
  }

  static PolicyUpdate writeVersion(String policy, long v, double acc) throws Exception {
    Map<String, NamedTensor> t = new LinkedHashMap<>();
    Random rnd = new Random(v);
    var c = ModelPresets.tiny();
    for (int l = 0; l < c.numLayers(); l++) {
      for (String m : LORA.targetModules()) {
        int[] dims = io.prefstream.model.lora.LoraAdapter.inOut(c, m);
        String a = PeftAdapter.loraA(l, m), b = PeftAdapter.loraB(l, m);
        t.put(a, new NamedTensor(a, new int[] {4, dims[0]}, gaussian(rnd, 4 * dims[0])));
        t.put(b, new NamedTensor(b, new int[] {dims[1], 4}, gaussian(rnd, dims[1] * 4)));
      }
    }
    TrainerState st = new TrainerState(v, v, Map.of(), "base", null, PolicyCheckpoint.LORA, Map.of("eval/rewards/accuracies", acc));
    Checkpoint cp = PolicyCheckpoint.writeLora(store, policy, v, new PeftAdapter(LORA, t, Optional.empty()), null, st);
    return PolicyUpdate.newBuilder().setPolicyId(policy).setVersion(v).setReferenceId("base")
        .setCheckpointUri(cp.uri().toString()).setSha256(cp.manifestSha256()).setFormat(CheckpointFormat.LORA).setStep(v)
        .setExamplesSeen(v).setMetrics(Map.of("eval/rewards/accuracies", acc)).setCreatedAt(Instant.now()).build();
  }

  private static float[] gaussian(Random rnd, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * 0.5);
    return x;
  }

  static ServingNode replica(String id, String policy) throws Exception {
    return ServingNode.startWithKafka(kafka.bootstrapServers(), model, Optional.of(store.root()),
        ServingConfig.defaults().withHost("127.0.0.1").withPort(0).withAdminToken(TOKEN),
        RegistrySettings.defaults(id).withDefaultPolicy(policy).withDefaultMode(RolloutMode.AUTO), new PrometheusRegistry());
  }

  static ManagedChannel channel(ServingNode n) {
    return NettyChannelBuilder.forAddress("127.0.0.1", n.port()).usePlaintext().build();
  }

  static RolloutGrpc.RolloutBlockingStub admin(ManagedChannel ch) {
    Metadata m = new Metadata();
    m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + TOKEN);
    return RolloutGrpc.newBlockingStub(ch).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m));
  }

  static StatusResponse status(ManagedChannel ch, String policy) {
    return admin(ch).status(StatusRequest.newBuilder().setPolicyId(policy).build());
  }

  @Test
  void twoReplicasConvergeThroughTheRolloutTopicAndALateReplicaCatchesUp() throws Exception {
    String policy = "converge";
    try (ServingNode a = replica("a", policy); ServingNode b = replica("b", policy)) {
      ManagedChannel ca = channel(a), cb = channel(b);
      try {
        publisher.publishUpdate(writeVersion(policy, 1, 0.7)).get(10, TimeUnit.SECONDS);
        publisher.publishUpdate(writeVersion(policy, 2, 0.8)).get(10, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(30)).until(() -> status(ca, policy).getServingVersion() == 2
            && status(cb, policy).getServingVersion() == 2);

        // An operator rolls back on replica A; replica B follows through prefstream.rollout.
        StatusResponse back = admin(ca).rollback(RollbackRequest.newBuilder().setPolicyId(policy).setVersion(1)
            .setReason("test").build());
        assertThat(back.getMode()).isEqualTo("MANUAL");
        await().atMost(Duration.ofSeconds(30)).until(() -> status(cb, policy).getServingVersion() == 1);
        admin(cb).setCanary(SetCanaryRequest.newBuilder().setPolicyId(policy).setVersion(2).setPercent(20).build());
        await().atMost(Duration.ofSeconds(30)).until(() -> status(ca, policy).getCanaryServingVersion() == 2);
        // MANUAL now: a new update is known but not promoted.
        publisher.publishUpdate(writeVersion(policy, 3, 0.95)).get(10, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(30)).until(() -> status(cb, policy).getServingVersion() == 1
            && GenerationGrpc.newBlockingStub(cb).generate(GenerateRequest.newBuilder().setPolicyId(policy).setPrompt("hi")
                .setSampling(SamplingParams.newBuilder().setMaxNewTokens(2)).build()).getPolicy().getVersion() == 1);

        try (ServingNode late = replica("late", policy)) {
          ManagedChannel cl = channel(late);
          try {
            await().atMost(Duration.ofSeconds(30)).until(() -> {
              StatusResponse s = status(cl, policy);
              return s.getServingVersion() == 1 && s.getCanaryServingVersion() == 2 && s.getMode().equals("MANUAL");
            });
          } finally {
            cl.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
          }
        }
        StatusResponse sa = status(ca, policy), sb = status(cb, policy);
        assertThat(sa.getStableVersion()).isEqualTo(sb.getStableVersion()).isEqualTo(1);
        assertThat(sa.getCanaryVersion()).isEqualTo(sb.getCanaryVersion()).isEqualTo(2);
        assertThat(sa.getCanaryPercent()).isEqualTo(sb.getCanaryPercent()).isEqualTo(20.0);

        // The compacted topic's last word for the policy is that state.
        RolloutState last = lastRolloutState(policy);
        assertThat(last.getStableVersion()).isEqualTo(1L);
        assertThat(last.getCanaryVersion()).isEqualTo(2L);
      } finally {
        ca.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        cb.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  static RolloutState lastRolloutState(String policy) {
    RolloutState last = null;
    for (ConsumerRecord<String, byte[]> r : readAll(Topics.ROLLOUT)) {
      if (policy.equals(r.key()) && r.value() != null) {
        last = AvroSerdes.singleObject(RolloutState.class).deserializer().deserialize(Topics.ROLLOUT, r.value());
      }
    }
    return last;
  }

  static List<ConsumerRecord<String, byte[]>> readAll(String topic) {
    Map<String, Object> c = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer())) {
      TopicPartition tp = new TopicPartition(topic, 0);
      List<TopicPartition> parts = consumer.partitionsFor(topic).stream()
          .map(p -> new TopicPartition(topic, p.partition())).toList();
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
      Map<TopicPartition, Long> end = consumer.endOffsets(parts);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (parts.stream().anyMatch(p -> consumer.position(p) < end.get(p)) && System.nanoTime() < deadline) {
        consumer.poll(Duration.ofMillis(200)).forEach(out::add);
      }
      assertThat(tp.topic()).isEqualTo(topic);
    }
    return out;
  }

  @Test
  void serveAndRolloutCommandsDriveAReplicaFeedbackReachesTheEventsTopicAndPinsReachTheLearner() throws Exception {
    String policy = "cli";
    StringWriter serveOut = new StringWriter();
    CommandLine serve = Main.commandLine();
    serve.setOut(new PrintWriter(serveOut, true));
    Thread t = new Thread(() -> Main.run(new String[] {"serve", "--model", model.toString(), "--checkpoints",
        store.root().toString(), "--bootstrap-servers", kafka.bootstrapServers(), "--host", "127.0.0.1", "--port", "0",
        "--policy", policy, "--mode", "MANUAL", "--metrics-port", "0", "--replica-id", "cli"},
        Map.of("PREFSTREAM_ADMIN_TOKEN", TOKEN), serve), "serve-under-test");
    t.start();
    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> serveOut.toString().contains("serving policy"));
      Matcher m = Pattern.compile("on 127\\.0\\.0\\.1:(\\d+).*metrics (http://\\S+)").matcher(serveOut.toString());
      assertThat(m.find()).as(serveOut.toString()).isTrue();
      String target = "127.0.0.1:" + m.group(1);
      publisher.publishUpdate(writeVersion(policy, 1, 0.6)).get(10, TimeUnit.SECONDS);

      assertThat(rollout("status", target)).contains("mode              MANUAL").contains("serving           v0");
      await().atMost(Duration.ofSeconds(30)).until(() -> rollout("versions", target).contains("v1"));
      assertThat(rollout("promote", target, "1", "--reason", "cli test")).contains("stable (desired)  v1");
      await().atMost(Duration.ofSeconds(30)).until(() -> rollout("status", target).contains("serving           v1"));
      assertThat(rollout("pin-reference", target, "1")).contains("pinned for the learner: v1");
      assertThat(rollout("mode", target, "auto")).contains("mode              AUTO");
      // A wrong token is refused with exit code 1.
      StringWriter err = new StringWriter();
      CommandLine cli = Main.commandLine();
      cli.setErr(new PrintWriter(err, true));
      assertThat(Main.run(new String[] {"rollout", "status", "--target", target, "--policy", policy, "--admin-token", "nope"},
          Map.of(), cli)).isEqualTo(1);
      assertThat(err.toString()).contains("UNAUTHENTICATED");

      ManagedChannel ch = NettyChannelBuilder.forTarget(target).usePlaintext().build();
      try {
        GenerateResponse g = GenerationGrpc.newBlockingStub(ch).generate(GenerateRequest.newBuilder().setPolicyId(policy)
            .setPrompt("Hello").setSampling(SamplingParams.newBuilder().setMaxNewTokens(3)).build());
        assertThat(g.getPolicy().getVersion()).isEqualTo(1);
        String id = FeedbackGrpc.newBlockingStub(ch).submit(SubmitFeedbackRequest.newBuilder().setPolicyId(policy)
            .setPrompt("Hello").setPolicyVersion(g.getPolicy().getVersion()).setResponseId(g.getResponseId())
            .setThumb(ThumbFeedback.newBuilder().setResponse(g.getText()).setUp(true)).build()).getEventId();
        PreferenceEventDeserializer events = new PreferenceEventDeserializer();
        await().atMost(Duration.ofSeconds(20)).until(() -> readAll(Topics.EVENTS).stream()
            .anyMatch(r -> r.key().equals(EventKeys.key(policy, "Hello"))
                && id.equals(events.deserialize(Topics.EVENTS, r.value()).getEventId())));
        PreferenceEvent e = readAll(Topics.EVENTS).stream().map(r -> events.deserialize(Topics.EVENTS, r.value()))
            .filter(ev -> ev.getEventId().equals(id)).findFirst().orElseThrow();
        assertThat(e.getAttributes()).containsEntry("response_id", g.getResponseId());
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
      List<ControlCommand> control = readAll(Topics.CONTROL).stream()
          .map(r -> AvroSerdes.singleObject(ControlCommand.class).deserializer().deserialize(Topics.CONTROL, r.value()))
          .filter(c -> c.getPolicyId().equals(policy)).toList();
      assertThat(control).singleElement().satisfies(c -> assertThat(c.getAction()).isEqualTo(new PinReference(1L)));

      String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(m.group(2))).build(),
          HttpResponse.BodyHandlers.ofString()).body();
      assertThat(metrics).contains("prefstream_serving_requests_total").contains("prefstream_serving_version")
          .contains("prefstream_serving_engine_prefix_cache_bytes").contains("prefstream_serving_engine_step_seconds_total")
          .contains("prefstream_serving_resident_bytes");
    } finally {
      t.interrupt();
      t.join(30_000);
    }
    assertThat(t.isAlive()).isFalse();
  }

  private static String rollout(String sub, String target, String... more) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    List<String> args = new ArrayList<>(List.of("rollout", sub, "--target", target, "--policy", "cli"));
    args.addAll(List.of(more));
    int code = Main.run(args.toArray(String[]::new), Map.of("PREFSTREAM_ADMIN_TOKEN", TOKEN), cli);
    assertThat(code).as(err.toString()).isZero();
    return out.toString();
  }
}
