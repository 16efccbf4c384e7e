package io.prefstream.serving.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.model.generate.Generator;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.serving.Fixture;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** New sequences run on retired sequences' KV buffers, and generate exactly what they would on fresh ones. */
class KvPoolTest {
  @TempDir Path root;

  private static int[] prompt(Fixture fx, int seed, int length) {
    return IntStream.range(0, length).map(j -> (seed * 37 + j * 13 + 5) % fx.config().vocabSize()).toArray();
  }

  private static long settled(BatchEngine engine, long want) throws InterruptedException {
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (engine.spareKvBytes() != want && System.nanoTime() < deadline) Thread.sleep(5);
    return engine.spareKvBytes();
  }

  @Test
  void sequencesOnReusedBuffersGenerateWhatTheyWouldAloneAcrossPoliciesOfOneBase() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel base = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    LlamaModel policy = base.sibling();
    policy.attachLora(Fixture.LORA, fx.adapter(1).tensors());
    // No prefix cache: every retired cache goes to the pool. 64 MiB of KV budget.
    EngineConfig cfg = new EngineConfig(8, 64L << 20, 16, 8, Duration.ofSeconds(30), 0);
    try (BatchEngine engine = new BatchEngine(cfg, fx.config(), fx.base.backend())) {
      // Long then short sequences in one size class (capacity 64 rounds to the same rows as 20), on
      // two policies of one base: a short one on a long one's buffers finds old keys and values past
      // its own positions, which it must never read.
      int runs = 0;
      for (int round = 0; round < 3; round++) {
        for (LlamaModel m : List.of(base, policy)) {
          for (int[] shape : new int[][] {{40, 24}, {6, 10}, {17, 3}}) {
            int[] p = prompt(fx, 10 * round + shape[0], shape[0]);
            SamplingParams params = round == 1 ? new SamplingParams(0.9, 20, 0.95, 5L + shape[0], shape[1], -1, List.of())
                : SamplingParams.greedy(shape[1], -1);
            assertThat(engine.generate(m, p, params, null, null, () -> false).tokens()).as("round %d, %s", round, params)
                .containsExactly(new Generator(m).generate(p, params, null, null).tokens());
            runs++;
          }
        }
      }
      assertThat(engine.stats().kvCachesReused()).as("all but the first sequence ran on reused buffers").isEqualTo(runs - 1L);
      // The scheduler gives the last cache back just after the last request's final event.
      assertThat(settled(engine, engine.kvBytes(64))).as("one spare cache").isEqualTo(engine.kvBytes(64));
    }
  }

  @Test
  void theSpareCachesStayWithinTheKvBudget() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel m = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    try (BatchEngine sizing = new BatchEngine(EngineConfig.defaults(), fx.config(), fx.base.backend())) {
      long one = sizing.kvBytes(64);
      // Room for three running caches of 64 positions; eight concurrent requests queue for them.
      EngineConfig cfg = new EngineConfig(8, 3 * one, 16, 8, Duration.ofSeconds(30), 0);
      try (BatchEngine engine = new BatchEngine(cfg, fx.config(), fx.base.backend())) {
        List<Thread> clients = IntStream.range(0, 8).mapToObj(c -> Thread.ofPlatform().start(() ->
            engine.generate(m, prompt(fx, c, 12), SamplingParams.greedy(30, -1), null, null, () -> false))).toList();
        for (Thread t : clients) t.join();
        assertThat(engine.spareKvBytes()).isPositive().isLessThanOrEqualTo(3 * one);
        assertThat(engine.stats().kvCachesReused()).isGreaterThanOrEqualTo(5);
      }
    }
  }
}
