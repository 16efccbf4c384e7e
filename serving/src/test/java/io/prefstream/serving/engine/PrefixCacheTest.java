package io.prefstream.serving.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.model.generate.GenerationResult;
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

class PrefixCacheTest {
  @TempDir Path root;

  private static SamplingParams sampled(long seed, int max) {
    return new SamplingParams(0.9, 20, 0.95, seed, max, -1, List.of());
  }

  private static int[] prompt(Fixture fx, int seed, int length) {
    return IntStream.range(0, length).map(j -> (seed * 31 + j * 17 + 3) % fx.config().vocabSize()).toArray();
  }

  private static int[] concat(int[]... parts) {
    return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).toArray();
  }

  private static EngineConfig config(long prefixBytes) {
    return new EngineConfig(8, 64L << 20, 16, 8, Duration.ofSeconds(30), prefixBytes);
  }

  private static GenerationResult run(BatchEngine engine, LlamaModel m, int[] prompt, SamplingParams p) {
    return engine.generate(m, prompt, p, null, null, () -> false);
  }

  @Test
  void aPromptStartingWithFinishedTokensStartsFromTheirCacheAndGeneratesWhatItWouldAlone() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel m = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    int[] first = prompt(fx, 1, 19);
    try (BatchEngine engine = new BatchEngine(config(16L << 20), fx.config(), fx.base.backend())) {
      GenerationResult a = run(engine, m, first, SamplingParams.greedy(6, -1));
      assertThat(engine.stats().prefixHits()).isZero();
      // The next turn sends the first prompt, the reply and more: the first 19 + 5 fed tokens are cached
      // (the reply's last token was sampled, never fed).
      int[] next = concat(first, a.tokens(), prompt(fx, 2, 7));
      for (SamplingParams p : List.of(SamplingParams.greedy(8, -1), sampled(42, 8))) {
        long before = engine.stats().prefixTokensReused();
        GenerationResult b = run(engine, m, next, p);
        assertThat(b.tokens()).as("%s", p).containsExactly(new Generator(m).generate(next, p, null, null).tokens());
        assertThat(engine.stats().prefixTokensReused() - before).as("reused for %s", p)
            // the first time, the first turn's cache; then the greedy run's, which holds all of next but
            // its last token is always fed (its logits give the first new token)
            .isEqualTo(p.temperature() == 0 ? first.length + a.tokens().length - 1 : next.length - 1);
      }
      // A prompt sharing only its first 10 tokens reuses those 10.
      int[] sharing = concat(java.util.Arrays.copyOf(first, 10), prompt(fx, 3, 9));
      long before = engine.stats().prefixTokensReused();
      GenerationResult c = run(engine, m, sharing, sampled(7, 5));
      assertThat(c.tokens()).containsExactly(new Generator(m).generate(sharing, sampled(7, 5), null, null).tokens());
      assertThat(engine.stats().prefixTokensReused() - before).isEqualTo(10);
      // The very same prompt again: all but its last token come from the cache.
      before = engine.stats().prefixTokensReused();
      assertThat(run(engine, m, first, SamplingParams.greedy(6, -1)).tokens()).containsExactly(a.tokens());
      assertThat(engine.stats().prefixTokensReused() - before).isEqualTo(first.length - 1);
      assertThat(engine.prefixCacheBytes()).isPositive().isLessThanOrEqualTo(16L << 20);
    }
  }

  @Test
  void anotherVersionsCacheIsNeverUsed() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel base = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    LlamaModel v1 = base.sibling();
    v1.attachLora(Fixture.LORA, fx.adapter(1).tensors());
    int[] p = prompt(fx, 4, 15);
    try (BatchEngine engine = new BatchEngine(config(16L << 20), fx.config(), fx.base.backend())) {
      run(engine, base, p, SamplingParams.greedy(4, -1));
      GenerationResult onV1 = run(engine, v1, p, SamplingParams.greedy(4, -1));
      assertThat(engine.stats().prefixHits()).as("v1's keys and values differ from the base's").isZero();
      assertThat(onV1.tokens()).containsExactly(new Generator(v1).generate(p, SamplingParams.greedy(4, -1), null, null).tokens());
      run(engine, v1, p, SamplingParams.greedy(4, -1));
      assertThat(engine.stats().prefixHits()).isEqualTo(1);
    }
  }

  @Test
  void theBudgetKeepsTheMostRecentlyUsedAndZeroTurnsCachingOff() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel m = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    int[] a = prompt(fx, 5, 12), b = prompt(fx, 6, 12);
    try (BatchEngine probe = new BatchEngine(config(0), fx.config(), fx.base.backend())) {
      long one = probe.kvBytes(a.length + 4); // one retired sequence's cache
      run(probe, m, a, SamplingParams.greedy(4, -1));
      run(probe, m, a, SamplingParams.greedy(4, -1));
      assertThat(probe.stats().prefixHits()).as("budget 0: off").isZero();
      assertThat(probe.prefixCacheBytes()).isZero();
      try (BatchEngine engine = new BatchEngine(config(one), fx.config(), fx.base.backend())) {
        run(engine, m, a, SamplingParams.greedy(4, -1));
        run(engine, m, b, SamplingParams.greedy(4, -1)); // room for one: a's cache goes
        run(engine, m, a, SamplingParams.greedy(4, -1));
        assertThat(engine.stats().prefixHits()).as("a was evicted for b").isZero();
        run(engine, m, a, SamplingParams.greedy(4, -1));
        assertThat(engine.stats().prefixHits()).as("a is the most recent now").isEqualTo(1);
        assertThat(engine.prefixCacheBytes()).isEqualTo(one);
      }
    }
  }
}
