package io.prefstream.serving.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.grpc.GenerateChunk;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.serving.Fixture;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sixteen streaming clients run while twenty versions are published and auto-promoted, all through
 * the batching engine at its full batch of sixteen, so old and new versions share steps. Each
 * version's adapter gives a different greedy continuation, so a response's text shows which
 * version produced it: it must be the one the response names, for every response, and equal what
 * that version decodes alone.
 */
class SwapUnderLoadTest {
  static final int CLIENTS = 16;
  static final int VERSIONS = 20;
  static final String PROMPT = "Swap";
  static final int NEW_TOKENS = 10;

  @TempDir Path root;

  @Test
  void sixteenStreamingClientsSeeNoFailureAndNoMixedVersionWhileTwentyVersionsRollOut() throws Exception {
    Fixture fx = new Fixture(root);
    List<PolicyUpdate> updates = new ArrayList<>();
    Map<Long, String> expected = new HashMap<>();
    expected.put(0L, fx.greedy(0, PROMPT, NEW_TOKENS));
    for (long v = 1; v <= VERSIONS; v++) {
      updates.add(fx.writeVersion("default", v, 0.5 + v / 100.0));
      expected.put(v, fx.greedy(v, PROMPT, NEW_TOKENS));
    }
    assertThat(new HashSet<>(expected.values())).as("every version decodes differently").hasSize(VERSIONS + 1);

    try (TestServer ts = new TestServer(fx, TestServer.config().withMaxConcurrent(CLIENTS), RolloutMode.AUTO, false)) {
      AtomicBoolean stop = new AtomicBoolean();
      AtomicInteger responses = new AtomicInteger();
      List<String> failures = new CopyOnWriteArrayList<>();
      Set<Long> seen = ConcurrentHashMap.newKeySet();
      ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
      GenerateRequest req = GrpcServicesTest.greedy(PROMPT, NEW_TOKENS);
      List<Future<?>> clients = new ArrayList<>();
      for (int c = 0; c < CLIENTS; c++) {
        String user = "user-" + c;
        clients.add(pool.submit(() -> {
          var stub = GenerationGrpc.newBlockingStub(ts.channel);
          while (!stop.get()) {
            try {
              List<GenerateChunk> chunks = new ArrayList<>();
              stub.generateStream(GenerateRequest.newBuilder(req).setUserId(user).build()).forEachRemaining(chunks::add);
              Set<Long> versions = new HashSet<>();
              for (GenerateChunk ch : chunks) versions.add(ch.getPolicy().getVersion());
              long v = chunks.getLast().getPolicy().getVersion();
              String text = chunks.stream().map(GenerateChunk::getText).reduce("", String::concat);
              if (versions.size() != 1) failures.add("chunks name versions " + versions);
              else if (!text.equals(expected.get(v))) failures.add("v" + v + " answered '" + text + "', its greedy text is '" + expected.get(v) + "'");
              seen.add(v);
              responses.incrementAndGet();
            } catch (RuntimeException e) {
              failures.add(e.toString());
            }
          }
        }));
      }
      await().atMost(Duration.ofSeconds(30)).until(() -> responses.get() >= CLIENTS);
      for (PolicyUpdate u : updates) {
        ts.feed.publishUpdate(u);
        int before = responses.get();
        await().atMost(Duration.ofSeconds(30)).until(() -> responses.get() >= before + 8);
      }
      await().atMost(Duration.ofSeconds(30)).until(() -> ts.registry.status("default").servingVersion() == VERSIONS);
      int atEnd = responses.get();
      await().atMost(Duration.ofSeconds(30)).until(() -> responses.get() >= atEnd + CLIENTS);
      stop.set(true);
      for (Future<?> f : clients) f.get();
      pool.shutdown();

      assertThat(failures).isEmpty();
      // The load was batched: steps carried many sequences at once (each on its own version's adapter).
      assertThat(ts.server.engine().stats().maxRowsPerStep()).isGreaterThanOrEqualTo(CLIENTS / 2);
      assertThat((double) ts.server.engine().stats().rows() / ts.server.engine().stats().steps()).isGreaterThan(2.0);
      assertThat(seen).contains(0L, (long) VERSIONS).hasSizeGreaterThan(2);
      // Every version that left the routing was released once its last stream ended.
      await().atMost(Duration.ofSeconds(10)).until(() -> ts.registry.residentVersions("default").equals(List.of((long) VERSIONS)));
      assertThat(ts.metrics.versionsRefused.labelValues("default").get()).isZero();
    }
  }
}
