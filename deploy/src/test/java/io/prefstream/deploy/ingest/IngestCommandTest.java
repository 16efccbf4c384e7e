package io.prefstream.deploy.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.prefstream.deploy.cli.IngestCommand;
import io.prefstream.deploy.cli.Main;
import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.ingest.config.UnpairedPolicy;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.serde.Encoding;
import io.prefstream.schemas.serde.PreferenceEventSerializer;
import io.prefstream.schemas.topic.Topics;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code prefstream ingest} as a user meets it: every setting documented in its help, defaults that
 * match {@link IngestConfig}'s, flags/environment/file feeding the config record, and a run on the
 * embedded broker that turns published events into a batch and serves {@code /metrics}.
 */
class IngestCommandTest {
  private static IngestCommand parse(Map<String, String> env, String... args) {
    CommandLine cli = Main.commandLine();
    cli.setDefaultValueProvider(io.prefstream.deploy.cli.ConfigSources.from(args, env));
    CommandLine.ParseResult parsed = cli.parseArgs(args);
    return (IngestCommand) parsed.subcommand().commandSpec().userObject();
  }

  @Test
  void helpDocumentsEverySetting() {
    CommandLine cli = Main.commandLine();
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    assertThat(Main.run(new String[] {"ingest", "--help"}, Map.of(), cli)).isZero();
    assertThat(out.toString()).contains("--bootstrap-servers", "--embedded-port", "--embedded-data-dir",
        "--application-id", "--state-dir", "--schema-registry-url", "--max-prompt-chars", "--max-response-chars",
        "--future-skew", "--policy-id-pattern", "--dedup-retention", "--pairing-window", "--max-pairs-per-prompt",
        "--unpaired", "--eval-share", "--batch-size", "--batch-max-age", "--commit-interval", "--stream-threads",
        "--replication-factor", "--streams-property", "--metrics-port", "--metrics-host", "Default: 32", "Default: 2s");
  }

  @Test
  void theCommandsDefaultsAreTheConfigDefaults() {
    Path state = Path.of("s");
    IngestConfig fromCli = parse(Map.of(), "ingest").config("b:9092", state);
    assertThat(fromCli).isEqualTo(IngestConfig.builder("b:9092", state).build());
  }

  @Test
  void flagsBeatTheEnvironmentWhichBeatsTheFile(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("prefstream.properties");
    Files.writeString(file, "ingest.batch.size=5\nbatch.max.age=9s\nunpaired=DROP\n");
    Map<String, String> env = Map.of("PREFSTREAM_INGEST_BATCH_SIZE", "6", "PREFSTREAM_PAIRING_WINDOW", "10s");
    IngestConfig c = parse(env, "--config", file.toString(), "ingest", "--batch-size", "7", "--eval-share", "0.1",
        "--dedup-retention", "PT1H", "--streams-property", "producer.acks=all").config("b:9092", dir);
    assertThat(c.batchSize()).isEqualTo(7);
    assertThat(c.pairingWindow()).isEqualTo(Duration.ofSeconds(10));
    assertThat(c.batchMaxAge()).isEqualTo(Duration.ofSeconds(9));
    assertThat(c.unpairedPolicy()).isEqualTo(UnpairedPolicy.DROP);
    assertThat(c.evalShare()).isEqualTo(0.1);
    assertThat(c.dedupRetention()).isEqualTo(Duration.ofHours(1));
    assertThat(c.streamsProperties()).containsEntry("producer.acks", "all");
  }

  @Test
  void aBadDurationIsRefusedWithWhatWasExpected() {
    CommandLine cli = Main.commandLine();
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err, true));
    int code = Main.run(new String[] {"ingest", "--batch-max-age", "soon"}, Map.of(), cli);
    assertThat(code).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(err.toString()).contains("'soon' is not a duration", "500ms");
  }

  @Test
  void runsOnTheEmbeddedBrokerTurningEventsIntoABatchAndServesMetrics() throws Exception {
    CommandLine cli = Main.commandLine();
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    IngestCommand command = cli.getSubcommands().get("ingest").getCommand();
    CompletableFuture<Integer> run = CompletableFuture.supplyAsync(() -> Main.run(new String[] {
        "ingest", "--embedded-port", "0", "--metrics-port", "0", "--batch-max-age", "200ms"}, Map.of(), cli));
    try {
      // The command says where it is once running: "... at HOST:PORT, metrics http://…/metrics".
      Pattern running = Pattern.compile("ingest running: events from \\S+ at (\\S+), metrics (\\S+)");
      await().atMost(Duration.ofSeconds(90)).until(() -> running.matcher(out.toString()).find() || run.isDone());
      Matcher m = running.matcher(out.toString());
      assertThat(m.find()).as("output: %s", out).isTrue();
      String bootstrap = m.group(1);
      URI metrics = URI.create(m.group(2));

      PreferenceEventSerializer serializer = new PreferenceEventSerializer(Encoding.SINGLE_OBJECT);
      try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(
          Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap), new ByteArraySerializer(), new ByteArraySerializer())) {
        for (int i = 0; i < 3; i++) {
          PreferenceEvent e = PreferenceEvent.newBuilder().setEventId("cli-" + i).setTimestamp(Instant.now())
              .setPrompt("prompt " + i).setFeedback(new Comparison("yes " + i, "no " + i)).build();
          producer.send(new ProducerRecord<>(Topics.EVENTS, serializer.serialize(Topics.EVENTS, e)));
        }
      }
      try (Outputs outputs = new Outputs(bootstrap)) {
        await().atMost(Duration.ofSeconds(60))
            .until(() -> outputs.poll().containsAll(Set.of("cli-0", "cli-1", "cli-2")));
        assertThat(outputs.batches).extracting(MicroBatch::getPolicyId).containsOnly("default");
      }

      HttpClient http = HttpClient.newHttpClient();
      String body = http.send(HttpRequest.newBuilder(metrics).build(), HttpResponse.BodyHandlers.ofString()).body();
      assertThat(body).contains("prefstream_ingest_events_in_total 3.0", "prefstream_ingest_pairs_total",
          "prefstream_ingest_invalid_total{reason=\"TOO_LONG\"} 0.0", "prefstream_ingest_batch_fill_seconds_bucket");
    } finally {
      command.stop();
    }
    assertThat(run.get(60, TimeUnit.SECONDS)).isZero();
  }
}
