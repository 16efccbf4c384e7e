package io.prefstream.deploy.cli;

import io.prefstream.deploy.io.FileTrees;
import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.ingest.IngestApp;
import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.ingest.config.UnpairedPolicy;
import io.prefstream.schemas.topic.Topics;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.streams.KafkaStreams;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream ingest}: the Kafka Streams ingest ({@link IngestApp}) in the foreground. With
 * {@code --bootstrap-servers} it joins that cluster (creating the prefstream topics that are
 * missing); without, it starts an {@link EmbeddedKafka} broker first. Prometheus metrics are served
 * at {@code http://HOST:PORT/metrics}. It prints one line on stdout once running, saying where
 * events go and where the metrics are, and stops cleanly (committing) on Ctrl-C or SIGTERM. Exit
 * code 1 when the ingest stops by itself on an error.
 */
@Command(
    name = "ingest",
    mixinStandardHelpOptions = true,
    description = "Run the ingest: read prefstream.events (Confluent Avro, Avro single-object or JSON),"
        + " dead-letter bad events, de-duplicate, pair thumbs, hold out an eval share and publish"
        + " micro-batches to prefstream.batches and prefstream.eval, exactly once.",
    footer = {"", "Durations: 500ms, 2s, 5m, 24h, 7d or ISO-8601 (PT2S)."})
public final class IngestCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(IngestCommand.class);

  @Spec CommandSpec spec;

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT,...",
      description = "Kafka cluster to use. Default: none, so an embedded single-node broker is started.")
  String bootstrapServers;

  @Option(names = "--embedded-port", paramLabel = "PORT", defaultValue = "9092",
      description = "Client port of the embedded broker (without --bootstrap-servers); 0 picks a free one."
          + " Default: ${DEFAULT-VALUE}.")
  int embeddedPort;

  @Option(names = "--embedded-data-dir", paramLabel = "DIR",
      description = "Data directory of the embedded broker, kept across restarts. Default: a temporary"
          + " directory deleted on exit.")
  Path embeddedDataDir;

  @Option(names = "--application-id", paramLabel = "ID", defaultValue = IngestConfig.DEFAULT_APPLICATION_ID,
      description = "Kafka Streams application id (consumer group, transactional id and internal topic"
          + " prefix); a new id starts from scratch. Default: ${DEFAULT-VALUE}.")
  String applicationId;

  @Option(names = "--state-dir", paramLabel = "DIR",
      description = "Where the state stores live (rebuilt from their changelogs when lost). Default:"
          + " ./prefstream-state/ingest with --bootstrap-servers or --embedded-data-dir; otherwise a"
          + " temporary directory deleted on exit, like the broker's data.")
  Path stateDir;

  @Option(names = "--schema-registry-url", paramLabel = "URL",
      description = "Confluent-compatible schema registry, needed to read Confluent-framed Avro events."
          + " Default: none (such events are dead-lettered as UNKNOWN_SCHEMA).")
  String schemaRegistryUrl;

  @Option(names = "--max-prompt-chars", paramLabel = "N", defaultValue = "" + IngestConfig.DEFAULT_MAX_PROMPT_CHARS,
      description = "Longest accepted prompt in characters (code points); longer: TOO_LONG. Default: ${DEFAULT-VALUE}.")
  int maxPromptChars;

  @Option(names = "--max-response-chars", paramLabel = "N", defaultValue = "" + IngestConfig.DEFAULT_MAX_RESPONSE_CHARS,
      description = "Longest accepted response (thumb, chosen, rejected). Default: ${DEFAULT-VALUE}.")
  int maxResponseChars;

  @Option(names = "--future-skew", paramLabel = "DURATION", defaultValue = "5m", converter = DurationConverter.class,
      description = "How far in the future an event timestamp may lie (client clock skew); later:"
          + " FUTURE_TIMESTAMP. Default: ${DEFAULT-VALUE}.")
  Duration futureSkew;

  @Option(names = "--policy-id-pattern", paramLabel = "REGEX", defaultValue = IngestConfig.DEFAULT_POLICY_ID_PATTERN,
      description = "Regular expression a policy id must match entirely; otherwise BAD_POLICY_ID."
          + " Default: ${DEFAULT-VALUE}.")
  String policyIdPattern;

  @Option(names = "--dedup-retention", paramLabel = "DURATION", defaultValue = "24h", converter = DurationConverter.class,
      description = "How long an event id is remembered to drop re-sent copies (record time). Default: ${DEFAULT-VALUE}.")
  Duration dedupRetention;

  @Option(names = "--pairing-window", paramLabel = "DURATION", defaultValue = "30s", converter = DurationConverter.class,
      description = "How long a prompt's thumbs wait for opposite thumbs, from the first one (wall clock)."
          + " Default: ${DEFAULT-VALUE}.")
  Duration pairingWindow;

  @Option(names = "--max-pairs-per-prompt", paramLabel = "N", defaultValue = "" + IngestConfig.DEFAULT_MAX_PAIRS_PER_PROMPT,
      description = "Most UPxDOWN pairs made from one prompt's thumbs in one window. Default: ${DEFAULT-VALUE}.")
  int maxPairsPerPrompt;

  @Option(names = "--unpaired", paramLabel = "KTO|DROP", defaultValue = "KTO",
      description = "Thumbs unpaired when their window closes: KTO keeps them as unpaired examples,"
          + " DROP counts and drops them. Default: ${DEFAULT-VALUE}.")
  UnpairedPolicy unpaired;

  @Option(names = "--eval-share", paramLabel = "FRACTION", defaultValue = "" + IngestConfig.DEFAULT_EVAL_SHARE,
      description = "Share of pairs held out to prefstream.eval, by a hash of their texts. Default: ${DEFAULT-VALUE}.")
  double evalShare;

  @Option(names = "--batch-size", paramLabel = "N", defaultValue = "" + IngestConfig.DEFAULT_BATCH_SIZE,
      description = "Items (pairs + unpaired examples) that close a micro-batch. Default: ${DEFAULT-VALUE}.")
  int batchSize;

  @Option(names = "--batch-max-age", paramLabel = "DURATION", defaultValue = "2s", converter = DurationConverter.class,
      description = "A micro-batch not full is emitted when its oldest item is this old, counted from the"
          + " publication of the event that completed it. Default: ${DEFAULT-VALUE}.")
  Duration batchMaxAge;

  @Option(names = "--commit-interval", paramLabel = "DURATION", defaultValue = "100ms", converter = DurationConverter.class,
      description = "Kafka Streams commit interval: with exactly-once, the latency each hop adds. Default: ${DEFAULT-VALUE}.")
  Duration commitInterval;

  @Option(names = "--stream-threads", paramLabel = "N", defaultValue = "1",
      description = "Kafka Streams threads. Default: ${DEFAULT-VALUE}.")
  int streamThreads;

  @Option(names = "--replication-factor", paramLabel = "N", defaultValue = "-1",
      description = "Replication of internal topics (changelogs, repartitions) and of prefstream topics"
          + " this command creates; -1: the broker's default for internal topics and min(3, brokers) for"
          + " created topics. Default: ${DEFAULT-VALUE}.")
  int replicationFactor;

  @Mixin KafkaClientOptions kafkaClient;

  @Option(names = "--streams-property", paramLabel = "KEY=VALUE",
      description = "Extra Kafka Streams or client setting (repeatable), applied last, e.g."
          + " --streams-property producer.acks=all.")
  Map<String, String> streamsProperties = new LinkedHashMap<>();

  @Option(names = "--metrics-port", paramLabel = "PORT", defaultValue = "9400",
      description = "Port serving Prometheus metrics at /metrics; 0 picks a free one, -1 turns it off."
          + " Default: ${DEFAULT-VALUE}.")
  int metricsPort;

  @Option(names = "--metrics-host", paramLabel = "HOST", defaultValue = "127.0.0.1",
      description = "Address the metrics server listens on. Default: ${DEFAULT-VALUE}.")
  String metricsHost;

  private final CountDownLatch stop = new CountDownLatch(1);

  /** The ingest settings these options describe, for a given cluster and state directory. */
  public IngestConfig config(String bootstrap, Path state) {
    return IngestConfig.builder(bootstrap, state)
        .applicationId(applicationId)
        .schemaRegistryUrl(schemaRegistryUrl)
        .maxPromptChars(maxPromptChars)
        .maxResponseChars(maxResponseChars)
        .futureSkew(futureSkew)
        .policyIdPattern(policyIdPattern)
        .dedupRetention(dedupRetention)
        .pairingWindow(pairingWindow)
        .maxPairsPerPrompt(maxPairsPerPrompt)
        .unpairedPolicy(unpaired)
        .evalShare(evalShare)
        .batchSize(batchSize)
        .batchMaxAge(batchMaxAge)
        .commitInterval(commitInterval)
        .streamThreads(streamThreads)
        .replicationFactor(replicationFactor)
        .streamsOverrides(streamsOverrides())
        .build();
  }

  /**
   * The Kafka client settings (Streams hands unprefixed ones to all its clients), then the
   * --streams-property settings over them.
   */
  private Map<String, String> streamsOverrides() {
    Map<String, String> all = new LinkedHashMap<>(kafkaClient.settings());
    all.putAll(streamsProperties);
    return all;
  }

  /** Asks a running {@link #call()} to stop as Ctrl-C would (for tests that run it in a thread). */
  public void stop() {
    stop.countDown();
  }

  @Override
  public Integer call() throws Exception {
    if (metricsPort < -1 || metricsPort > 65_535) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--metrics-port must be -1 (off), 0 (any free port) or 1..65535, got " + metricsPort);
    }
    List<AutoCloseable> resources = new ArrayList<>();
    Thread hook = new Thread(() -> {
      LOG.info("Stopping the ingest (signal received)");
      stop.countDown();
    }, "prefstream-ingest-shutdown");
    try {
      String bootstrap = bootstrapServers;
      boolean ephemeral = false;
      if (bootstrap == null || bootstrap.isBlank()) {
        EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.defaults()
            .withPort(embeddedPort).withDataDir(embeddedDataDir));
        resources.addFirst(kafka);
        kafka.ensureDefaultTopics();
        bootstrap = kafka.bootstrapServers();
        ephemeral = embeddedDataDir == null;
      } else {
        EmbeddedKafka.ensureTopics(kafkaClient.clientConfig(bootstrap), Topics.all(topicReplication(bootstrap)));
      }
      Path state = stateDir;
      if (state == null && ephemeral) {
        // State that outlived its broker would point at offsets of a cluster that no longer exists.
        Path temporary = Files.createTempDirectory("prefstream-ingest-state-");
        resources.addFirst(() -> deleteRecursively(temporary));
        state = temporary;
      } else if (state == null) {
        state = Path.of("prefstream-state", "ingest");
      }
      IngestConfig config = config(bootstrap, state);
      PrometheusRegistry registry = new PrometheusRegistry();
      IngestApp app = IngestApp.start(config, registry);
      resources.addFirst(app);
      String metricsAt = "off";
      if (metricsPort >= 0) {
        HTTPServer server = HTTPServer.builder().hostname(metricsHost).port(metricsPort).registry(registry)
            .buildAndStart();
        resources.addFirst(server);
        metricsAt = "http://" + metricsHost + ":" + server.getPort() + "/metrics";
      }
      Runtime.getRuntime().addShutdownHook(hook);
      PrintWriter out = spec.commandLine().getOut();
      out.println("ingest running: events from " + Topics.EVENTS + " at " + bootstrap + ", metrics " + metricsAt);
      out.flush();
      // Wait for a signal, or for the ingest to stop by itself after an error.
      while (!stop.await(500, TimeUnit.MILLISECONDS)) {
        KafkaStreams.State s = app.state();
        if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.NOT_RUNNING) {
          spec.commandLine().getErr().println("prefstream ingest: stopped by an error (state " + s + "); see the log");
          return 1;
        }
      }
      return 0;
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // Already running the hook: the JVM is exiting, which is why we are here.
      }
      Resources.closeAll(resources);
    }
  }

  private short topicReplication(String bootstrap) {
    return replicationFactor > 0 ? (short) replicationFactor
        : EmbeddedKafka.clusterReplication(kafkaClient.clientConfig(bootstrap));
  }


  private static void deleteRecursively(Path dir) {
    try {
      FileTrees.delete(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete the temporary state directory " + dir, e);
    }
  }

  /** Reads {@code 500ms}, {@code 2s}, {@code 5m}, {@code 24h}, {@code 7d} or ISO-8601 ({@code PT2S}). */
  static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
    private static final Pattern SIMPLE = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)");

    @Override
    public Duration convert(String value) {
      String v = value.trim().toLowerCase(Locale.ROOT);
      Matcher m = SIMPLE.matcher(v);
      if (m.matches()) {
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
          case "ms" -> Duration.ofMillis(n);
          case "s" -> Duration.ofSeconds(n);
          case "m" -> Duration.ofMinutes(n);
          case "h" -> Duration.ofHours(n);
          default -> Duration.ofDays(n);
        };
      }
      try {
        return Duration.parse(value.trim());
      } catch (DateTimeParseException e) {
        throw new CommandLine.TypeConversionException("'" + value + "' is not a duration; expected e.g. 500ms, 2s,"
            + " 5m, 24h, 7d or PT2S");
      }
    }
  }
}
