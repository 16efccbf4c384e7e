package io.prefstream.model.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks a token from logits: argmax at temperature 0, otherwise softmax(logits / T) restricted to
 * the top-k tokens and then to the smallest set whose probability reaches top-p, sampled with a
 * seeded generator. Ties order by token id, so the result depends only on logits and seed.
 */
public final class Sampler {
  private final SamplingParams params;
  private final SplittableRandom random;

  public Sampler(SamplingParams params) {
    this.params = params;
    this.random = new SplittableRandom(params.seed());
  }

  public int sample(float[] logits) {
    if (params.temperature() == 0) return argmax(logits);
    int v = logits.length;
    Integer[] order = new Integer[v];
    for (int i = 0; i < v; i++) order[i] = i;
    Arrays.sort(order, (a, b) -> {
      int c = Float.compare(logits[b], logits[a]);
      return c != 0 ? c : Integer.compare(a, b);
    });
    int keep = params.topK() > 0 ? Math.min(params.topK(), v) : v;
    double max = logits[order[0]];
    double[] p = new double[keep];
    double sum = 0;
    for (int i = 0; i < keep; i++) {
      p[i] = Math.exp((logits[order[i]] - max) / params.temperature());
      sum += p[i];
    }
    if (params.topP() < 1) {
      double cum = 0;
      int cut = keep;
      for (int i = 0; i < keep; i++) {
        cum += p[i] / sum;
        if (cum >= params.topP()) {
          cut = i + 1;
          break;
        }
      }
      keep = cut;
      sum = 0;
      for (int i = 0; i < keep; i++) sum += p[i];
    }
    double u = random.nextDouble() * sum;
    double acc = 0;
    for (int i = 0; i < keep; i++) {
      acc += p[i];
      if (u < acc) return order[i];
    }
    return order[keep - 1];
  }

  /** The index of the largest logit, the lowest index on ties. */
  public static int argmax(float[] logits) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
}
