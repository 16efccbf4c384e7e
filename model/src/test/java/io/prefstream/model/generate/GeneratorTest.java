package io.prefstream.model.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.cpu.WorkerPool;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.Tiny;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class GeneratorTest {
  private static final WorkerPool POOL = new WorkerPool(2);
  private static final LlamaConfig CFG = Tiny.tied();
  private static final LlamaModel MODEL = LlamaModel.create(CFG, flatterWeights(), new CpuBackend(POOL));
  private static final int[] PROMPT = {1, 5, 9, 4};
  /** Token t reads as the letter 'a' + t (vocab 37 stays printable). */
  private static final TokenText LETTERS = TokenText.perToken(t -> String.valueOf((char) ('a' + t)));

  /** Random weights with small embeddings, so the tied head does not just repeat the last token. */
  private static java.util.Map<String, io.prefstream.model.tensor.NamedTensor> flatterWeights() {
    var w = Tiny.weights(CFG, 3);
    float[] e = w.get("model.embed_tokens.weight").data();
    for (int i = 0; i < e.length; i++) e[i] *= 0.15f;
    return w;
  }

  @AfterAll
  static void close() {
    POOL.close();
  }

  private static SamplingParams sampled(long seed, int max) {
    return new SamplingParams(1.0, 0, 1.0, seed, max, -1, List.of());
  }

  @Test
  void greedyPicksTheArgmaxOfAFullForwardAtEveryStep() {
    GenerationResult r = new Generator(MODEL).generate(PROMPT, SamplingParams.greedy(8, -1), null, null);
    int[] seq = PROMPT.clone();
    for (int step = 0; step < 8; step++) {
      float[] logits = MODEL.logits(seq);
      float[] last = Arrays.copyOfRange(logits, (seq.length - 1) * CFG.vocabSize(), seq.length * CFG.vocabSize());
      int next = Sampler.argmax(last);
      assertThat(r.tokens()[step]).as("step %d", step).isEqualTo(next);
      seq = Arrays.copyOf(seq, seq.length + 1);
      seq[seq.length - 1] = next;
    }
    assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
  }

  @Test
  void sameSeedGivesSameTokensAndOtherSeedsDiffer() {
    Generator g = new Generator(MODEL);
    int[] a = g.generate(PROMPT, sampled(7, 20), null, null).tokens();
    int[] b = g.generate(PROMPT, sampled(7, 20), null, null).tokens();
    assertThat(b).isEqualTo(a);
    Set<String> others = new HashSet<>();
    for (long s = 8; s < 12; s++) others.add(Arrays.toString(g.generate(PROMPT, sampled(s, 20), null, null).tokens()));
    assertThat(others).doesNotContain(Arrays.toString(a));
  }

  @Test
  void topKOfOneIsGreedy() {
    Generator g = new Generator(MODEL);
    int[] greedy = g.generate(PROMPT, SamplingParams.greedy(10, -1), null, null).tokens();
    int[] topOne = g.generate(PROMPT, new SamplingParams(1.5, 1, 1.0, 99, 10, -1, List.of()), null, null).tokens();
    assertThat(topOne).isEqualTo(greedy);
  }

  @Test
  void topKAndTopPRestrictTheCandidates() {
    float[] logits = {0f, 3f, 1f, 2.5f, -1f, 2.9f};
    Set<Integer> seenK = new HashSet<>();
    Sampler k = new Sampler(new SamplingParams(1.0, 3, 1.0, 1, 1, -1, List.of()));
    for (int i = 0; i < 2000; i++) seenK.add(k.sample(logits));
    assertThat(seenK).containsExactlyInAnyOrder(1, 5, 3);
    // probabilities ∝ exp(logits): token 1 alone has ~0.36, with 5 ~0.69: top-p 0.5 keeps {1, 5}
    Set<Integer> seenP = new HashSet<>();
    Sampler p = new Sampler(new SamplingParams(1.0, 0, 0.5, 2, 1, -1, List.of()));
    for (int i = 0; i < 2000; i++) seenP.add(p.sample(logits));
    assertThat(seenP).containsExactlyInAnyOrder(1, 5);
    assertThat(Sampler.argmax(logits)).isEqualTo(1);
  }

  @Test
  void stopsAtEosWithoutReturningIt() {
    Generator g = new Generator(MODEL);
    int[] free = g.generate(PROMPT, SamplingParams.greedy(6, -1), null, null).tokens();
    int eos = free[3];
    int cut = 0;
    while (free[cut] != eos) cut++;
    GenerationResult r = g.generate(PROMPT, SamplingParams.greedy(6, eos), null, null);
    assertThat(r.finishReason()).isEqualTo(FinishReason.EOS);
    assertThat(r.tokens()).isEqualTo(Arrays.copyOf(free, cut));
  }

  @Test
  void stopsAtAnyOfSeveralEosIdsAsLlama3sEotAndEndOfText() {
    Generator g = new Generator(MODEL);
    int[] free = g.generate(PROMPT, SamplingParams.greedy(6, -1), null, null).tokens();
    int first = free[4];
    int cut = 0;
    while (free[cut] != first && free[cut] != 99_999) cut++;
    GenerationResult r = g.generate(PROMPT, SamplingParams.greedy(6, -1).withEosTokenIds(java.util.Set.of(99_999, first)),
        null, null);
    assertThat(r.finishReason()).isEqualTo(FinishReason.EOS);
    assertThat(r.tokens()).isEqualTo(Arrays.copyOf(free, cut));
  }

  @Test
  void stopStringCutsTheTextAndEndsGeneration() {
    Generator g = new Generator(MODEL);
    GenerationResult free = g.generate(PROMPT, sampled(5, 12), LETTERS, null);
    String stop = free.text().substring(4, 6);
    int at = free.text().indexOf(stop);
    GenerationResult r = g.generate(PROMPT, sampled(5, 12).withStopStrings(List.of(stop, "never-there")), LETTERS, null);
    assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
    assertThat(r.text()).isEqualTo(free.text().substring(0, at));
    assertThat(r.tokens()).hasSize(at + 2);
  }

  @Test
  void streamsEveryTokenToTheListenerInOrder() {
    List<Integer> streamed = new ArrayList<>();
    GenerationResult r = new Generator(MODEL).generate(PROMPT, sampled(3, 9), LETTERS, streamed::add);
    assertThat(streamed).containsExactly(Arrays.stream(r.tokens()).boxed().toArray(Integer[]::new));
    assertThat(r.tokens()).hasSize(9);
    assertThat(r.text()).hasSize(9);
  }

  @Test
  void refusesStopStringsWithoutADecoderAndPromptsBeyondTheContext() {
    Generator g = new Generator(MODEL);
    assertThatThrownBy(() -> g.generate(PROMPT, sampled(1, 3).withStopStrings(List.of("x")), null, null))
        .hasMessageContaining("TokenText");
    assertThatThrownBy(() -> g.generate(new int[CFG.maxPositions()], sampled(1, 3), null, null))
        .hasMessageContaining("context");
    assertThatThrownBy(() -> new SamplingParams(-1, 0, 1, 0, 1, -1, List.of())).hasMessageContaining("temperature");
  }

  @Test
  void concurrentGenerationsOnOneModelMatchSequentialOnes() throws Exception {
    Generator g = new Generator(MODEL);
    int[] a = g.generate(PROMPT, sampled(21, 12), null, null).tokens();
    int[] b = g.generate(new int[] {3, 3, 7}, sampled(22, 12), null, null).tokens();
    try (var pool = java.util.concurrent.Executors.newFixedThreadPool(2)) {
      var fa = pool.submit(() -> g.generate(PROMPT, sampled(21, 12), null, null).tokens());
      var fb = pool.submit(() -> g.generate(new int[] {3, 3, 7}, sampled(22, 12), null, null).tokens());
      assertThat(fa.get()).isEqualTo(a);
      assertThat(fb.get()).isEqualTo(b);
    }
  }
}
