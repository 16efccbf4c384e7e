package io.prefstream.learner.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.prefstream.model.tensor.NamedTensor;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** Clipping, the non-finite guard, gradient norms, schedules and validation. */
class AdamWBehaviourTest {

  static AdamW adam(AdamWConfig config, List<Parameter> params) {
    return new AdamW(config, new LrSchedule.WarmupConstant(1e-2, 0), params);
  }

  @Test
  void clippingScalesGradientsToTheMaxNormAndReportsThePreClipNorm() {
    // Two identical set-ups: one clips norm 10 to 1, the other is fed the already-scaled gradients.
    float[] grads = {6f, 8f};
    float[] a = {1f, 1f};
    AdamW clipped = adam(AdamWConfig.defaults().withMaxGradNorm(1.0),
        List.of(new Parameter("w", a, grads)));
    StepResult r = clipped.step();
    assertThat(r.gradNorm()).isEqualTo(10.0);
    assertThat(r.clipScale()).isEqualTo(1.0 / (10.0 + 1e-6));
    assertThat(grads).containsExactly(6f, 8f);

    float scale = (float) r.clipScale();
    float[] b = {1f, 1f};
    AdamW prescaled = adam(AdamWConfig.defaults().withMaxGradNorm(Double.POSITIVE_INFINITY),
        List.of(new Parameter("w", b, new float[] {6f * scale, 8f * scale})));
    prescaled.step();
    assertThat(a).containsExactly(b);
    assertThat(clipped.secondMoment("w")).containsExactly(prescaled.secondMoment("w"));
  }

  @Test
  void gradientsBelowTheMaxNormAreNotScaled() {
    AdamW a = adam(AdamWConfig.defaults().withMaxGradNorm(1.0),
        List.of(new Parameter("w", new float[] {1f, 2f}, new float[] {0.3f, 0.4f})));
    StepResult r = a.step();
    assertThat(r.gradNorm()).isCloseTo(0.5, within(1e-7));
    assertThat(r.clipScale()).isEqualTo(1.0);
    assertThat(a.firstMoment("w")).containsExactly(0.1f * 0.3f, 0.1f * 0.4f);
  }

