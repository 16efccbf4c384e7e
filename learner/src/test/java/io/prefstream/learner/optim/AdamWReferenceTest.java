package io.prefstream.learner.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * AdamW's fp32 updates against a float64 reference written here from the algorithm's definition
 * (Loshchilov and Hutter, with PyTorch's bias-correction arrangement), over several steps with weight
 * decay, a no-decay parameter, a warm-up schedule and clipping.
 */
class AdamWReferenceTest {

  /** Straightforward double-precision AdamW over the same parameter layout. */
  static final class Reference {
    final double[][] p;
    final double[][] m;
    final double[][] v;
    final boolean[] decay;
    final AdamWConfig c;
    final LrSchedule schedule;
    long t;

    Reference(List<Parameter> params, AdamWConfig c, LrSchedule schedule) {
      int n = params.size();
      p = new double[n][];
      m = new double[n][];
      v = new double[n][];
      decay = new boolean[n];
      for (int i = 0; i < n; i++) {
        float[] values = params.get(i).values();
        p[i] = new double[values.length];
        for (int k = 0; k < values.length; k++) {
          p[i][k] = values[k];
        }
        m[i] = new double[values.length];
        v[i] = new double[values.length];
        decay[i] = params.get(i).decay();
      }
      this.c = c;
      this.schedule = schedule;
    }

    void step(double[][] g) {
      double norm = 0;
      for (double[] gi : g) {
        for (double x : gi) {
          norm += x * x;
        }
      }
      norm = Math.sqrt(norm);
      double clip = Math.min(1.0, c.maxGradNorm() / (norm + 1e-6));
      double lr = schedule.learningRate(t);
      t++;
      for (int i = 0; i < p.length; i++) {
        for (int k = 0; k < p[i].length; k++) {
          double gk = g[i][k] * clip;
          if (decay[i]) {
            p[i][k] -= lr * c.weightDecay() * p[i][k];
          }
          m[i][k] = c.beta1() * m[i][k] + (1 - c.beta1()) * gk;
          v[i][k] = c.beta2() * v[i][k] + (1 - c.beta2()) * gk * gk;
          double mHat = m[i][k] / (1 - Math.pow(c.beta1(), t));
          double vHat = v[i][k] / (1 - Math.pow(c.beta2(), t));
          // PyTorch's arrangement: ε is added to √v / √(1 − β2^t), i.e. to √v̂.
          p[i][k] -= lr * mHat / (Math.sqrt(vHat) + c.epsilon());
        }
      }
    }
  }

  static List<Parameter> params(Random rnd) {
    List<Parameter> list = new ArrayList<>();
    list.add(new Parameter("model.layers.0.self_attn.q_proj.lora_A.weight", randomFloats(rnd, 12), new float[12]));
    list.add(new Parameter("model.layers.0.self_attn.q_proj.lora_B.weight", randomFloats(rnd, 7), new float[7]));
    list.add(new Parameter("model.norm.weight", randomFloats(rnd, 5), new float[5]));
    return list;
  }

  static float[] randomFloats(Random rnd, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) rnd.nextGaussian();
    }
    return a;
  }

  static double[][] fillGrads(List<Parameter> params, Random rnd, double scale) {
    double[][] g = new double[params.size()][];
    for (int i = 0; i < params.size(); i++) {
      float[] grads = params.get(i).grads();
      g[i] = new double[grads.length];
      for (int k = 0; k < grads.length; k++) {
        grads[k] = (float) (scale * rnd.nextGaussian());
        g[i][k] = grads[k];
      }
    }
    return g;
  }

  void runAgainstReference(AdamWConfig config, LrSchedule schedule, double gradScale) {
    Random rnd = new Random(42);
    List<Parameter> params = params(rnd);
    AdamW adam = new AdamW(config, schedule, params);
    Reference ref = new Reference(params, config, schedule);
    for (int s = 0; s < 12; s++) {
      double[][] g = fillGrads(params, rnd, gradScale);
      StepResult r = adam.step();
      ref.step(g);
      assertThat(r.applied()).isTrue();
      assertThat(r.step()).isEqualTo(s + 1);
      assertThat(r.learningRate()).isEqualTo(schedule.learningRate(s));
      for (int i = 0; i < params.size(); i++) {
        float[] got = params.get(i).values();
        for (int k = 0; k < got.length; k++) {
          assertThat((double) got[k]).as("step %d %s[%d]", s + 1, params.get(i).name(), k)
              .isCloseTo(ref.p[i][k], within(2e-6 * Math.max(1, Math.abs(ref.p[i][k]))));
        }
        float[] m = adam.firstMoment(params.get(i).name());
        float[] v = adam.secondMoment(params.get(i).name());
        // Moments near zero carry float rounding of the gradients they average: tolerances scale
        // with the gradient size, not with the moment itself.
        for (int k = 0; k < m.length; k++) {
          assertThat((double) m[k]).isCloseTo(ref.m[i][k], within(1e-6 * (Math.abs(ref.m[i][k]) + gradScale)));
          assertThat((double) v[k]).isCloseTo(ref.v[i][k], within(1e-5 * (Math.abs(ref.v[i][k]) + 1e-3 * gradScale * gradScale)));
        }
      }
    }
  }

  @Test
  void matchesFloat64ReferenceWithWeightDecayAndWarmup() {
    runAgainstReference(new AdamWConfig(0.9, 0.999, 1e-8, 0.1, Double.POSITIVE_INFINITY),
        new LrSchedule.WarmupConstant(1e-2, 4), 1.0);
  }

  @Test
  void matchesFloat64ReferenceWithClippingAndCosine() {
    runAgainstReference(new AdamWConfig(0.8, 0.95, 1e-6, 0.01, 0.5),
        new LrSchedule.WarmupCosine(5e-2, 2, 10, 1e-3), 3.0);
  }

  @Test
  void matchesFloat64ReferenceWithTinyGradientsWhereEpsilonMatters() {
    runAgainstReference(new AdamWConfig(0.9, 0.999, 1e-3, 0.0, 1.0),
        new LrSchedule.WarmupConstant(1e-3, 0), 1e-4);
  }

  @Test
  void firstStepMovesEachWeightByTheLearningRateAgainstItsGradientSign() {
    // With bias correction, m̂/√v̂ = g/|g| on step 1: every weight moves by lr (ε aside).
    float[] values = {1f, -2f, 3f};
    float[] grads = {0.5f, -7f, 1e-3f};
    AdamW adam = new AdamW(new AdamWConfig(0.9, 0.999, 1e-12, 0.0, Double.POSITIVE_INFINITY),
        new LrSchedule.WarmupConstant(0.01, 0), List.of(new Parameter("w", values, grads)));
    adam.step();
    assertThat(values[0]).isCloseTo(0.99f, within(1e-6f));
    assertThat(values[1]).isCloseTo(-1.99f, within(1e-6f));
    assertThat(values[2]).isCloseTo(2.99f, within(1e-6f));
  }

  @Test
  void weightDecayIsDecoupledAndSkipsNormWeights() {
    // Zero gradients: only the decay acts, multiplying by 1 − lr·λ; the norm weight keeps its value.
    float[] w = {2f};
    float[] norm = {2f};
    AdamW adam = new AdamW(new AdamWConfig(0.9, 0.999, 1e-8, 0.5, 1.0),
        new LrSchedule.WarmupConstant(0.1, 0),
        List.of(new Parameter("layer.weight", w, new float[1]),
            new Parameter("model.layers.0.input_layernorm.weight", norm, new float[1])));
    adam.step();
    assertThat(w[0]).isEqualTo((float) (2f * (float) (1 - 0.1 * 0.5)));
    assertThat(norm[0]).isEqualTo(2f);
  }

  @Test
  void defaultDecayRuleFollowsHuggingFace() {
    assertThat(Parameter.decaysByDefault("model.layers.3.mlp.down_proj.lora_B.weight")).isTrue();
    assertThat(Parameter.decaysByDefault("model.embed_tokens.weight")).isTrue();
    assertThat(Parameter.decaysByDefault("model.norm.weight")).isFalse();
    assertThat(Parameter.decaysByDefault("model.layers.0.post_attention_layernorm.weight")).isFalse();
    assertThat(Parameter.decaysByDefault("score.bias")).isFalse();
  }
}
