package io.prefstream.model.llama;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.cpu.WorkerPool;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.model.train.GradMode;
import io.prefstream.model.train.Parameter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class LlamaModelTest {
  private static final WorkerPool POOL = new WorkerPool(2);
  private static final double[] SEQ_WEIGHTS = {0.7, -1.3, 0.4};

  @AfterAll
  static void close() {
    POOL.close();
  }

  private static LlamaModel model(LlamaConfig c, Map<String, NamedTensor> w) {
    return LlamaModel.create(c, w, new CpuBackend(POOL));
  }

  private static LoraAdapter randomLora(LlamaModel m, long seed) {
    LoraAdapter lora = m.attachNewLora(new LoraConfig(2, 4.0, LoraConfig.ALL_TARGETS, 0), seed);
    SplittableRandom r = new SplittableRandom(seed + 1);
    for (Parameter p : lora.parameters()) {
      if (p.name().contains("lora_B")) {
        float[] b = new float[p.numel()];
        for (int i = 0; i < b.length; i++) b[i] = (float) (r.nextDouble() - 0.5) * 0.5f;
        p.set(b);
      }
    }
    return lora;
  }

  @Test
  void logitsMatchFloat64ReferenceForTiedAndUntiedBiasedConfigs() {
    for (LlamaConfig c : List.of(Tiny.tied(), Tiny.untiedWithBias())) {
      Map<String, NamedTensor> w = Tiny.weights(c, 11);
      LlamaModel m = model(c, w);
      int[] tokens = Tiny.tokens(new SplittableRandom(3), c.vocabSize(), 13);
      float[] got = m.logits(tokens);
      double[] want = new RefLlama(c, Tiny.toDouble(w, null), 0).logits(tokens);
      assertThat(Ref.relErr(got, want)).as("logits rel err for %s", c).isLessThan(1e-5);
    }
  }

  @Test
  void sequenceLogProbsMatchReferenceWithLora() {
    LlamaConfig c = Tiny.tied();
    Map<String, NamedTensor> w = Tiny.weights(c, 5);
    LlamaModel m = model(c, w);
    LoraAdapter lora = randomLora(m, 9);
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 21);
    SequenceLogProbs got = m.logProbs(batch);
    RefLlama ref = new RefLlama(c, Tiny.toDouble(w, lora), lora.config().scaling());
    for (int s = 0; s < batch.size(); s++) {
      assertThat(got.sum(s)).isCloseTo(ref.sequenceLogProb(batch.get(s)), org.assertj.core.data.Offset.offset(2e-4));
      assertThat(got.tokenCounts()[s]).isEqualTo(batch.get(s).response().length);
    }
  }

  @Test
  void loraGradientsMatchFiniteDifferences() {
    LlamaConfig c = Tiny.tied();
    Map<String, NamedTensor> w = Tiny.weights(c, 5);
    LlamaModel m = model(c, w);
    LoraAdapter lora = randomLora(m, 9);
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 21);
    m.zeroGrad(GradMode.LORA);
    m.forward(batch, GradMode.LORA, false).backward(SEQ_WEIGHTS);
    checkAgainstFiniteDifferences(c, new RefLlama(c, Tiny.toDouble(w, lora), lora.config().scaling()), batch,
        m.parameters(GradMode.LORA), 1);
  }

  @Test
  void fullGradientsMatchFiniteDifferencesTiedAndUntiedWithBias() {
    for (LlamaConfig c : List.of(Tiny.tied(), Tiny.untiedWithBias())) {
      Map<String, NamedTensor> w = Tiny.weights(c, 7);
      LlamaModel m = model(c, w);
      List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 4);
      m.zeroGrad(GradMode.FULL);
      m.forward(batch, GradMode.FULL, false).backward(SEQ_WEIGHTS);
      checkAgainstFiniteDifferences(c, new RefLlama(c, Tiny.toDouble(w, null), 0), batch, m.parameters(GradMode.FULL), 3);
    }
  }

  /** Central differences (float64, on the reference) for every stride-th element of each parameter. */
  private static void checkAgainstFiniteDifferences(LlamaConfig c, RefLlama ref, List<PromptResponse> batch,
      List<Parameter> params, int stride) {
    Ref.Fn f = x -> {
      double s = 0;
      for (int i = 0; i < batch.size(); i++) s += SEQ_WEIGHTS[i] * ref.sequenceLogProb(batch.get(i));
      return s;
    };
    for (Parameter p : params) {
      double[] x = ref.get(p.name());
      assertThat(x).as("reference has %s", p.name()).isNotNull();
      float[] g = p.grads();
      List<Float> got = new ArrayList<>();
      List<Double> want = new ArrayList<>();
      for (int i = 0; i < x.length; i += stride) {
        double keep = x[i];
        x[i] = keep + 1e-5;
        double up = f.eval(x);
        x[i] = keep - 1e-5;
        double down = f.eval(x);
        x[i] = keep;
        got.add(g[i]);
        want.add((up - down) / 2e-5);
      }
      float[] ga = new float[got.size()];
      double[] wa = new double[want.size()];
      for (int i = 0; i < ga.length; i++) {
        ga[i] = got.get(i);
        wa[i] = want.get(i);
      }
      assertThat(Ref.relErr(ga, wa)).as("gradient of %s", p.name()).isLessThan(1e-3);
    }
  }

  @Test
  void recomputeGivesBitIdenticalGradients() {
    LlamaConfig c = Tiny.tied();
    Map<String, NamedTensor> w = Tiny.weights(c, 5);
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 21);
    List<float[]> kept = loraGrads(model(c, w), batch, false);
    List<float[]> recomputed = loraGrads(model(c, w), batch, true);
    for (int i = 0; i < kept.size(); i++) assertThat(recomputed.get(i)).isEqualTo(kept.get(i));
  }

  private static List<float[]> loraGrads(LlamaModel m, List<PromptResponse> batch, boolean recompute) {
    randomLora(m, 9);
    m.zeroGrad(GradMode.LORA);
    m.forward(batch, GradMode.LORA, recompute).backward(SEQ_WEIGHTS);
    return m.parameters(GradMode.LORA).stream().map(Parameter::grads).toList();
  }

  @Test
  void resultsAreBitIdenticalForAnyThreadCount() {
    LlamaConfig c = Tiny.tied();
    Map<String, NamedTensor> w = Tiny.weights(c, 5);
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 21);
    List<float[]> reference = null;
    double[] refSums = null;
    for (int threads : new int[] {1, 2, 3}) {
      try (WorkerPool pool = new WorkerPool(threads)) {
        LlamaModel m = LlamaModel.create(c, w, new CpuBackend(pool));
        randomLora(m, 9);
        m.zeroGrad(GradMode.LORA);
        ForwardPass pass = m.forward(batch, GradMode.LORA, false);
        pass.backward(SEQ_WEIGHTS);
        List<float[]> grads = m.parameters(GradMode.LORA).stream().map(Parameter::grads).toList();
        if (reference == null) {
          reference = grads;
          refSums = pass.result().sums();
        } else {
          assertThat(pass.result().sums()).isEqualTo(refSums);
          for (int i = 0; i < grads.size(); i++) assertThat(grads.get(i)).as("threads=%d", threads).isEqualTo(reference.get(i));
        }
      }
    }
  }

  @Test
  void batchOfDifferentLengthsScoresEachSequenceAsIfAlone() {
    LlamaConfig c = Tiny.untiedWithBias();
    LlamaModel m = model(c, Tiny.weights(c, 8));
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 2);
    SequenceLogProbs together = m.logProbs(batch);
    for (int s = 0; s < batch.size(); s++) {
      SequenceLogProbs alone = m.logProbs(List.of(batch.get(s)));
      assertThat(together.tokenLogProbs()[s]).isEqualTo(alone.tokenLogProbs()[0]);
    }
  }

  @Test
  void attentionIsCausalLaterTokensNeverChangeEarlierLogits() {
    LlamaConfig c = Tiny.tied();
    LlamaModel m = model(c, Tiny.weights(c, 8));
    int[] a = Tiny.tokens(new SplittableRandom(1), c.vocabSize(), 10);
    int[] b = a.clone();
    for (int i = 6; i < 10; i++) b[i] = (b[i] + 5) % c.vocabSize();
    float[] la = m.logits(a), lb = m.logits(b);
    int upTo = 6 * c.vocabSize();
    assertThat(Arrays.copyOf(lb, upTo)).isEqualTo(Arrays.copyOf(la, upTo));
    assertThat(Arrays.copyOfRange(lb, upTo, la.length)).isNotEqualTo(Arrays.copyOfRange(la, upTo, la.length));
  }

  @Test
  void kvCacheDecodingGivesTheSameLogitsAsAFullForward() {
    for (LlamaConfig c : List.of(Tiny.tied(), Tiny.untiedWithBias())) {
      LlamaModel m = model(c, Tiny.weights(c, 8));
      randomLora(m, 3);
      int[] tokens = Tiny.tokens(new SplittableRandom(1), c.vocabSize(), 12);
      float[] full = m.logits(tokens);
      KvCache cache = m.newKvCache(20);
      int prefill = 5;
      float[] got = m.forwardCached(cache, Arrays.copyOf(tokens, prefill));
      checkRow(full, prefill - 1, got, c.vocabSize());
      for (int i = prefill; i < tokens.length; i++) {
        got = m.forwardCached(cache, new int[] {tokens[i]});
        checkRow(full, i, got, c.vocabSize());
      }
      assertThat(cache.length()).isEqualTo(tokens.length);
    }
  }

  private static void checkRow(float[] full, int row, float[] got, int vocab) {
    double[] want = Ref.toDouble(Arrays.copyOfRange(full, row * vocab, (row + 1) * vocab));
    assertThat(Ref.relErr(got, want)).as("row %d", row).isLessThan(1e-5);
  }

  @Test
  void freshLoraLeavesOutputsUnchangedAndMergingKeepsThem() {
    LlamaConfig c = Tiny.tied();
    Map<String, NamedTensor> w = Tiny.weights(c, 8);
    LlamaModel m = model(c, w);
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 2);
    double[] base = m.logProbs(batch).sums();
    m.attachNewLora(new LoraConfig(4, 8, LoraConfig.ALL_TARGETS, 0), 1);
    assertThat(m.logProbs(batch).sums()).isEqualTo(base);
    randomLora(m, 4);
    double[] adapted = m.logProbs(batch).sums();
    assertThat(adapted).isNotEqualTo(base);
    m.mergeLora();
    assertThat(m.lora()).isEmpty();
    double[] merged = m.logProbs(batch).sums();
    for (int i = 0; i < merged.length; i++) assertThat(merged[i]).isCloseTo(adapted[i], org.assertj.core.data.Offset.offset(1e-4));
  }

  @Test
  void loraInitialisationFollowsPeftAndTensorsRoundTrip() {
    LlamaConfig c = Tiny.tied();
    LlamaModel m = model(c, Tiny.weights(c, 8));
    LoraConfig lc = new LoraConfig(4, 8, java.util.Set.of("q_proj", "down_proj"), 0);
    LoraAdapter lora = m.attachNewLora(lc, 42);
    Map<String, NamedTensor> t = lora.toTensors();
    assertThat(t).containsOnlyKeys(
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
        "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight",
        "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight",
        "base_model.model.model.layers.1.mlp.down_proj.lora_A.weight", "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
    NamedTensor a = t.get("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight");
    assertThat(a.shape()).containsExactly(4, 24);
    double bound = 1 / Math.sqrt(24);
    for (float x : a.data()) assertThat(Math.abs(x)).isLessThanOrEqualTo((float) bound);
    for (float x : t.get("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight").data()) assertThat(x).isZero();
    assertThat(LoraAdapter.initialise(c, lc, 42, m.backend()).toTensors().get(a.name()).data()).isEqualTo(a.data());
    LoraAdapter again = LoraAdapter.fromTensors(c, lc, t, m.backend());
    assertThat(again.toTensors().get(a.name()).data()).isEqualTo(a.data());
  }

  @Test
  void refusesMissingMisshapenAndUnknownTensors() {
    LlamaConfig c = Tiny.tied();
    Map<String, NamedTensor> w = new LinkedHashMap<>(Tiny.weights(c, 1));
    Map<String, NamedTensor> missing = new LinkedHashMap<>(w);
    missing.remove("model.layers.1.mlp.up_proj.weight");
    assertThatThrownBy(() -> model(c, missing)).hasMessageContaining("missing tensor model.layers.1.mlp.up_proj.weight");
    Map<String, NamedTensor> bad = new LinkedHashMap<>(w);
    bad.put("model.norm.weight", new NamedTensor("model.norm.weight", new int[] {15}, new float[15]));
    assertThatThrownBy(() -> model(c, bad)).hasMessageContaining("model.norm.weight has shape [15], expected [16]");
    Map<String, NamedTensor> extra = new LinkedHashMap<>(w);
    extra.put("model.layers.0.self_attn.q_proj.bias", new NamedTensor("model.layers.0.self_attn.q_proj.bias", new int[] {16}, new float[16]));
    assertThatThrownBy(() -> model(c, extra)).hasMessageContaining("does not use").hasMessageContaining("q_proj.bias");
  }

  @Test
  void backwardRefusesAfterAnotherForward() {
    LlamaConfig c = Tiny.tied();
    LlamaModel m = model(c, Tiny.weights(c, 1));
    randomLora(m, 1);
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 2);
    ForwardPass first = m.forward(batch, GradMode.LORA, false);
    m.logProbs(batch);
    assertThatThrownBy(() -> first.backward(SEQ_WEIGHTS)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("another forward pass ran");
  }

  @Test
  void noGradPathEqualsTrainingForward() {
    LlamaConfig c = Tiny.tied();
    LlamaModel m = model(c, Tiny.weights(c, 1));
    randomLora(m, 1);
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 2);
    double[] fast = m.logProbs(batch).sums();
    assertThat(m.forward(batch, GradMode.LORA, true).result().sums()).isEqualTo(fast);
    assertThat(m.forward(batch, GradMode.LORA, false).result().sums()).isEqualTo(fast);
  }

  @Test
  void fullModeRecomputeGivesBitIdenticalGradients() {
    LlamaConfig c = Tiny.untiedWithBias();
    Map<String, NamedTensor> w = Tiny.weights(c, 6);
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 3);
    List<List<float[]>> runs = new ArrayList<>();
    for (boolean recompute : new boolean[] {false, true}) {
      LlamaModel m = model(c, w);
      m.zeroGrad(GradMode.FULL);
      m.forward(batch, GradMode.FULL, recompute).backward(SEQ_WEIGHTS);
      runs.add(m.parameters(GradMode.FULL).stream().map(Parameter::grads).toList());
    }
    for (int i = 0; i < runs.get(0).size(); i++) assertThat(runs.get(1).get(i)).isEqualTo(runs.get(0).get(i));
  }

  @Test
  void detachingTheAdapterScoresWithTheBaseModelAndReattachingRestoresIt() {
    LlamaConfig c = Tiny.tied();
    LlamaModel m = model(c, Tiny.weights(c, 2));
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 6);
    double[] base = m.logProbs(batch).sums();
    LoraAdapter lora = randomLora(m, 5);
    double[] adapted = m.logProbs(batch).sums();
    m.detachLora();
    assertThat(m.logProbs(batch).sums()).isEqualTo(base);
    m.attachLora(lora);
    assertThat(m.logProbs(batch).sums()).isEqualTo(adapted);
  }

  @Test
  void sequencesWithoutResponseTokensScoreZeroAndTakePartInBackward() {
    LlamaConfig c = Tiny.tied();
    LlamaModel m = model(c, Tiny.weights(c, 2));
    randomLora(m, 5);
    List<PromptResponse> batch = List.of(new PromptResponse(new int[] {1, 2, 3}, new int[0]),
        new PromptResponse(new int[] {4}, new int[] {5, 6}));
    m.zeroGrad(GradMode.LORA);
    ForwardPass pass = m.forward(batch, GradMode.LORA, false);
    assertThat(pass.result().sum(0)).isZero();
    assertThat(pass.result().tokenCounts()).containsExactly(0, 2);
    pass.backward(new double[] {1.0, -1.0});
    assertThat(m.parameters(GradMode.LORA).stream().anyMatch(p -> {
      for (float g : p.grads()) if (g != 0) return true;
      return false;
    })).isTrue();
  }

  @Test
  void refusesSequencesLongerThanTheContextAndTokensOutsideTheVocabulary() {
    LlamaConfig c = Tiny.tied();
    LlamaModel m = model(c, Tiny.weights(c, 2));
    assertThatThrownBy(() -> m.logProbs(List.of(new PromptResponse(new int[40], new int[30]))))
        .hasMessageContaining("max_position_embeddings 64");
    assertThatThrownBy(() -> m.logProbs(List.of(new PromptResponse(new int[] {1}, new int[] {37}))))
        .hasMessageContaining("outside the vocabulary [0, 37)");
    assertThatThrownBy(() -> m.forward(Tiny.batch(37, 1), GradMode.LORA, false)).hasMessageContaining("attached adapter");
  }

  @Test
  void siblingSharesBaseWeightsButKeepsItsOwnAdapter() {
    LlamaConfig c = Tiny.tied();
    LlamaModel policy = model(c, Tiny.weights(c, 2));
    LlamaModel reference = policy.sibling();
    List<PromptResponse> batch = Tiny.batch(c.vocabSize(), 6);
    double[] base = reference.logProbs(batch).sums();
    randomLora(policy, 5);
    double[] adapted = policy.logProbs(batch).sums();
    assertThat(adapted).isNotEqualTo(base);
    assertThat(reference.lora()).isEmpty();
    assertThat(reference.logProbs(batch).sums()).isEqualTo(base);
    policy.zeroGrad(GradMode.LORA);
    ForwardPass pass = policy.forward(batch, GradMode.LORA, false);
    reference.logProbs(batch); // the sibling's workspace is its own: the policy's pass stays valid
    pass.backward(SEQ_WEIGHTS);
    assertThatThrownBy(policy::mergeLora).hasMessageContaining("sibling");
    assertThatThrownBy(() -> reference.forward(batch, GradMode.FULL, false)).hasMessageContaining("sibling");
  }
}