  @Test
  void nonFiniteGradientsSkipTheStepWithoutTouchingAnything() {
    float[] values = {1f, 2f, 3f};
    float[] grads = {0.1f, 0.2f, 0.3f};
    AdamW a = adam(AdamWConfig.defaults().withWeightDecay(0.1),
        List.of(new Parameter("w", values, grads)));
    a.step();
    float[] valuesBefore = values.clone();
    float[] mBefore = a.firstMoment("w");
    float[] vBefore = a.secondMoment("w");
    for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
      grads[1] = bad;
      StepResult r = a.step();
      assertThat(r.applied()).isFalse();
      assertThat(r.gradNorm()).isNotFinite();
      assertThat(r.step()).isEqualTo(1);
      assertThat(values).containsExactly(valuesBefore);
      assertThat(a.firstMoment("w")).containsExactly(mBefore);
      assertThat(a.secondMoment("w")).containsExactly(vBefore);
      assertThat(a.stepCount()).isEqualTo(1);
    }
    grads[1] = 0.2f;
    assertThat(a.step().applied()).isTrue();
    assertThat(a.stepCount()).isEqualTo(2);
  }

  @Test
  void hugeButFiniteGradientsAreClippedNotSkipped() {
    float[] values = {1f, 1f};
    AdamW a = adam(AdamWConfig.defaults(), List.of(new Parameter("w", values,
        new float[] {Float.MAX_VALUE, -Float.MAX_VALUE})));
    StepResult r = a.step();
    assertThat(r.applied()).isTrue();
    assertThat(r.gradNorm()).isCloseTo(Math.sqrt(2) * Float.MAX_VALUE, within(1e30));
    assertThat(values[0]).isFinite();
    assertThat(values[1]).isFinite();
  }

  @Property(tries = 100)
  void globalNormIsTheDoubleNormOverAllParameters(@ForAll long seed) {
    Random rnd = new Random(seed);
    float[] g1 = AdamWReferenceTest.randomFloats(rnd, 1 + rnd.nextInt(50));
    float[] g2 = AdamWReferenceTest.randomFloats(rnd, 1 + rnd.nextInt(50));
    double sum = 0;
    for (float x : g1) {
      sum += (double) x * x;
    }
    for (float x : g2) {
      sum += (double) x * x;
    }
    double norm = GradientNorms.globalNorm(List.of(new Parameter("a", new float[g1.length], g1),
        new Parameter("b", new float[g2.length], g2)));
    assertThat(norm).isEqualTo(Math.sqrt(sum));
  }

  @Test
  void zeroGradsClearsEveryBuffer() {
    float[] g = {1f, 2f};
    AdamW a = adam(AdamWConfig.defaults(), List.of(new Parameter("w", new float[2], g)));
    a.zeroGrads();
    assertThat(g).containsExactly(0f, 0f);
  }

  @Test
  void updatesLandInTheNamedTensor() {
    NamedTensor t = new NamedTensor("lora_A", new int[] {2}, new float[] {1f, 1f});
    AdamW a = adam(AdamWConfig.defaults(), List.of(Parameter.of(t, new float[] {1f, -1f})));
    a.step();
    assertThat(t.data()[0]).isLessThan(1f);
    assertThat(t.data()[1]).isGreaterThan(1f);
  }

  @Test
  void warmupConstantRisesLinearlyThenHolds() {
    LrSchedule s = new LrSchedule.WarmupConstant(1e-3, 4);
    assertThat(s.learningRate(0)).isEqualTo(2.5e-4);
    assertThat(s.learningRate(1)).isEqualTo(5e-4);
    assertThat(s.learningRate(3)).isEqualTo(1e-3);
    assertThat(s.learningRate(4)).isEqualTo(1e-3);
    assertThat(s.learningRate(1_000_000)).isEqualTo(1e-3);
    assertThat(new LrSchedule.WarmupConstant(1e-3, 0).learningRate(0)).isEqualTo(1e-3);
  }

  @Test
  void warmupCosineDecaysToTheFloor() {
    LrSchedule s = new LrSchedule.WarmupCosine(1e-3, 10, 110, 1e-4);
    assertThat(s.learningRate(0)).isCloseTo(1e-4, within(1e-18));
    assertThat(s.learningRate(9)).isEqualTo(1e-3);
    assertThat(s.learningRate(10)).isEqualTo(1e-3);
    assertThat(s.learningRate(60)).isCloseTo(5.5e-4, within(1e-15));
    assertThat(s.learningRate(35)).isCloseTo(1e-4 + 9e-4 * 0.5 * (1 + Math.cos(Math.PI / 4)),
        within(1e-15));
    assertThat(s.learningRate(110)).isEqualTo(1e-4);
    assertThat(s.learningRate(5000)).isEqualTo(1e-4);
    for (long step = 10; step < 110; step++) {
      assertThat(s.learningRate(step + 1)).isLessThanOrEqualTo(s.learningRate(step));
    }
  }

  @Test
  void rejectsInvalidConfiguration() {
    assertThatThrownBy(() -> new AdamWConfig(1.0, 0.999, 1e-8, 0, 1))
        .hasMessageContaining("betas = (1.0, 0.999)");
    assertThatThrownBy(() -> new AdamWConfig(0.9, 0.999, 0, 0, 1)).hasMessageContaining("epsilon");
    assertThatThrownBy(() -> new AdamWConfig(0.9, 0.999, 1e-8, -1, 1))
        .hasMessageContaining("weight decay");
    assertThatThrownBy(() -> new AdamWConfig(0.9, 0.999, 1e-8, 0, 0))
        .hasMessageContaining("max grad norm");
    assertThatThrownBy(() -> new LrSchedule.WarmupCosine(1e-3, 10, 10, 0))
        .hasMessageContaining("total steps = 10");
    assertThatThrownBy(() -> new LrSchedule.WarmupCosine(1e-3, 0, 10, 1e-2))
        .hasMessageContaining("floor");
    assertThatThrownBy(() -> new LrSchedule.WarmupConstant(0, 0)).hasMessageContaining("peak");
    assertThatThrownBy(() -> new Parameter("w", new float[2], new float[3]))
        .hasMessageContaining("w: 2 values but 3 gradients");
    assertThatThrownBy(() -> adam(AdamWConfig.defaults(), List.of(
        new Parameter("w", new float[1], new float[1]), new Parameter("w", new float[1], new float[1]))))
        .hasMessageContaining("'w' appears twice");
  }
}
