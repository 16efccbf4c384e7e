package io.prefstream.deploy.cli;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.model.checkpoint.DirectoryVersionStore;
import io.prefstream.model.checkpoint.VersionStore;
import io.prefstream.model.checkpoint.kafka.KafkaVersionStore;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.topic.Topics;
import io.prefstream.serving.ServingNode;
import io.prefstream.serving.feedback.RecentResponses;
import io.prefstream.serving.engine.EngineConfig;
import io.prefstream.serving.grpc.ServingConfig;
import io.prefstream.serving.registry.ByteSize;
import io.prefstream.serving.registry.RegistrySettings;
import io.prefstream.serving.rollout.PromotionGate;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream serve}: one serving replica ({@link ServingNode}) in the foreground. It follows
 * prefstream.policy-updates and prefstream.rollout, publishes feedback to prefstream.events, and
 * serves gRPC (Generation, Feedback, Rollout, health, reflection) and Prometheus metrics. Without
 * {@code --bootstrap-servers} it starts an embedded broker first. Prints one line once serving and
 * stops cleanly on Ctrl-C or SIGTERM.
 */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = "Serve a policy over gRPC (Generate, GenerateStream, Chat, ChatStream, Score, Feedback.Submit, Rollout admin),"
        + " hot-swapping each version the learner publishes as the rollout state says.")
