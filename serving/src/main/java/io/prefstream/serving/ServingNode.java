package io.prefstream.serving;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.checkpoint.DirectoryVersionStore;
import io.prefstream.model.checkpoint.VersionStore;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.serving.engine.EngineConfig;
import io.prefstream.serving.feedback.FeedbackSink;
import io.prefstream.serving.feedback.KafkaFeedbackSink;
import io.prefstream.serving.grpc.ServingConfig;
import io.prefstream.serving.grpc.ServingServer;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.registry.BaseModel;
import io.prefstream.serving.registry.PolicyRegistry;
import io.prefstream.serving.registry.RegistrySettings;
import io.prefstream.serving.registry.VersionLoader;
import io.prefstream.serving.rollout.KafkaRolloutFeed;
import io.prefstream.serving.rollout.RolloutFeed;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.apache.kafka.clients.producer.ProducerConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One serving replica wired together: the base model, the {@link PolicyRegistry} following a
 * {@link RolloutFeed}, a {@link FeedbackSink} and the gRPC {@link ServingServer}. Closing it stops
 * them in reverse order. {@link #startWithKafka} is what {@code prefstream serve} and the demo use.
 *
 * <pre>{@code
 * try (ServingNode node = ServingNode.startWithKafka("localhost:9092", Path.of("models/tiny"),
 *     Optional.of(Path.of("checkpoints")), ServingConfig.defaults().withAdminToken("t"),
 *     RegistrySettings.defaults("replica-1"), new PrometheusRegistry())) {
 *   int port = node.port(); // clients: ManagedChannelBuilder.forAddress("localhost", port).usePlaintext()
 * }
 * }</pre>
 */
public final class ServingNode implements AutoCloseable {
  private final RolloutFeed feed;
  private final FeedbackSink sink;
  private final ServingMetrics metrics;
  private final PolicyRegistry registry;
  private final ServingServer server;
  private final List<VersionStore> stores;

  private ServingNode(RolloutFeed feed, FeedbackSink sink, ServingMetrics metrics, PolicyRegistry registry,
      ServingServer server, List<VersionStore> stores) {
    this.stores = List.copyOf(stores);
    this.feed = feed;
    this.sink = sink;
    this.metrics = metrics;
    this.registry = registry;
    this.server = server;
  }

  /** {@link #start(Path, Optional, ServingConfig, RegistrySettings, RolloutFeed, FeedbackSink, PrometheusRegistry, Optional, Backend)} on the CPU backend. */
  public static ServingNode start(Path modelDir, Optional<Path> checkpointRoot, ServingConfig config,
      RegistrySettings settings, RolloutFeed feed, FeedbackSink sink, PrometheusRegistry prometheus,
      Optional<String> inProcessName) throws IOException {
    return start(modelDir, checkpointRoot, config, settings, feed, sink, prometheus, inProcessName, new CpuBackend());
  }

  /**
   * Loads the base model from {@code modelDir} onto {@code backend}, follows {@code feed}, publishes
   * feedback to {@code sink} and serves on Netty ({@code inProcessName} empty) or in-process.
   * The node owns and closes {@code feed} and {@code sink}.
   */
  public static ServingNode start(Path modelDir, Optional<Path> checkpointRoot, ServingConfig config,
      RegistrySettings settings, RolloutFeed feed, FeedbackSink sink, PrometheusRegistry prometheus,
      Optional<String> inProcessName, Backend backend) throws IOException {
    return start(modelDir, List.of(new DirectoryVersionStore(checkpointRoot)), config, EngineConfig.defaults(), settings, feed,
        sink, prometheus, inProcessName, backend);
  }

  /**
   * As {@link #start(Path, Optional, ServingConfig, RegistrySettings, RolloutFeed, FeedbackSink,
   * PrometheusRegistry, Optional, Backend)}, loading versions through {@code stores} (the first
   * that reads a checkpoint URI's scheme opens it) and generating through a batching engine with
   * {@code engineConfig}; the node closes the stores too.
   */
  public static ServingNode start(Path modelDir, List<VersionStore> stores, ServingConfig config, EngineConfig engineConfig,
      RegistrySettings settings, RolloutFeed feed, FeedbackSink sink, PrometheusRegistry prometheus,
      Optional<String> inProcessName, Backend backend) throws IOException {
    ServingMetrics metrics = new ServingMetrics(prometheus);
    BaseModel base = BaseModel.load(modelDir, backend);
    PolicyRegistry registry = new PolicyRegistry(new VersionLoader(base, stores), feed, settings, metrics);
    try {
      registry.start();
      ServingServer server = inProcessName.isPresent()
          ? ServingServer.startInProcess(inProcessName.get(), config, engineConfig, registry, sink, metrics)
          : ServingServer.start(config, engineConfig, registry, sink, metrics);
      return new ServingNode(feed, sink, metrics, registry, server, stores);
    } catch (IOException | RuntimeException e) {
      registry.close();
      feed.close();
      sink.close();
      stores.forEach(VersionStore::close);
      throw e;
    }
  }

  /** A replica on Kafka, on the CPU backend. */
  public static ServingNode startWithKafka(String bootstrapServers, Path modelDir, Optional<Path> checkpointRoot,
      ServingConfig config, RegistrySettings settings, PrometheusRegistry prometheus) throws IOException {
    return startWithKafka(bootstrapServers, modelDir, checkpointRoot, config, settings, prometheus, new CpuBackend());
  }

  /** A replica on Kafka: prefstream.policy-updates and prefstream.rollout in, prefstream.events out. */
  public static ServingNode startWithKafka(String bootstrapServers, Path modelDir, Optional<Path> checkpointRoot,
      ServingConfig config, RegistrySettings settings, PrometheusRegistry prometheus, Backend backend)
      throws IOException {
    return startWithKafka(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers), modelDir,
        List.of(new DirectoryVersionStore(checkpointRoot)), config, EngineConfig.defaults(), settings, prometheus, backend);
  }

  /**
   * A replica on Kafka whose clients all get {@code clientConfig} ({@code bootstrap.servers} and any
   * security settings), loading versions through {@code stores}, generating with {@code engineConfig}.
   */
  public static ServingNode startWithKafka(Map<String, Object> clientConfig, Path modelDir, List<VersionStore> stores,
      ServingConfig config, EngineConfig engineConfig, RegistrySettings settings, PrometheusRegistry prometheus, Backend backend)
      throws IOException {
    KafkaRolloutFeed feed = new KafkaRolloutFeed(clientConfig, "prefstream-serving-" + settings.replicaId());
    KafkaFeedbackSink sink;
    try {
      Map<String, Object> overrides = new java.util.HashMap<>(clientConfig);
      overrides.remove(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG);
      sink = new KafkaFeedbackSink(String.valueOf(clientConfig.get(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG)), overrides);
    } catch (RuntimeException e) {
      feed.close();
      throw e;
    }
    return start(modelDir, stores, config, engineConfig, settings, feed, sink, prometheus, Optional.empty(), backend);
  }

  public PolicyRegistry registry() {
    return registry;
  }

  public ServingServer server() {
    return server;
  }

  public ServingMetrics metrics() {
    return metrics;
  }

  /** The bound port (-1 in-process). */
  public int port() {
    return server.port();
  }

  @Override
  public void close() {
    server.close();
    registry.close();
    feed.close();
    sink.close();
    stores.forEach(VersionStore::close);
  }
}
