package io.prefstream.serving.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.Generator;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.generate.TokenText;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.serving.Fixture;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BatchEngineTest {
  @TempDir Path root;

  private static LlamaModel version(Fixture fx, LlamaModel base, long v) {
    LlamaModel m = base.sibling();
    if (v > 0) m.attachLora(Fixture.LORA, fx.adapter(v).tensors());
    return m;
  }

  private static SamplingParams sampled(long seed, int max) {
    return new SamplingParams(0.9, 20, 0.95, seed, max, -1, List.of());
  }

  @Test
  void concurrentRequestsOnThreeVersionsGetExactlyWhatEachGetsAlone() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel base = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    LlamaModel[] versions = {version(fx, base, 0), version(fx, base, 1), version(fx, base, 2)};
    int n = 12;
    List<int[]> prompts = new ArrayList<>();
    List<SamplingParams> params = new ArrayList<>();
    List<GenerationResult> alone = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int[] p = new int[1 + (i * 7) % 23]; // 1..23 tokens: several prefill chunks of 4
      for (int j = 0; j < p.length; j++) p[j] = (i * 31 + j * 17) % fx.config().vocabSize();
      prompts.add(p);
      params.add(i % 2 == 0 ? SamplingParams.greedy(6 + i, -1) : sampled(100 + i, 6 + i));
      alone.add(new Generator(versions[i % 3]).generate(p, params.get(i), null, null));
    }
    try (BatchEngine engine = new BatchEngine(new EngineConfig(8, 64L << 20, 16, 4), fx.config(), fx.base.backend())) {
      ExecutorService pool = Executors.newFixedThreadPool(n);
      CountDownLatch go = new CountDownLatch(1);
      List<Future<GenerationResult>> got = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        int k = i;
        got.add(pool.submit(() -> {
          go.await();
          return engine.generate(versions[k % 3], prompts.get(k), params.get(k), null, null, () -> false);
        }));
      }
      go.countDown();
      for (int i = 0; i < n; i++) {
        GenerationResult r = got.get(i).get();
        assertThat(r.tokens()).as("request %d", i).containsExactly(alone.get(i).tokens());
        assertThat(r.finishReason()).isEqualTo(alone.get(i).finishReason());
      }
      pool.shutdown();
      assertThat(engine.stats().maxRowsPerStep()).as("steps carried several sequences").isGreaterThan(1);
      assertThat(engine.stats().maxRowsPerStep()).as("batch limit 8 plus a prefill chunk of 4").isLessThanOrEqualTo(8 + 4);
      await().atMost(Duration.ofSeconds(5)).until(() -> engine.running() == 0 && engine.reservedKvBytes() == 0);
    }
  }

  @Test
  void stopStringsAndEosEndLikeTheGenerator() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel m = version(fx, LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend()), 1);
    TokenText letters = TokenText.perToken(t -> String.valueOf((char) ('a' + t % 26)));
    int[] prompt = {3, 1, 4, 1, 5};
    GenerationResult free = new Generator(m).generate(prompt, SamplingParams.greedy(12, -1), letters, null);
    String stop = free.text().substring(3, 5);
    SamplingParams withStop = SamplingParams.greedy(12, -1).withStopStrings(List.of(stop));
    SamplingParams withEos = SamplingParams.greedy(12, free.tokens()[4]);
    try (BatchEngine engine = new BatchEngine(EngineConfig.defaults(), fx.config(), fx.base.backend())) {
      for (SamplingParams p : List.of(withStop, withEos)) {
        GenerationResult want = new Generator(m).generate(prompt, p, letters, null);
        GenerationResult got = engine.generate(m, prompt, p, letters, null, () -> false);
        assertThat(got.tokens()).containsExactly(want.tokens());
        assertThat(got.text()).isEqualTo(want.text());
        assertThat(got.finishReason()).isEqualTo(want.finishReason());
      }
      // Without stop strings or a listener the engine sends only the end (a quiet sequence): the same tokens, text and
      // end; with a listener every token reaches it as it is sampled.
      SamplingParams plain = SamplingParams.greedy(12, -1);
      GenerationResult quiet = engine.generate(m, prompt, plain, letters, null, () -> false);
      List<Integer> heard = new ArrayList<>();
      GenerationResult listened = engine.generate(m, prompt, plain, letters, heard::add, () -> false);
      for (GenerationResult got : List.of(quiet, listened)) {
        assertThat(got.tokens()).containsExactly(free.tokens());
        assertThat(got.text()).isEqualTo(free.text());
        assertThat(got.finishReason()).isEqualTo(free.finishReason());
      }
      assertThat(heard).containsExactly(java.util.Arrays.stream(free.tokens()).boxed().toArray(Integer[]::new));
    }
  }

  @Test
  void aFullEngineQueuesThenRefusesWithARetryHintAndAdmitsTheQueuedOneWhenAPlaceFrees() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel m = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    int[] prompt = {1, 2, 3};
    try (BatchEngine engine = new BatchEngine(new EngineConfig(1, 64L << 20, 1, 64), fx.config(), fx.base.backend())) {
      CountDownLatch firstToken = new CountDownLatch(1), release = new CountDownLatch(1);
      ExecutorService pool = Executors.newFixedThreadPool(2);
      // The first request holds the only place: its listener blocks until released (it keeps its sequence).
      Future<GenerationResult> first = pool.submit(() -> engine.generate(m, prompt, SamplingParams.greedy(40, -1), null, t -> {
        firstToken.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
      }, () -> false));
      firstToken.await();
      Future<GenerationResult> queued = pool.submit(() -> engine.generate(m, prompt, SamplingParams.greedy(4, -1), null, null,
          () -> false));
      await().atMost(Duration.ofSeconds(5)).until(() -> engine.waiting() == 1);
      assertThatThrownBy(() -> engine.generate(m, prompt, SamplingParams.greedy(4, -1), null, null, () -> false))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(Long.parseLong(e.getTrailers().get(Admission.RETRY_AFTER_MS))).isGreaterThanOrEqualTo(100);
          });
      release.countDown();
      assertThat(first.get().tokens()).hasSize(40);
      assertThat(queued.get().tokens()).containsExactly(java.util.Arrays.copyOf(first.get().tokens(), 4));
      pool.shutdown();
    }
  }

  @Test
  void theKvBudgetLimitsRunningSequencesAndARequestLargerThanTheBudgetIsRefused() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel m = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    try (BatchEngine probe = new BatchEngine(EngineConfig.defaults(), fx.config(), fx.base.backend())) {
      long one = probe.kvBytes(3 + 40);
      // Room for exactly one 64-position cache: a second sequence waits even though the batch limit is 8.
      try (BatchEngine engine = new BatchEngine(new EngineConfig(8, one, 4, 64), fx.config(), fx.base.backend())) {
        CountDownLatch firstToken = new CountDownLatch(1), release = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        Future<GenerationResult> first = pool.submit(() -> engine.generate(m, new int[] {1, 2, 3}, SamplingParams.greedy(40, -1), null,
            t -> {
              firstToken.countDown();
              try {
                release.await();
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
            }, () -> false));
        firstToken.await();
        Future<GenerationResult> second = pool.submit(() -> engine.generate(m, new int[] {1, 2, 3}, SamplingParams.greedy(4, -1), null,
            null, () -> false));
        await().atMost(Duration.ofSeconds(5)).until(() -> engine.waiting() == 1);
        assertThat(engine.running()).isEqualTo(1);
        assertThat(engine.reservedKvBytes()).isEqualTo(one);
        release.countDown();
        assertThat(second.get().tokens()).containsExactly(java.util.Arrays.copyOf(first.get().tokens(), 4));
        assertThatThrownBy(() -> engine.generate(m, new int[] {1, 2, 3}, SamplingParams.greedy(62, -1), null, null, () -> false))
            .isInstanceOfSatisfying(StatusRuntimeException.class,
                e -> assertThat(e.getStatus().getDescription()).contains("whole budget"));
        pool.shutdown();
      }
    }
  }

  @Test
  void aCancelledSequenceLeavesTheBatchAndFreesItsCacheAtOnce() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel m = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    try (BatchEngine engine = new BatchEngine(EngineConfig.defaults(), fx.config(), fx.base.backend())) {
      AtomicBoolean cancelled = new AtomicBoolean();
      CountDownLatch started = new CountDownLatch(1);
      ExecutorService pool = Executors.newSingleThreadExecutor();
      // Never reads past its first token until cancelled: the sequence stays in the engine meanwhile.
      Future<GenerationResult> f = pool.submit(() -> engine.generate(m, new int[] {5, 6}, SamplingParams.greedy(50, -1), null, t -> {
        started.countDown();
        while (!cancelled.get()) Thread.onSpinWait();
      }, cancelled::get));
      started.await();
      assertThat(engine.running()).isEqualTo(1);
      cancelled.set(true);
      assertThatThrownBy(f::get).hasCauseInstanceOf(CancellationException.class);
      await().atMost(Duration.ofSeconds(2)).until(() -> engine.running() == 0 && engine.reservedKvBytes() == 0);
      pool.shutdown();
    }
  }

  @Test
  void aReaderThatStaysBehindIsStoppedAfterTheStallTimeoutWhileOthersRunOn() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel m = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    EngineConfig cfg = new EngineConfig(4, 64L << 20, 4, 64, Duration.ofMillis(300));
    try (BatchEngine engine = new BatchEngine(cfg, fx.config(), fx.base.backend())) {
      CountDownLatch release = new CountDownLatch(1);
      ExecutorService pool = Executors.newFixedThreadPool(2);
      // Reads its first token, then stops reading until released: its buffer fills and it is paused.
      Future<GenerationResult> slow = pool.submit(() -> engine.generate(m, new int[] {5, 6}, SamplingParams.greedy(200, -1), null,
          t -> {
            try {
              release.await();
            } catch (InterruptedException e) {
              throw new IllegalStateException(e);
            }
          }, () -> false));
      // Meanwhile another request runs to its end, unslowed.
      GenerationResult other = engine.generate(m, new int[] {7, 8, 9}, SamplingParams.greedy(40, -1), null, null, () -> false);
      assertThat(other.tokens()).hasSize(40);
      await().atMost(Duration.ofSeconds(10)).until(() -> engine.stats().stalled() == 1);
      // Its place and KV cache are free before its reader comes back.
      await().atMost(Duration.ofSeconds(2)).until(() -> engine.running() == 0 && engine.reservedKvBytes() == 0);
      release.countDown();
      assertThatThrownBy(slow::get).cause().isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(e.getStatus().getDescription()).contains("unread for more than 300 ms");
      });
      pool.shutdown();
    }
  }

  @Test
  void aStallTimeoutMustBePositive() {
    assertThatThrownBy(() -> new EngineConfig(1, 1, 0, 1, Duration.ZERO)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("stall timeout");
  }
}