public final class ServeCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(ServeCommand.class);

  @Spec CommandSpec spec;

  @Option(names = "--model", paramLabel = "DIR", required = true,
      description = "Hugging Face model directory of the base weights (config.json, model.safetensors, tokenizer.json);"
          + " e.g. what `prefstream init-model` writes.")
  Path model;

  @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto",
      description = "Compute backend: cuda (an NVIDIA GPU through the CUDA libraries), cpu, or auto (cuda when a GPU and"
          + " the libraries are found, else cpu; it says which at start). Default: ${DEFAULT-VALUE}.")
  String device;

  @Option(names = "--checkpoints", paramLabel = "DIR",
      description = "Root of the learner's checkpoint store; updates whose checkpoint lies elsewhere are refused."
          + " Default: accept any local checkpoint an update names.")
  Path checkpoints;

  @Option(names = "--checkpoint-cache", paramLabel = "DIR",
      description = "Where versions announced through the Kafka checkpoint store (kafka: URIs) are kept once"
          + " fetched and verified. Default: a new temporary directory.")
  Path checkpointCache;

  @Mixin KafkaClientOptions kafkaClient;

  @Option(names = "--host", paramLabel = "ADDR", defaultValue = "0.0.0.0",
      description = "Address gRPC listens on. Default: ${DEFAULT-VALUE}.")
  String host;

  @Option(names = "--port", paramLabel = "PORT", defaultValue = "" + ServingConfig.DEFAULT_PORT,
      description = "gRPC port; 0 picks a free one. Default: ${DEFAULT-VALUE}.")
  int port;

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT,...",
      description = "Kafka cluster to use. Default: none, so an embedded single-node broker is started.")
  String bootstrapServers;

  @Option(names = "--embedded-port", paramLabel = "PORT", defaultValue = "9092",
      description = "Client port of the embedded broker (without --bootstrap-servers); 0 picks a free one."
          + " Default: ${DEFAULT-VALUE}.")
  int embeddedPort;

  @Option(names = "--embedded-data-dir", paramLabel = "DIR",
      description = "Data directory of the embedded broker. Default: a temporary directory deleted on exit.")
  Path embeddedDataDir;

  @Option(names = "--policy", paramLabel = "ID", defaultValue = "default",
      description = "Policy served by requests that name none (by the base weights until a version arrives)."
          + " Default: ${DEFAULT-VALUE}.")
  String policy;

  @Option(names = "--policies", paramLabel = "ID", split = ",",
      description = "Serve only these policies (comma-separated; must include --policy); requests for others get"
          + " NOT_FOUND and their updates are not loaded. Default: every policy that appears on the topics.")
  List<String> policies = List.of();

  @Option(names = "--resident-budget", paramLabel = "SIZE", defaultValue = "0",
      description = "Memory for policy version copies beyond the base weights (adapters, full-weight versions, reference"
          + " snapshots), e.g. 2GiB. With a budget each policy is loaded on its first request and the least recently"
          + " used policies' copies are evicted when it is exceeded (their rollout state stays; their next request loads"
          + " them again). 0: no budget, every served policy is loaded as its updates arrive. Default: ${DEFAULT-VALUE}.")
  String residentBudget;

  @Option(names = "--mode", paramLabel = "AUTO|MANUAL", defaultValue = "AUTO",
      description = "Rollout mode of a policy whose desired state was never written: AUTO promotes each update"
          + " that passes the gate, MANUAL waits for `prefstream rollout promote`. Default: ${DEFAULT-VALUE}.")
  RolloutMode mode;

  @Option(names = "--gate-margin", paramLabel = "FRACTION", defaultValue = "0.05",
      description = "AUTO promotes an update whose eval/rewards/accuracies is at least the stable version's minus"
          + " this. Default: ${DEFAULT-VALUE}.")
  double gateMargin;

  @Option(names = "--fluency-margin", paramLabel = "FRACTION", defaultValue = "0",
      description = "AUTO also holds updates while the stable version's served replies cost the reference model"
          + " more than this fraction above the base model's own replies (NLL per token, measured on this replica"
          + " from --fluency-sample-rate, with 95%% confidence given how many replies were scored; 0.1 = 10%%);"
          + " 0 = off. Default: ${DEFAULT-VALUE}.")
  double fluencyMargin;

  @Option(names = "--replica-id", paramLabel = "ID",
      description = "Names this replica in the rollout states it writes and in its Kafka client ids."
          + " Default: the host name and gRPC port.")
  String replicaId;

  @Option(names = "--admin-token", paramLabel = "TOKEN",
      description = "Bearer token the Rollout API requires (env PREFSTREAM_ADMIN_TOKEN). Default: none, and the"
          + " Rollout API refuses every call.")
  String adminToken;

  @Option(names = "--tls-cert", paramLabel = "PEM", description = "Certificate chain (PEM); with --tls-key, gRPC is TLS only.")
  Path tlsCert;

  @Option(names = "--tls-key", paramLabel = "PEM", description = "Private key (PEM, PKCS#8) for --tls-cert.")
  Path tlsKey;

  @Option(names = "--max-concurrent", paramLabel = "N", defaultValue = "80",
      description = "Generation and scoring requests the server takes at once (running in the engine's batch or"
          + " waiting in its queue); more are refused with RESOURCE_EXHAUSTED. Keep it >= --max-batch + --queue-bound."
          + " Default: ${DEFAULT-VALUE}.")
  int maxConcurrent;

  @Option(names = "--max-batch", paramLabel = "N", defaultValue = "" + EngineConfig.DEFAULT_MAX_BATCH,
      description = "Sequences the batching engine steps together (one pass over the weights per step for all of them);"
          + " more wait in the queue. Default: ${DEFAULT-VALUE}.")
  int maxBatch;

  @Option(names = "--kv-cache-mib", paramLabel = "MIB", defaultValue = "" + (EngineConfig.DEFAULT_KV_CACHE_BYTES >> 20),
      description = "Memory the running sequences' KV caches may take together; a request reserves prompt + max new"
          + " tokens (rounded up to 64 positions) when admitted, and waits while that does not fit. Default: ${DEFAULT-VALUE}.")
  long kvCacheMib;

  @Option(names = "--prefix-cache-mib", paramLabel = "MIB", defaultValue = "" + (EngineConfig.DEFAULT_PREFIX_CACHE_BYTES >> 20),
      description = "Memory for finished requests' KV caches, kept so a request that starts with the same tokens (a shared"
          + " system prompt or template, the next turn of a chat) skips prefilling them; on top of --kv-cache-mib;"
          + " 0 turns prefix caching off. Default: ${DEFAULT-VALUE}.")
  long prefixCacheMib;

  @Option(names = "--queue-bound", paramLabel = "N", defaultValue = "" + EngineConfig.DEFAULT_QUEUE_BOUND,
      description = "Requests that may wait for a batch place or KV memory; beyond it RESOURCE_EXHAUSTED with a"
          + " retry-after-ms trailer. Default: ${DEFAULT-VALUE}.")
  int queueBound;

  @Option(names = "--prefill-chunk", paramLabel = "TOKENS", defaultValue = "" + EngineConfig.DEFAULT_PREFILL_CHUNK,
      description = "Prompt tokens prefilled per engine step across all new requests, so a long prompt is fed over"
          + " several steps instead of stalling running sequences. Default: ${DEFAULT-VALUE}.")
  int prefillChunk;

  @Option(names = "--stream-stall-timeout", paramLabel = "DURATION", defaultValue = "30s",
      converter = IngestCommand.DurationConverter.class,
      description = "A streaming call whose reader leaves 16 tokens unread is paused (it never slows the batch);"
          + " paused longer than this, it ends with RESOURCE_EXHAUSTED and frees its place. Default: ${DEFAULT-VALUE}.")
  Duration streamStallTimeout;

  @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "512",
      description = "Largest sampling.max_new_tokens accepted. Default: ${DEFAULT-VALUE}.")
  int maxNewTokens;

  @Option(names = "--default-max-new-tokens", paramLabel = "N", defaultValue = "64",
      description = "Tokens generated when a request asks for 0. Default: ${DEFAULT-VALUE}.")
  int defaultMaxNewTokens;

  @Option(names = "--max-prompt-chars", paramLabel = "N", defaultValue = "16384",
      description = "Longest prompt (and scored response) in characters; the model's context also applies."
          + " Default: ${DEFAULT-VALUE}.")
  int maxPromptChars;

  @Option(names = "--fluency-sample-rate", paramLabel = "FRACTION", defaultValue = "0.05",
      description = "Share of served replies scored under their pinned reference in the background, for the"
          + " fluency metrics (prefstream_serving_served_reply_ref_*: the reference NLL per token of what is"
          + " served); 0 turns it off. Default: ${DEFAULT-VALUE}.")
  double fluencySampleRate;

  @Option(names = "--max-score-responses", paramLabel = "N", defaultValue = "16",
      description = "Most responses one Score call ranks. Default: ${DEFAULT-VALUE}.")
  int maxScoreResponses;

  @Option(names = "--beta", paramLabel = "BETA", defaultValue = "0.1",
      description = "β of the implicit reward β·(log π − log π_ref) when a Score request gives none; use the"
          + " learner's. Default: ${DEFAULT-VALUE}.")
  double beta;

  @Option(names = "--response-memory", paramLabel = "N", defaultValue = "10000",
      description = "Recent responses feedback may name by response id instead of sending texts; 0 turns that off."
          + " Default: ${DEFAULT-VALUE}.")
  int responseMemory;

  @Option(names = "--response-memory-chars", paramLabel = "N", defaultValue = "33554432",
      description = "Characters (prompts, conversations, replies) those responses may hold together; the oldest go"
          + " first. Default: ${DEFAULT-VALUE} (32 Mi).")
  long responseMemoryChars;

  @Option(names = "--response-ttl", paramLabel = "DURATION", defaultValue = "1h",
      converter = IngestCommand.DurationConverter.class,
      description = "How long after generation a response can be named by id (500ms, 30s, 5m, 1h, 1d or ISO-8601)."
          + " Default: ${DEFAULT-VALUE}.")
  Duration responseTtl;

  @Option(names = "--metrics-port", paramLabel = "PORT", defaultValue = "9401",
      description = "Port serving Prometheus metrics at /metrics; 0 picks a free one, -1 turns it off."
          + " Default: ${DEFAULT-VALUE}.")
  int metricsPort;

  @Option(names = "--metrics-host", paramLabel = "HOST", defaultValue = "127.0.0.1",
      description = "Address the metrics server listens on. Default: ${DEFAULT-VALUE}.")
  String metricsHost;

  private final CountDownLatch stop = new CountDownLatch(1);
  private volatile ServingNode node;

  /** Asks a running {@link #call()} to stop as Ctrl-C would (for tests that run it in a thread). */
  void stop() {
    stop.countDown();
  }

  /** The running replica, once started (for tests). */
  ServingNode node() {
    return node;
  }

  EngineConfig engineConfig() {
    try {
      return new EngineConfig(maxBatch, kvCacheMib << 20, queueBound, prefillChunk, streamStallTimeout, prefixCacheMib << 20);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  ServingConfig servingConfig() {
    try {
      return new ServingConfig(host, port, maxConcurrent, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses,
          beta, Optional.ofNullable(adminToken), Optional.ofNullable(tlsCert), Optional.ofNullable(tlsKey),
          new RecentResponses.Limits(responseMemory, responseMemoryChars, responseTtl), fluencySampleRate);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  @Override
  public Integer call() throws Exception {
    if (metricsPort < -1 || metricsPort > 65_535) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--metrics-port must be -1 (off), 0 (any free port) or 1..65535, got " + metricsPort);
    }
    ModelDirectory.require(spec.commandLine(), "--model", model);
    io.prefstream.model.backend.Backend backend = LoadedModel.chooseDevice(device, spec.commandLine());
    ServingConfig config = servingConfig();
    PromotionGate gate;
    try {
      gate = new PromotionGate(gateMargin, fluencyMargin);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--gate-margin / --fluency-margin: " + e.getMessage());
    }
    String replica = replicaId != null ? replicaId : hostName() + "-" + port;
    long residentBytes;
    try {
      residentBytes = ByteSize.parse(residentBudget);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--resident-budget: " + e.getMessage());
    }
    RegistrySettings settings;
    try {
      settings = new RegistrySettings(policy, mode, gate, replica, Duration.ofSeconds(10))
          .withServedPolicies(java.util.Set.copyOf(policies)).withResidentBytes(residentBytes);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--policies: " + e.getMessage());
    }
    List<AutoCloseable> resources = new ArrayList<>();
    Thread hook = new Thread(stop::countDown, "prefstream-serve-shutdown");
    try {
      String bootstrap = bootstrapServers;
      if (bootstrap == null || bootstrap.isBlank()) {
        EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.defaults()
            .withPort(embeddedPort).withDataDir(embeddedDataDir));
        resources.addFirst(kafka);
        kafka.ensureDefaultTopics();
        bootstrap = kafka.bootstrapServers();
      } else {
        Map<String, Object> admin = kafkaClient.clientConfig(bootstrap);
        EmbeddedKafka.ensureTopics(admin, Topics.all(EmbeddedKafka.clusterReplication(admin)));
      }
      PrometheusRegistry prometheus = new PrometheusRegistry();
      Map<String, Object> clientConfig = kafkaClient.clientConfig(bootstrap);
      Path cache = checkpointCache;
      if (cache == null) {
        Path temporary = Files.createTempDirectory("prefstream-checkpoint-cache-");
        resources.addFirst(() -> io.prefstream.deploy.io.FileTrees.delete(temporary)); // closed last, after the replica
        cache = temporary;
      }
      // file: URIs open in place (under --checkpoints when given); kafka: URIs are fetched into the cache.
      List<VersionStore> stores = new ArrayList<>(List.of(new DirectoryVersionStore(Optional.ofNullable(checkpoints))));
      try {
        stores.add(KafkaVersionStore.connect(clientConfig, Topics.CHECKPOINTS, cache));
      } catch (IllegalStateException e) {
        // A cluster without the checkpoints topic (or without access to it) still serves file: versions.
        LOG.warn("the Kafka checkpoint store is unavailable, so versions announced with kafka: URIs will be refused: {}",
            e.getMessage());
      }
      ServingNode n = ServingNode.startWithKafka(clientConfig, model, stores, config, engineConfig(), settings, prometheus,
          backend);
      resources.addFirst(n);
      node = n;
      String metricsAt = "off";
      if (metricsPort >= 0) {
        HTTPServer server = HTTPServer.builder().hostname(metricsHost).port(metricsPort).registry(prometheus).buildAndStart();
        resources.addFirst(server);
        metricsAt = "http://" + metricsHost + ":" + server.getPort() + "/metrics";
      }
      Runtime.getRuntime().addShutdownHook(hook);
      PrintWriter out = spec.commandLine().getOut();
      out.println("serving policy '" + policy + "'" + (policies.isEmpty() ? "" : " (of " + String.join(", ", policies) + ")")
          + " on " + host + ":" + n.port() + (config.tlsCert().isPresent() ? " (TLS)" : "")
          + ", Kafka " + bootstrap + ", metrics " + metricsAt);
      out.flush();
      stop.await();
      LOG.info("Stopping the server");
      return 0;
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // The JVM is exiting, which is why we are here.
      }
      node = null;
      Resources.closeAll(resources);
    }
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (java.io.IOException e) {
      return "replica";
    }
  }


}
