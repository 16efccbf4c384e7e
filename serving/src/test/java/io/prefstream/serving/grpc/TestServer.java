package io.prefstream.serving.grpc;

import io.prefstream.serving.engine.EngineConfig;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.serving.Fixture;
import io.prefstream.serving.feedback.InMemoryFeedbackSink;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.registry.PolicyRegistry;
import io.prefstream.serving.registry.RegistrySettings;
import io.prefstream.serving.registry.VersionLoader;
import io.prefstream.serving.rollout.InMemoryRolloutFeed;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/** A registry, an in-memory feed and sink, and a server (in-process or Netty) over them. */
final class TestServer implements AutoCloseable {
  static final String TOKEN = "s3cret-token";
  final InMemoryRolloutFeed feed = new InMemoryRolloutFeed();
  final InMemoryFeedbackSink sink = new InMemoryFeedbackSink();
  final ServingMetrics metrics = new ServingMetrics(new PrometheusRegistry());
  final PolicyRegistry registry;
  final ServingServer server;
  final ManagedChannel channel;

  TestServer(Fixture fx, ServingConfig config, RolloutMode mode, boolean netty) throws Exception {
    this(fx, config, EngineConfig.defaults(), mode, netty);
  }

  TestServer(Fixture fx, ServingConfig config, EngineConfig engineConfig, RolloutMode mode, boolean netty) throws Exception {
    registry = new PolicyRegistry(new VersionLoader(fx.base, Optional.of(fx.store.root())), feed,
        RegistrySettings.defaults("test").withDefaultMode(mode), metrics).start();
    if (netty) {
      server = ServingServer.start(config.withHost("127.0.0.1").withPort(0), engineConfig, registry, sink, metrics);
      channel = io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    } else {
      String name = "serving-" + UUID.randomUUID();
      server = ServingServer.startInProcess(name, config, engineConfig, registry, sink, metrics);
      channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    }
  }

  /** Publishes a trained version 1 of "default" (eval accuracy 0.8) and waits until AUTO serves it. */
  TestServer servingTrainedVersion(Fixture fx) throws Exception {
    feed.publishUpdate(fx.writeVersion("default", 1, 0.8));
    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(20))
        .until(() -> registry.status("default").servingVersion() == 1);
    return this;
  }

  static ServingConfig config() {
    return ServingConfig.defaults().withAdminToken(TOKEN).withLimits(2_000, 64, 8, 4);
  }

  static <S extends io.grpc.stub.AbstractStub<S>> S withToken(S stub, String token) {
    Metadata m = new Metadata();
    m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m));
  }

  @Override
  public void close() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.close();
    registry.close();
  }
}
