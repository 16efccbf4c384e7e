package io.prefstream.serving.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.grpc.FeedbackGrpc;
import io.prefstream.schemas.grpc.GenerateChunk;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerateResponse;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.RolloutGrpc;
import io.prefstream.schemas.grpc.ScoreRequest;
import io.prefstream.schemas.grpc.StatusRequest;
import io.prefstream.schemas.grpc.SubmitFeedbackRequest;
import io.prefstream.schemas.grpc.ThumbFeedback;
import io.prefstream.serving.Fixture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The RPCs over real Netty on loopback, TLS, the concurrency limit and a server without an admin token. */
class NettyAndLimitsTest {
  @TempDir static Path root;
  static Fixture fx;

  @BeforeAll
  static void model() throws Exception {
    fx = new Fixture(root);
  }

  private static void assertCode(Runnable call, Status.Code code) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class,
        e -> assertThat(e.getStatus().getCode()).isEqualTo(code));
  }

  @Test
  void everyRpcShapeWorksOverNetty() throws Exception {
    try (TestServer ts = new TestServer(fx, TestServer.config(), RolloutMode.AUTO, true).servingTrainedVersion(fx)) {
      var gen = GenerationGrpc.newBlockingStub(ts.channel);
      GenerateResponse r = gen.generate(GrpcServicesTest.greedy("netty", 5));
      assertThat(r.getPolicy().getVersion()).isEqualTo(1);
      assertThat(r.getText()).isEqualTo(fx.greedy(1, "netty", 5));

      List<GenerateChunk> chunks = new ArrayList<>();
      gen.generateStream(GrpcServicesTest.greedy("netty", 5)).forEachRemaining(chunks::add);
      assertThat(chunks.stream().map(GenerateChunk::getText).reduce("", String::concat)).isEqualTo(r.getText());
      assertThat(chunks.getLast().getFinished()).isTrue();

      assertThat(gen.score(ScoreRequest.newBuilder().setPrompt("a").addResponses("b").build()).getScores(0).getTokens())
          .as("'b' and the EOS that ends a scored response")
          .isEqualTo(2);
      assertThat(FeedbackGrpc.newBlockingStub(ts.channel).submit(SubmitFeedbackRequest.newBuilder().setPrompt("a")
          .setResponseId(r.getResponseId()).setThumb(ThumbFeedback.newBuilder().setResponse(r.getText()).setUp(true)).build())
          .getEventId()).isNotEmpty();
      assertThat(TestServer.withToken(RolloutGrpc.newBlockingStub(ts.channel), TestServer.TOKEN)
          .status(StatusRequest.getDefaultInstance()).getServingVersion()).isEqualTo(1);
      assertCode(() -> RolloutGrpc.newBlockingStub(ts.channel).status(StatusRequest.getDefaultInstance()),
          Status.Code.UNAUTHENTICATED);
      assertCode(() -> gen.generate(GrpcServicesTest.greedy("", 5)), Status.Code.INVALID_ARGUMENT);
      assertThat(HealthGrpc.newBlockingStub(ts.channel).check(HealthCheckRequest.getDefaultInstance()).getStatus())
          .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
      assertThat(ts.metrics.requests.labelValues("Generate", "OK").get()).isEqualTo(1.0);
      assertThat(ts.metrics.requests.labelValues("Generate", "INVALID_ARGUMENT").get()).isEqualTo(1.0);
    }
  }

  @Test
  void tlsServerAnswersClientsThatTrustItsCertificate() throws Exception {
    Path dir = Files.createDirectories(root.resolve("tls"));
    Path cert = dir.resolve("cert.pem"), key = dir.resolve("key.pem");
    boolean made;
    try {
      Process p = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
          "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-keyout", key.toString(), "-out", cert.toString()).redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      made = p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (java.io.IOException e) {
      made = false;
    }
    Assumptions.assumeTrue(made, "openssl is not installed, so no self-signed certificate can be made");
    var ts = new TestServer(fx, TestServer.config().withTls(cert, key), RolloutMode.AUTO, true);
    ManagedChannel tls = NettyChannelBuilder.forAddress("localhost", ts.server.port())
        .sslContext(GrpcSslContexts.forClient().trustManager(cert.toFile()).build()).build();
    try {
      GenerateResponse r = GenerationGrpc.newBlockingStub(tls).generate(GrpcServicesTest.greedy("secure", 3));
      assertThat(r.getPolicy().getPolicyId()).isEqualTo("default");
      // The plaintext channel of TestServer cannot talk to a TLS server.
      assertCode(() -> GenerationGrpc.newBlockingStub(ts.channel).withDeadlineAfter(5, TimeUnit.SECONDS)
          .generate(GrpcServicesTest.greedy("plain", 3)), Status.Code.UNAVAILABLE);
    } finally {
      tls.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      ts.close();
    }
  }

  @Test
  void aFullServerAnswersResourceExhaustedAndRecoversWhenTheRunningCallEnds() throws Exception {
    try (TestServer ts = new TestServer(fx, TestServer.config().withMaxConcurrent(1), RolloutMode.AUTO, false)) {
      String prompt = GrpcServicesTest.longStreamPrompt(ts.channel);
      // A stream whose client reads one chunk and then stops holds the only permit.
      ClientCall<GenerateRequest, GenerateChunk> call = ts.channel.newCall(GenerationGrpc.getGenerateStreamMethod(),
          io.grpc.CallOptions.DEFAULT);
      BlockingQueue<GenerateChunk> first = new LinkedBlockingQueue<>();
      call.start(new ClientCall.Listener<>() {
        @Override
        public void onMessage(GenerateChunk message) {
          first.add(message);
        }
      }, new Metadata());
      call.request(1);
      call.sendMessage(GrpcServicesTest.greedy(prompt, 64));
      call.halfClose();
      assertThat(first.poll(10, TimeUnit.SECONDS)).isNotNull();

      var gen = GenerationGrpc.newBlockingStub(ts.channel);
      assertThatThrownBy(() -> gen.generate(GrpcServicesTest.greedy("hi", 2)))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(e.getStatus().getDescription()).contains("limit of 1 concurrent");
          });
      assertThat(ts.metrics.rejected.get()).isEqualTo(1.0);

      call.cancel("done", null);
      await().atMost(Duration.ofSeconds(10)).until(() -> ts.metrics.inFlight.get() == 0);
      assertThat(gen.generate(GrpcServicesTest.greedy("hi", 2)).getCompletionTokens()).isPositive();
    }
  }

  @Test
  void withoutAnAdminTokenTheRolloutApiIsClosed() throws Exception {
    try (TestServer ts = new TestServer(fx, TestServer.config().withAdminToken(null), RolloutMode.AUTO, false)) {
      var stub = TestServer.withToken(RolloutGrpc.newBlockingStub(ts.channel), "anything");
      assertThatThrownBy(() -> stub.status(StatusRequest.getDefaultInstance()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
            assertThat(e.getStatus().getDescription()).contains("no admin token");
          });
    }
  }
}
