package io.prefstream.model.llama;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.cpu.WorkerPool;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.train.Parameter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class BatchDecoderTest {
  private static final WorkerPool POOL = new WorkerPool(2);
  private static final CpuBackend BE = new CpuBackend(POOL);

  @AfterAll
  static void close() {
    POOL.close();
  }

  /** A sibling with an adapter whose B is random (a fresh PEFT adapter has B = 0 and would change nothing). */
  private static LlamaModel withAdapter(LlamaModel base, Set targets, long seed) {
    LlamaModel m = base.sibling();
    LoraAdapter ad = m.attachNewLora(new LoraConfig(targets.rank, 8, targets.modules, 0), seed);
    SplittableRandom r = new SplittableRandom(seed);
    for (Parameter p : ad.parameters()) {
      float[] v = p.values();
      for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextDouble() - 0.5) * 0.5f;
      p.set(v);
    }
    return m;
  }

  private record Set(int rank, java.util.Set<String> modules) {}

  /** Logits after each token of {@code seq}, the prompt prefilled at once then one token per call. */
  private static List<float[]> alone(LlamaModel m, int[] prompt, int[] next) {
    KvCache c = m.newKvCache(prompt.length + next.length + 1);
    List<float[]> out = new ArrayList<>();
    out.add(m.forwardCached(c, prompt));
    for (int t : next) out.add(m.forwardCached(c, new int[] {t}));
    return out;
  }

  @Test
  void scoringRowsGiveTheLogProbsOfLogProbsInChunksBesideGenerationRows() {
    for (LlamaConfig cfg : List.of(Tiny.tied(), Tiny.untiedWithBias())) {
      LlamaModel base = LlamaModel.create(cfg, Tiny.weights(cfg, 12), BE);
      LlamaModel lora = withAdapter(base, new Set(4, LoraConfig.ALL_TARGETS), 7);
      PromptResponse a = new PromptResponse(new int[] {1, 2, 3, 4}, new int[] {5, 6, 7, 8, 9});
      PromptResponse b = new PromptResponse(new int[] {10}, new int[] {11, 12, 13});
      for (LlamaModel m : List.of(base, lora)) {
        SequenceLogProbs want = m.logProbs(List.of(a, b));
        BatchDecoder dec = new BatchDecoder(cfg, BE);
        List<float[]> got = new ArrayList<>();
        for (PromptResponse pr : List.of(a, b)) {
          // fed: every token but the last; the position of token i predicts token i+1 from the prompt's last on
          int[] all = java.util.stream.IntStream.concat(Arrays.stream(pr.prompt()), Arrays.stream(pr.response())).toArray();
          int[] fed = Arrays.copyOf(all, all.length - 1), targets = new int[fed.length];
          for (int i = 0; i < fed.length; i++) targets[i] = i >= pr.prompt().length - 1 ? all[i + 1] : -1;
          KvCache cache = m.newKvCache(fed.length), other = base.newKvCache(8);
          List<Float> lps = new ArrayList<>();
          for (int i = 0; i < fed.length; i += 3) { // chunks of 3, beside a generation row on another adapter
            int e = Math.min(fed.length, i + 3);
            float[][] out = dec.step(List.of(new BatchDecoder.Row(m, cache, Arrays.copyOfRange(fed, i, e), Arrays.copyOfRange(targets, i, e)),
                new BatchDecoder.Row(base, other, new int[] {20 + i})));
            assertThat(out[1]).hasSize(cfg.vocabSize());
            for (int j = 0; j < e - i; j++) {
              if (targets[i + j] < 0) assertThat(out[0][j]).isNaN();
              else lps.add(out[0][j]);
            }
          }
          float[] f = new float[lps.size()];
          for (int i = 0; i < f.length; i++) f[i] = lps.get(i);
          got.add(f);
        }
        for (int s = 0; s < 2; s++) {
          assertThat(got.get(s)).hasSize(want.tokenLogProbs()[s].length);
          for (int t = 0; t < got.get(s).length; t++) {
            assertThat(got.get(s)[t]).as("sequence %d token %d", s, t)
                .isCloseTo(want.tokenLogProbs()[s][t], org.assertj.core.data.Offset.offset(2e-5f));
          }
        }
      }
    }
  }

  @Test
  void batchedRowsGiveBitIdenticalLogitsToEachSequenceAloneAcrossAdaptersAndPrefillChunks() {
    for (LlamaConfig cfg : List.of(Tiny.tied(), Tiny.untiedWithBias())) {
      LlamaModel base = LlamaModel.create(cfg, Tiny.weights(cfg, 11), BE);
      LlamaModel plain = base.sibling();
      LlamaModel loraA = withAdapter(base, new Set(4, LoraConfig.ALL_TARGETS), 5);
      LlamaModel loraB = withAdapter(base, new Set(2, java.util.Set.of("q_proj", "down_proj")), 6);
      LlamaModel[] models = {plain, loraA, loraA, loraB};
      int[][] prompts = {{1, 2, 3}, {4, 5, 6, 7, 8, 9, 10}, {11}, {12, 13, 14, 15, 16}};
      int[][] next = {{20, 21, 22, 23, 24, 25}, {26, 27, 28, 29, 30, 31}, {1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 12}};
      List<List<float[]>> want = new ArrayList<>();
      for (int s = 0; s < 4; s++) want.add(alone(models[s], prompts[s], next[s]));

      // Batched: prompts are fed in chunks of at most 2 tokens while the others already decode.
      BatchDecoder dec = new BatchDecoder(cfg, BE);
      KvCache[] caches = new KvCache[4];
      int[] fed = new int[4], decoded = new int[4];
      List<List<float[]>> got = new ArrayList<>();
      for (int s = 0; s < 4; s++) {
        caches[s] = models[s].newKvCache(prompts[s].length + next[s].length + 1);
        got.add(new ArrayList<>());
      }
      boolean more = true;
      while (more) {
        more = false;
        List<BatchDecoder.Row> rows = new ArrayList<>();
        List<Integer> who = new ArrayList<>();
        for (int s = 0; s < 4; s++) {
          int[] toks;
          if (fed[s] < prompts[s].length) {
            int k = Math.min(2, prompts[s].length - fed[s]);
            toks = Arrays.copyOfRange(prompts[s], fed[s], fed[s] + k);
            fed[s] += k;
          } else if (decoded[s] < next[s].length) {
            toks = new int[] {next[s][decoded[s]++]};
          } else {
            continue;
          }
          rows.add(new BatchDecoder.Row(models[s], caches[s], toks));
          who.add(s);
          more = true;
        }
        float[][] logits = dec.step(rows);
        for (int i = 0; i < who.size(); i++) {
          int s = who.get(i);
          // keep the logits after the whole prompt and after each decoded token, not after partial chunks
          if (rows.get(i).cache().length() >= prompts[s].length) got.get(s).add(logits[i]);
        }
      }
      for (int s = 0; s < 4; s++) {
        assertThat(got.get(s)).hasSize(want.get(s).size());
        for (int t = 0; t < want.get(s).size(); t++) {
          assertThat(got.get(s).get(t)).as("config %s sequence %d step %d", cfg.hiddenSize(), s, t).containsExactly(want.get(s).get(t));
        }
      }
    }
  }

  @Test
  void adaptersChangeOnlyTheirOwnRows() {
    LlamaConfig cfg = Tiny.tied();
    LlamaModel base = LlamaModel.create(cfg, Tiny.weights(cfg, 2), BE);
    LlamaModel lora = withAdapter(base, new Set(4, LoraConfig.ALL_TARGETS), 9);
    BatchDecoder dec = new BatchDecoder(cfg, BE);
    int[] p = {3, 4, 5};
    float[][] out = dec.step(List.of(new BatchDecoder.Row(base, base.newKvCache(8), p),
        new BatchDecoder.Row(lora, lora.newKvCache(8), p)));
    assertThat(out[0]).containsExactly(base.forwardCached(base.newKvCache(8), p));
    assertThat(out[1]).containsExactly(lora.forwardCached(lora.newKvCache(8), p));
    assertThat(out[1]).isNotEqualTo(out[0]);
  }

  @Test
  void refusesRowsOnOtherBaseWeightsAndFullCaches() {
    LlamaConfig cfg = Tiny.tied();
    LlamaModel a = LlamaModel.create(cfg, Tiny.weights(cfg, 2), BE);
    LlamaModel b = LlamaModel.create(cfg, Tiny.weights(cfg, 2), BE);
    BatchDecoder dec = new BatchDecoder(cfg, BE);
    assertThatThrownBy(() -> dec.step(List.of(new BatchDecoder.Row(a, a.newKvCache(4), new int[] {1}),
        new BatchDecoder.Row(b, b.newKvCache(4), new int[] {1})))).hasMessageContaining("other base weights");
    assertThatThrownBy(() -> dec.step(List.of(new BatchDecoder.Row(a, a.newKvCache(2), new int[] {1, 2, 3}))))
        .hasMessageContaining("cannot append 3");
  }
}
