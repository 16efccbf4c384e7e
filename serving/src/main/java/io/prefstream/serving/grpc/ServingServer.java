package io.prefstream.serving.grpc;

import io.prefstream.serving.engine.BatchEngine;
import io.prefstream.serving.engine.EngineConfig;
import io.prefstream.serving.fluency.ServedFluency;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.prefstream.schemas.grpc.FeedbackGrpc;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.RolloutGrpc;
import io.prefstream.serving.feedback.FeedbackSink;
import io.prefstream.serving.feedback.RecentResponses;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.registry.PolicyRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gRPC server of one replica: Generation (with Chat), Feedback, Rollout (bearer token), gRPC health
 * ({@code grpc.health.v1}, SERVING once started, NOT_SERVING while shutting down) and server
 * reflection, over Netty (optionally TLS from PEM files) or in-process. Handlers run on a pool of
 * platform threads; requests are bounded by {@link ServingConfig#maxConcurrent}, and generation runs
 * through one {@link BatchEngine} (continuous batching) per server.
 *
 * <pre>{@code
 * PolicyRegistry registry = new PolicyRegistry(new VersionLoader(base, Optional.of(store)), feed, settings, metrics).start();
 * try (ServingServer server = ServingServer.start(ServingConfig.defaults(), registry, sink, metrics)) {
 *   server.awaitTermination();
 * }
 * }</pre>
 */
public final class ServingServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ServingServer.class);
  private final Server server;
  private final HealthStatusManager health;
  private final ExecutorService executor;
  private final BatchEngine engine;
  private final ServedFluency fluency;

  private ServingServer(Server server, HealthStatusManager health, ExecutorService executor, BatchEngine engine,
      ServedFluency fluency) {
    this.server = server;
    this.health = health;
    this.executor = executor;
    this.engine = engine;
    this.fluency = fluency;
  }

  private static List<ServerServiceDefinition> services(ServingConfig config, PolicyRegistry registry, FeedbackSink sink,
      ServingMetrics metrics, HealthStatusManager health, BatchEngine engine, ServedFluency fluency) {
    ConcurrencyLimiter limiter = new ConcurrencyLimiter(config.maxConcurrent(), metrics);
    RequestValidation validation = new RequestValidation(config, registry.base().config().maxPositions(),
        registry.settings().defaultPolicy(), registry.base().tokenizer());
    // Written by generation, read by feedback: responses feedback may name by id.
    RecentResponses recent = new RecentResponses(config.responseMemory());
    BindableService generation = new GenerationService(registry, config, limiter, metrics, recent, engine, fluency);
    BindableService feedback = new FeedbackService(sink, validation, config, metrics, recent);
    ServerServiceDefinition rollout = ServerInterceptors.intercept(new RolloutService(registry, validation, metrics),
        new BearerTokenInterceptor(config.adminToken()));
    return List.of(generation.bindService(), feedback.bindService(), rollout, health.getHealthService().bindService(),
        ProtoReflectionServiceV1.newInstance().bindService());
  }

  private static ExecutorService executor() {
    AtomicInteger n = new AtomicInteger();
    return Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "prefstream-grpc-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  /** Starts on Netty with the default engine settings ({@link EngineConfig#defaults()}). */
  public static ServingServer start(ServingConfig config, PolicyRegistry registry, FeedbackSink sink, ServingMetrics metrics)
      throws IOException {
    return start(config, EngineConfig.defaults(), registry, sink, metrics);
  }

  private static BatchEngine engine(EngineConfig engineConfig, PolicyRegistry registry, ServingMetrics metrics) {
    BatchEngine engine = new BatchEngine(engineConfig, registry.base().config(), registry.base().backend());
    metrics.watchEngine(new ServingMetrics.EngineGauges() {
      @Override
      public int running() {
        return engine.running();
      }

      @Override
      public int waiting() {
        return engine.waiting();
      }

      @Override
      public long reservedKvBytes() {
        return engine.reservedKvBytes();
      }

      @Override
      public long steps() {
        return engine.stats().steps();
      }

      @Override
      public long rowsStepped() {
        return engine.stats().rows();
      }

      @Override
      public long stalled() {
        return engine.stats().stalled();
      }

      @Override
      public long stepNanos() {
        return engine.stats().stepNanos();
      }

      @Override
      public long prefixHits() {
        return engine.stats().prefixHits();
      }

      @Override
      public long prefixTokensReused() {
        return engine.stats().prefixTokensReused();
      }

      @Override
      public long prefixCacheBytes() {
        return engine.prefixCacheBytes();
      }

      @Override
      public long kvCachesReused() {
        return engine.stats().kvCachesReused();
      }

      @Override
      public long spareKvBytes() {
        return engine.spareKvBytes();
      }
    });
    return engine;
  }

  /** Starts on Netty at {@code config.host():config.port()}, with TLS when cert and key are set. */
  public static ServingServer start(ServingConfig config, EngineConfig engineConfig, PolicyRegistry registry, FeedbackSink sink,
      ServingMetrics metrics) throws IOException {
    BatchEngine engine = engine(engineConfig, registry, metrics);
    ServedFluency fluency = new ServedFluency(registry, engine, metrics, config.fluencySampleRate());
    registry.watchServedNll(fluency);
    HealthStatusManager health = new HealthStatusManager();
    ExecutorService executor = executor();
    NettyServerBuilder b = NettyServerBuilder.forAddress(new InetSocketAddress(config.host(), config.port()))
        .executor(executor);
    if (config.tlsCert().isPresent()) {
      b.sslContext(GrpcSslContexts.forServer(config.tlsCert().get().toFile(), config.tlsKey().orElseThrow().toFile()).build());
    }
    for (ServerServiceDefinition s : services(config, registry, sink, metrics, health, engine, fluency)) b.addService(s);
    Server server = b.build().start();
    markServing(health);
    LOG.info("gRPC serving on {}:{}{} (max {} concurrent requests; engine: batch {}, KV cache {} MiB, queue {}, prefill chunk {};"
        + " Rollout API {})", config.host(), server.getPort(), config.tlsCert().isPresent() ? " with TLS" : "",
        config.maxConcurrent(), engineConfig.maxBatch(), engineConfig.kvCacheBytes() >> 20, engineConfig.queueBound(),
        engineConfig.prefillChunk(), config.adminToken().isPresent() ? "enabled" : "disabled: no admin token");
    return new ServingServer(server, health, executor, engine, fluency);
  }

  /** Starts an in-process server named {@code name} (for tests and embedding in one JVM). */
  public static ServingServer startInProcess(String name, ServingConfig config, PolicyRegistry registry, FeedbackSink sink,
      ServingMetrics metrics) throws IOException {
    return startInProcess(name, config, EngineConfig.defaults(), registry, sink, metrics);
  }

  /** An in-process server with the given engine settings. */
  public static ServingServer startInProcess(String name, ServingConfig config, EngineConfig engineConfig, PolicyRegistry registry,
      FeedbackSink sink, ServingMetrics metrics) throws IOException {
    BatchEngine engine = engine(engineConfig, registry, metrics);
    ServedFluency fluency = new ServedFluency(registry, engine, metrics, config.fluencySampleRate());
    registry.watchServedNll(fluency);
    HealthStatusManager health = new HealthStatusManager();
    ExecutorService executor = executor();
    InProcessServerBuilder b = InProcessServerBuilder.forName(name).executor(executor);
    for (ServerServiceDefinition s : services(config, registry, sink, metrics, health, engine, fluency)) b.addService(s);
    Server server = b.build().start();
    markServing(health);
    return new ServingServer(server, health, executor, engine, fluency);
  }

  private static void markServing(HealthStatusManager health) {
    health.setStatus("", ServingStatus.SERVING);
    for (String s : List.of(GenerationGrpc.SERVICE_NAME, FeedbackGrpc.SERVICE_NAME, RolloutGrpc.SERVICE_NAME)) {
      health.setStatus(s, ServingStatus.SERVING);
    }
  }

  /** The batching engine every generation request runs through. */
  public BatchEngine engine() {
    return engine;
  }

  /** The served-reply fluency sampler (the reference NLL of a share of served replies). */
  public ServedFluency fluency() {
    return fluency;
  }

  /** The port bound (-1 in-process). */
  public int port() {
    return server.getPort();
  }

  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }

  /** Reports NOT_SERVING, lets running calls finish for up to 10 s, then stops. */
  @Override
  public void close() {
    health.enterTerminalState();
    server.shutdown();
    try {
      if (!server.awaitTermination(10, TimeUnit.SECONDS)) server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
    executor.shutdownNow();
    fluency.close();
    engine.close();
  }
}
