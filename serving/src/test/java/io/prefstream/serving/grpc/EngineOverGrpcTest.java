package io.prefstream.serving.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.grpc.GenerateChunk;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.serving.Fixture;
import io.prefstream.serving.engine.EngineConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The batching engine's admission seen by a gRPC client: refusal with a retry hint, disconnects,
 * deadlines. In-process transport, because its flow control stops a server stream as soon as the
 * client stops reading (Netty's socket buffers would take a whole short stream), so a stalled reader
 * reliably holds its place in the engine.
 */
class EngineOverGrpcTest {
  @TempDir Path root;

  @Test
  void beyondTheQueueACallIsRefusedWithARetryHintAndADisconnectedStreamFreesItsPlaceAndCache() throws Exception {
    Fixture fx = new Fixture(root);
    // One place, no queue: a stream whose client stops reading keeps the place (its sequence is paused).
    try (TestServer ts = new TestServer(fx, TestServer.config(), new EngineConfig(1, 64L << 20, 0, 64), RolloutMode.AUTO, false)) {
      String prompt = GrpcServicesTest.longStreamPrompt(ts.channel);
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
      assertThat(ts.server.engine().running()).isEqualTo(1);
      assertThat(ts.server.engine().reservedKvBytes()).isPositive();

      var gen = GenerationGrpc.newBlockingStub(ts.channel);
      assertThatThrownBy(() -> gen.generate(GrpcServicesTest.greedy("hi", 2)))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(e.getStatus().getDescription()).contains("queue bound 0");
            String hint = Status.trailersFromThrowable(e).get(Metadata.Key.of("retry-after-ms", Metadata.ASCII_STRING_MARSHALLER));
            assertThat(Long.parseLong(hint)).isGreaterThanOrEqualTo(100);
          });

      call.cancel("client went away", null);
      await().atMost(Duration.ofSeconds(5))
          .until(() -> ts.server.engine().running() == 0 && ts.server.engine().reservedKvBytes() == 0);
      assertThat(gen.generate(GrpcServicesTest.greedy("hi", 2)).getCompletionTokens()).isPositive();
    }
  }

  @Test
  void aDeadlineEndsTheCallAndFreesTheSequence() throws Exception {
    Fixture fx = new Fixture(root);
    try (TestServer ts = new TestServer(fx, TestServer.config(), new EngineConfig(1, 64L << 20, 0, 64), RolloutMode.AUTO, false)) {
      String prompt = GrpcServicesTest.longStreamPrompt(ts.channel);
      var slow = GenerationGrpc.newBlockingStub(ts.channel).withDeadlineAfter(300, TimeUnit.MILLISECONDS);
      // A blocking stream iterator that is never read past its first chunk: the deadline ends it.
      var it = slow.generateStream(GrpcServicesTest.greedy(prompt, 64));
      it.next();
      await().atMost(Duration.ofSeconds(5))
          .until(() -> ts.server.engine().running() == 0 && ts.server.engine().reservedKvBytes() == 0);
      assertThatThrownBy(() -> {
        while (it.hasNext()) it.next();
      }).isInstanceOfSatisfying(StatusRuntimeException.class,
          e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
    }
  }
}
