package io.prefstream.deploy.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.grpc.RolloutGrpc;
import io.prefstream.schemas.grpc.StatusRequest;
import io.prefstream.schemas.serde.Encoding;
import io.prefstream.schemas.serde.PreferenceEventSerializer;
import io.prefstream.schemas.topic.Topics;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The pipeline against a broker that authenticates with SASL/PLAIN: {@code ingest}, {@code learn}
 * (publishing through the Kafka checkpoint store) and {@code serve} are given only the SASL
 * listener and the standard client settings — ingest and learn in a {@code --client-config} file,
 * serve as {@code --client-property} flags — and events produced with the same credentials become
 * a version the replica serves. A client with a wrong password is refused by the broker, so the
 * listener really authenticates.
 */
class SaslPipelineTest {
  private static final String POLICY = "sasl";
  private static final String TOKEN = "sasl-token";
  private static final String JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required"
      + " username=\"app\" password=\"app-secret\";";

  @TempDir Path dir;

  private static Map<String, Object> sasl(String bootstrap, String jaas) {
    Map<String, Object> c = new HashMap<>();
    c.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    c.put("security.protocol", "SASL_PLAINTEXT");
    c.put("sasl.mechanism", "PLAIN");
    c.put("sasl.jaas.config", jaas);
    return c;
  }

  @Test
  void ingestLearnAndServeRunOverSaslPlainWithTheClientSettingsTheyAreGiven() throws Exception {
    Path model = dir.resolve("model");
    ModelInit.writeRandomModel(model, ModelPresets.tiny(), 31, List.of(), DType.F32);
    Path clientConfig = dir.resolve("client.properties");
    Files.writeString(clientConfig, "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config="
        + JAAS + "\n");
    try (EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.defaults()
        .withSaslPlainUsers(Map.of("app", "app-secret")))) {
      String bootstrap = kafka.saslBootstrapServers();
      // The listener authenticates: a wrong password is refused.
      try (Admin wrong = Admin.create(sasl(bootstrap, JAAS.replace("app-secret", "nope")))) {
        assertThatThrownBy(() -> wrong.listTopics().names().get(30, TimeUnit.SECONDS))
            .isInstanceOf(ExecutionException.class).hasCauseInstanceOf(SaslAuthenticationException.class);
      }

      List<Thread> threads = new ArrayList<>();
      CommandLine ingest = Main.commandLine();
      CommandLine learn = Main.commandLine();
      CommandLine serve = Main.commandLine();
      StringWriter serveOut = new StringWriter();
      serve.setOut(new PrintWriter(serveOut, true));
      threads.add(run(ingest, Map.of(), "ingest", "--bootstrap-servers", bootstrap, "--client-config", clientConfig.toString(),
          "--application-id", "sasl-ingest", "--state-dir", dir.resolve("ingest-state").toString(), "--metrics-port", "-1",
          "--batch-size", "4", "--batch-max-age", "300ms", "--eval-share", "0.2"));
      threads.add(run(learn, Map.of(), "learn", "--bootstrap-servers", bootstrap, "--client-config", clientConfig.toString(),
          "--model", model.toString(), "--device", "cpu", "--checkpoints", dir.resolve("learner").toString(),
          "--policy-id", POLICY, "--checkpoint-every", "2", "--checkpoint-interval", "2s", "--metrics-port", "-1",
          "--max-length", "32", "--max-prompt-length", "12", "--checkpoint-store", "kafka"));
      threads.add(run(serve, Map.of("PREFSTREAM_ADMIN_TOKEN", TOKEN), "serve", "--bootstrap-servers", bootstrap,
          "--client-property", "security.protocol=SASL_PLAINTEXT", "--client-property", "sasl.mechanism=PLAIN",
          "--client-property", "sasl.jaas.config=" + JAAS,
          "--model", model.toString(), "--device", "cpu", "--host", "127.0.0.1", "--port", "0", "--policy", POLICY,
          "--mode", "AUTO", "--gate-margin", "1", "--metrics-port", "-1", "--replica-id", "sasl",
          "--checkpoint-cache", dir.resolve("replica-cache").toString()));
      ManagedChannel channel = null;
      try {
        await().atMost(Duration.ofSeconds(90)).until(() -> serveOut.toString().contains("serving policy"));
        Matcher m = Pattern.compile("on 127\\.0\\.0\\.1:(\\d+)").matcher(serveOut.toString());
        assertThat(m.find()).isTrue();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", Integer.parseInt(m.group(1))).usePlaintext().build();
        produce(sasl(bootstrap, JAAS), 60);
        ManagedChannel ch = channel;
        await().atMost(Duration.ofSeconds(120)).until(() -> servingVersion(ch) >= 1);
        // The replica loaded it from the Kafka checkpoint store, over SASL as well.
        try (var cached = Files.list(dir.resolve("replica-cache").resolve(POLICY))) {
          assertThat(cached.count()).isPositive();
        }
      } finally {
        if (channel != null) channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        ((IngestCommand) ingest.getSubcommands().get("ingest").getCommand()).stop();
        ((LearnCommand) learn.getSubcommands().get("learn").getCommand()).stop();
        ((ServeCommand) serve.getSubcommands().get("serve").getCommand()).stop();
        for (Thread t : threads) t.join(60_000);
      }
      assertThat(threads).noneMatch(Thread::isAlive);
    }
  }

  private static Thread run(CommandLine cli, Map<String, String> env, String... args) {
    return Thread.ofPlatform().name("cli-" + args[0]).start(() -> Main.run(args, env, cli));
  }

  private static long servingVersion(ManagedChannel channel) {
    Metadata m = new Metadata();
    m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + TOKEN);
    return RolloutGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m))
        .withDeadlineAfter(10, TimeUnit.SECONDS).status(StatusRequest.newBuilder().setPolicyId(POLICY).build())
        .getServingVersion();
  }

  private static void produce(Map<String, Object> config, int n) throws Exception {
    PreferenceEventSerializer avro = new PreferenceEventSerializer(Encoding.SINGLE_OBJECT);
    Map<String, Object> c = new HashMap<>(config);
    c.put(ProducerConfig.ACKS_CONFIG, "all");
    try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(c, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < n; i++) {
        PreferenceEvent e = PreferenceEvent.newBuilder().setEventId("s" + i).setPolicyId(POLICY).setTimestamp(Instant.now())
            .setPrompt("Q" + i + ":").setFeedback(new Comparison(" aei" + (i % 7), " xzq" + (i % 5)))
            .setAttributes(Map.of()).build();
        p.send(new ProducerRecord<>(Topics.EVENTS, POLICY + "/" + i, avro.serialize(Topics.EVENTS, e))).get();
      }
    }
  }
}
