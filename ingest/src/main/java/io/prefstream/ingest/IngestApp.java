package io.prefstream.ingest;

import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.ingest.metrics.IngestMetrics;
import io.prefstream.ingest.topology.IngestTopology;
import io.prefstream.schemas.registry.SchemaRegistryClient;
import io.prefstream.schemas.serde.DecodeException;
import io.prefstream.schemas.serde.DecodeFailure;
import io.prefstream.schemas.serde.PreferenceEventDecoder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Objects;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running ingest: the {@link IngestTopology} in a {@link KafkaStreams} instance, with its metrics
 * on the caller's Prometheus registry. {@link #start} returns once the instance is started (it then
 * rebalances and restores state in the background; {@link #awaitRunning} waits for that). A schema
 * registry outage replaces the stream thread, which retries the uncommitted records; any other
 * uncaught error shuts the instance down, and {@link #state()} says so. The input and output topics
 * must exist (the CLI creates them); internal topics are created by Kafka Streams.
 */
public final class IngestApp implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(IngestApp.class);
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

  private final IngestConfig config;
  private final IngestMetrics metrics;
  private final SchemaRegistryClient registry;
  private final KafkaStreams streams;

  private IngestApp(IngestConfig config, IngestMetrics metrics, SchemaRegistryClient registry, KafkaStreams streams) {
    this.config = config;
    this.metrics = metrics;
    this.registry = registry;
    this.streams = streams;
  }

  /** Builds the topology for {@code config}, registers metrics on {@code registry} and starts it. */
  public static IngestApp start(IngestConfig config, PrometheusRegistry registry) {
    Objects.requireNonNull(config, "config");
    IngestMetrics metrics = new IngestMetrics(Objects.requireNonNull(registry, "registry"));
    try {
      Files.createDirectories(config.stateDir());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the ingest state directory " + config.stateDir(), e);
    }
    SchemaRegistryClient schemaRegistry =
        config.schemaRegistryUrl() == null ? null : SchemaRegistryClient.create(config.schemaRegistryUrl());
    Topology topology = IngestTopology.build(config, metrics, new PreferenceEventDecoder(schemaRegistry));
    LOG.debug("ingest topology:\n{}", topology.describe());
    KafkaStreams streams = new KafkaStreams(topology, config.streamsProperties());
    streams.setUncaughtExceptionHandler(IngestApp::onUncaught);
    streams.setStateListener((now, before) -> LOG.info("ingest {} -> {}", before, now));
    streams.start();
    LOG.info("ingest {} started on {} (state in {}, exactly_once_v2, batch {} items / {} ms)",
        config.applicationId(), config.bootstrapServers(), config.stateDir(), config.batchSize(),
        config.batchMaxAge().toMillis());
    return new IngestApp(config, metrics, schemaRegistry, streams);
  }

  private static StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse onUncaught(Throwable e) {
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (c instanceof DecodeException d && d.reason() == DecodeFailure.REGISTRY_UNAVAILABLE) {
        // Not the data's fault: the transaction was aborted, a new thread re-reads the same records.
        LOG.warn("schema registry unavailable; replacing the stream thread to retry: {}", d.getMessage());
        return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
      }
    }
    LOG.error("ingest stopped by an unexpected error", e);
    return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
  }

  public IngestConfig config() {
    return config;
  }

  public IngestMetrics metrics() {
    return metrics;
  }

  public KafkaStreams.State state() {
    return streams.state();
  }

  /**
   * Waits until the instance is {@code RUNNING} (partitions assigned, state restored).
   *
   * @throws IllegalStateException when it stops instead or does not get there within {@code timeout}
   */
  public void awaitRunning(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (streams.state() != KafkaStreams.State.RUNNING) {
      KafkaStreams.State s = streams.state();
      if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.NOT_RUNNING
          || s == KafkaStreams.State.PENDING_SHUTDOWN || s == KafkaStreams.State.PENDING_ERROR) {
        throw new IllegalStateException("ingest " + config.applicationId() + " is " + s + " instead of RUNNING");
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("ingest " + config.applicationId() + " not RUNNING after " + timeout
            + " (state " + s + "); is " + config.bootstrapServers() + " reachable?");
      }
      Thread.sleep(20);
    }
  }

  /** Stops processing, commits, and releases the state directory and threads. */
  @Override
  public void close() {
    boolean clean = streams.close(CLOSE_TIMEOUT);
    if (!clean) LOG.warn("ingest {} did not stop within {}", config.applicationId(), CLOSE_TIMEOUT);
    if (registry != null) registry.close();
  }
}
