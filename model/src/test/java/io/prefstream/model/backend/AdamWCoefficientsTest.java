package io.prefstream.model.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.cpu.WorkerPool;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The AdamW op (the CPU twin of the device kernel) against the learner's formula, written out
 * here as PyTorch's torch.optim.AdamW states it, and the sum of squares the global norm uses.
 */
class AdamWCoefficientsTest {
  private final SplittableRandom rnd = new SplittableRandom(3);

  private float[] random(int n, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
    return a;
  }

  /** The learner's per-element update (io.prefstream.learner.optim.AdamW), scalars formed in double. */
  private static void learnerStep(float[] p, float[] g, float[] m, float[] v, double lr, double b1, double b2,
      double eps, double wd, long t, double clip) {
    double bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
    float gradScale = (float) clip, beta1 = (float) b1, omb1 = (float) (1 - b1), beta2 = (float) b2, omb2 = (float) (1 - b2);
    float stepSize = (float) (lr / bc1), bc2s = (float) Math.sqrt(bc2), e = (float) eps, decay = (float) (1 - lr * wd);
    for (int k = 0; k < p.length; k++) {
      float gk = g[k] * gradScale;
      float mk = beta1 * m[k] + omb1 * gk;
      float vk = beta2 * v[k] + omb2 * gk * gk;
      m[k] = mk;
      v[k] = vk;
      float denom = (float) Math.sqrt(vk) / bc2s + e;
      p[k] = p[k] * decay - stepSize * mk / denom;
    }
  }

  @Test
  void backendUpdateIsBitIdenticalToTheLearnersFormulaOverSeveralSteps() {
    int n = 1003;
    try (Backend be = new CpuBackend(new WorkerPool(1))) {
      float[] p = random(n, 1), m = new float[n], v = new float[n];
      float[] pr = p.clone(), mr = new float[n], vr = new float[n];
      Buf pb = be.weight(p, 17, 59, true), gb = be.alloc(n), mb = be.alloc(n), vb = be.alloc(n);
      for (long t = 1; t <= 4; t++) {
        float[] g = random(n, 3);
        be.upload(gb, g);
        double norm = Math.sqrt(be.sumSquares(gb, n));
        double clip = AdamWCoefficients.clipScale(norm, 1.0);
        assertThat(clip).isLessThan(1.0); // the gradients are large: clipping is exercised
        be.adamwUpdate(pb, gb, mb, vb, n, AdamWCoefficients.of(1e-3, 0.9, 0.999, 1e-8, 0.01, t, clip, true));
        learnerStep(pr, g, mr, vr, 1e-3, 0.9, 0.999, 1e-8, 0.01, t, clip);
      }
      float[] got = new float[n];
      be.download(pb, got);
      assertThat(got).containsExactly(pr);
      be.download(mb, m);
      be.download(vb, v);
      assertThat(m).containsExactly(mr);
      assertThat(v).containsExactly(vr);
    }
  }

  @Test
  void sumSquaresIsAccumulatedInDouble() {
    float[] x = random(5000, 2);
    double ref = 0;
    for (float f : x) ref += (double) f * f;
    try (Backend be = new CpuBackend(new WorkerPool(1))) {
      Buf b = be.alloc(x.length);
      be.upload(b, x);
      assertThat(be.sumSquares(b, x.length)).isEqualTo(ref);
    }
  }

  @Test
  void clipScaleFollowsTheLearner() {
    assertThat(AdamWCoefficients.clipScale(0.5, 1.0)).isEqualTo(1.0);
    assertThat(AdamWCoefficients.clipScale(4.0, 1.0)).isEqualTo(1.0 / (4.0 + 1e-6));
    assertThat(AdamWCoefficients.clipScale(1e9, Double.POSITIVE_INFINITY)).isEqualTo(1.0);
  }

  @Test
  void noDecayLeavesTheDecayFactorAtOneAndStepZeroIsRefused() {
    assertThat(AdamWCoefficients.of(0.1, 0.9, 0.999, 1e-8, 0.5, 1, 1, false).decayFactor()).isEqualTo(1.0f);
    assertThat(AdamWCoefficients.of(0.1, 0.9, 0.999, 1e-8, 0.5, 1, 1, true).decayFactor()).isEqualTo(0.95f);
    assertThatThrownBy(() -> AdamWCoefficients.of(0.1, 0.9, 0.999, 1e-8, 0, 0, 1, true))
        .hasMessageContaining("step t is 0");
  }
}
