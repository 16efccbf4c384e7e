package io.prefstream.model.llama;

import io.prefstream.model.config.Rope;
import io.prefstream.model.config.RopeScaling;

/**
 * Float64 reference implementations of every op, written plainly from the definitions (HF Llama
 * semantics), used to check the float32 kernels and, through finite differences, their backward.
 */
public final class Ref {
  private Ref() {}

  /** y[n,out] = x[n,in]·W[out,in]ᵀ + b. */
  public static double[] linear(double[] x, double[] w, double[] b, int n, int in, int out) {
    double[] y = new double[n * out];
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < out; o++) {
        double s = b == null ? 0 : b[o];
        for (int k = 0; k < in; k++) s += x[i * in + k] * w[o * in + k];
        y[i * out + o] = s;
      }
    }
    return y;
  }

  public static double[] rmsnorm(double[] x, double[] w, int n, int c, double eps) {
    double[] y = new double[n * c];
    for (int i = 0; i < n; i++) {
      double ss = 0;
      for (int j = 0; j < c; j++) ss += x[i * c + j] * x[i * c + j];
      double r = 1 / Math.sqrt(ss / c + eps);
      for (int j = 0; j < c; j++) y[i * c + j] = x[i * c + j] * r * w[j];
    }
    return y;
  }

  public static double[] rope(double[] x, int[] pos, int n, int heads, int hd, double theta) {
    return rope(x, pos, n, heads, hd, inverseFrequencies(Rope.unscaled(theta), hd));
  }

  /** rotate_half RoPE where pair j of each head turns by pos · invFreq[j]. */
  public static double[] rope(double[] x, int[] pos, int n, int heads, int hd, double[] invFreq) {
    double[] y = x.clone();
    int half = hd / 2;
    for (int i = 0; i < n; i++) {
      for (int h = 0; h < heads; h++) {
        int o = (i * heads + h) * hd;
        for (int j = 0; j < half; j++) {
          double ang = pos[i] * invFreq[j];
          double a = x[o + j], b = x[o + j + half];
          y[o + j] = a * Math.cos(ang) - b * Math.sin(ang);
          y[o + j + half] = b * Math.cos(ang) + a * Math.sin(ang);
        }
      }
    }
    return y;
  }

  /**
   * Inverse frequencies of a rope's pairs, written apart from the production builder: the base
   * frequency as exp(−ln θ · 2j/d), and Llama 3's rescaling as a clamped blend in r = L·f/(2π), the
   * turns pair j makes over the original context L: s = clamp((r − low)/(high − low), 0, 1), f' =
   * f·(s + (1 − s)/factor).
   */
  public static double[] inverseFrequencies(Rope rope, int hd) {
    double[] f = new double[hd / 2];
    for (int j = 0; j < f.length; j++) {
      double base = baseFrequency(rope.theta(), j, hd);
      f[j] = switch (rope.scaling()) {
        case RopeScaling.Unscaled u -> base;
        case RopeScaling.Linear l -> base / l.factor();
        case RopeScaling.Llama3 l ->
            llama3Frequency(base, l.factor(), l.lowFreqFactor(), l.highFreqFactor(), l.originalMaxPositions());
      };
    }
    return f;
  }

  /** exp(−ln θ · 2j/d): the unscaled inverse frequency of pair j. */
  public static double baseFrequency(double theta, int j, int hd) {
    return Math.exp(-Math.log(theta) * 2 * j / hd);
  }

  /** Llama 3's rescaling of one inverse frequency, as the clamped blend described at {@link #inverseFrequencies}. */
  public static double llama3Frequency(double base, double factor, double low, double high, double original) {
    double turns = original * base / (2 * Math.PI);
    double s = Math.clamp((turns - low) / (high - low), 0.0, 1.0);
    return base * (s + (1 - s) / factor);
  }

  /** Causal GQA attention over consecutive sequences of the given lengths. */
  public static double[] attention(double[] q, double[] k, double[] v, int[] lens, int heads, int kvHeads, int hd) {
    int n = 0;
    for (int l : lens) n += l;
    int qd = heads * hd, kd = kvHeads * hd, group = heads / kvHeads;
    double[] out = new double[n * qd];
    double scale = 1 / Math.sqrt(hd);
    int st = 0;
    for (int len : lens) {
      for (int h = 0; h < heads; h++) {
        int g = h / group;
        for (int i = 0; i < len; i++) {
          double[] s = new double[i + 1];
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j <= i; j++) {
            double d = 0;
            for (int t = 0; t < hd; t++) d += q[(st + i) * qd + h * hd + t] * k[(st + j) * kd + g * hd + t];
            s[j] = d * scale;
            max = Math.max(max, s[j]);
          }
          double sum = 0;
          for (int j = 0; j <= i; j++) {
            s[j] = Math.exp(s[j] - max);
            sum += s[j];
          }
          for (int t = 0; t < hd; t++) {
            double o = 0;
            for (int j = 0; j <= i; j++) o += s[j] / sum * v[(st + j) * kd + g * hd + t];
            out[(st + i) * qd + h * hd + t] = o;
          }
        }
      }
      st += len;
    }
    return out;
  }

  public static double[] swiglu(double[] g, double[] u) {
    double[] h = new double[g.length];
    for (int i = 0; i < g.length; i++) h[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
    return h;
  }

  /** log softmax(row)[target]. */
  public static double logSoftmaxAt(double[] logits, int off, int vocab, int target) {
    double max = Double.NEGATIVE_INFINITY;
    for (int j = 0; j < vocab; j++) max = Math.max(max, logits[off + j]);
    double sum = 0;
    for (int j = 0; j < vocab; j++) sum += Math.exp(logits[off + j] - max);
    return logits[off + target] - max - Math.log(sum);
  }

  // ---- helpers ----

  public static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) d[i] = a[i];
    return d;
  }

  public static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }

  /** ‖a − b‖ / max(‖b‖, tiny). */
  public static double relErr(float[] a, double[] b) {
    double num = 0, den = 0;
    for (int i = 0; i < a.length; i++) {
      num += (a[i] - b[i]) * (a[i] - b[i]);
      den += b[i] * b[i];
    }
    return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
  }

  /** A scalar function of a parameter vector, for finite differences. */
  public interface Fn {
    double eval(double[] x);
  }

  /** Central differences at every stride-th element of x (to keep large checks fast). */
  public static double[] fdGradSampled(Fn f, double[] x, double h, int stride) {
    double[] g = new double[(x.length + stride - 1) / stride];
    for (int i = 0, s = 0; i < x.length; i += stride, s++) {
      double keep = x[i];
      x[i] = keep + h;
      double up = f.eval(x);
      x[i] = keep - h;
      double down = f.eval(x);
      x[i] = keep;
      g[s] = (up - down) / (2 * h);
    }
    return g;
  }

  /** Every stride-th element of a (matching {@link #fdGradSampled}). */
  public static float[] sample(float[] a, int stride) {
    float[] out = new float[(a.length + stride - 1) / stride];
    for (int i = 0, s = 0; i < a.length; i += stride, s++) out[s] = a[i];
    return out;
  }

  /** Central differences of f at x for every element (f(x + h) − f(x − h)) / 2h, in float64. */
  public static double[] fdGrad(Fn f, double[] x, double h) {
    double[] g = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double keep = x[i];
      x[i] = keep + h;
      double up = f.eval(x);
      x[i] = keep - h;
      double down = f.eval(x);
      x[i] = keep;
      g[i] = (up - down) / (2 * h);
    }
    return g;
  }
}
