package io.prefstream.serving.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.generate.GenerationResult;
import io.prefstream.model.generate.Generator;
import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.serving.Fixture;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EngineScoreTest {
  @TempDir Path root;

  private static void assertSame(SequenceLogProbs got, SequenceLogProbs want, String what) {
    assertThat(got.size()).isEqualTo(want.size());
    for (int i = 0; i < want.size(); i++) {
      assertThat(got.tokenCounts()[i]).as("%s %d count", what, i).isEqualTo(want.tokenCounts()[i]);
      assertThat(got.tokenLogProbs()[i]).as("%s %d tokens", what, i).hasSize(want.tokenLogProbs()[i].length);
      for (int t = 0; t < want.tokenLogProbs()[i].length; t++) {
        assertThat(got.tokenLogProbs()[i][t]).as("%s %d token %d", what, i, t).isCloseTo(want.tokenLogProbs()[i][t], Offset.offset(2e-5f));
      }
      assertThat(got.sum(i)).as("%s %d sum", what, i).isCloseTo(want.sum(i), Offset.offset(1e-4));
    }
  }

  @Test
  void scoringSequencesShareStepsWithGenerationAndGiveTheLogProbsOfAForwardPass() throws Exception {
    Fixture fx = new Fixture(root);
    LlamaModel base = LlamaModel.create(fx.config(), fx.base.weights(), fx.base.backend());
    LlamaModel v1 = base.sibling();
    v1.attachLora(Fixture.LORA, fx.adapter(1).tensors());
    List<PromptResponse> batch = List.of(
        new PromptResponse(new int[] {1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41}, new int[] {50, 60, 70, 80, 90, 100, 110}),
        new PromptResponse(new int[] {2}, new int[] {3, 4}),
        new PromptResponse(new int[] {7, 8}, new int[0]));
    try (BatchEngine engine = new BatchEngine(new EngineConfig(8, 64L << 20, 32, 4, Duration.ofSeconds(30), 16L << 20),
        fx.config(), fx.base.backend())) {
      ExecutorService pool = Executors.newFixedThreadPool(4);
      List<Future<GenerationResult>> gens = new ArrayList<>();
      int[] prompt = {9, 8, 7, 6, 5};
      for (int i = 0; i < 4; i++) {
        LlamaModel m = i % 2 == 0 ? base : v1;
        gens.add(pool.submit(() -> engine.generate(m, prompt, SamplingParams.greedy(12, -1), null, null, () -> false)));
      }
      List<SequenceLogProbs> got = engine.score(List.of(v1, base), batch, () -> false);
      assertSame(got.get(0), withEmpty(v1.logProbs(batch.subList(0, 2))), "v1");
      assertSame(got.get(1), withEmpty(base.logProbs(batch.subList(0, 2))), "base");
      assertThat(got.get(0).sum(2)).isZero();
      for (int i = 0; i < 4; i++) {
        LlamaModel m = i % 2 == 0 ? base : v1;
        assertThat(gens.get(i).get().tokens()).containsExactly(new Generator(m).generate(prompt, SamplingParams.greedy(12, -1), null, null).tokens());
      }
      pool.shutdown();
      // Again: the fed tokens are all in the prefix cache now, yet every position that predicts a
      // response token is computed again.
      long reused = engine.stats().prefixTokensReused();
      List<SequenceLogProbs> again = engine.score(List.of(v1), batch, () -> false);
      assertThat(engine.stats().prefixTokensReused() - reused).as("prompt positions before the last came from the cache")
          .isEqualTo(10 + 0);
      assertSame(again.get(0), got.get(0), "v1 again");
      assertThatThrownBy(() -> engine.score(List.of(base), batch, () -> true)).isInstanceOf(CancellationException.class);
    }
  }

  /** Appends the empty third response's result (0, no tokens). */
  private static SequenceLogProbs withEmpty(SequenceLogProbs two) {
    return new SequenceLogProbs(new double[] {two.sum(0), two.sum(1), 0}, new int[] {two.tokenCounts()[0], two.tokenCounts()[1], 0},
        new float[][] {two.tokenLogProbs()[0], two.tokenLogProbs()[1], new float[0]});
  }
}
