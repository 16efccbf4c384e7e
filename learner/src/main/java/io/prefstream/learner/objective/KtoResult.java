package io.prefstream.learner.objective;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@link KtoObjective} returns: the mean loss, ∂L/∂(summed policy log-prob) per example (the
 * mismatched sequences get none: z0 is detached), the reference point z0 used, and the metrics.
 */
public record KtoResult(double loss, double[] gradPolicy, double z0, Map<String, Double> metrics) {

  public KtoResult {
    metrics = Collections.unmodifiableMap(new LinkedHashMap<>(metrics));
  }

  /** False when the loss, z0 or any gradient is NaN or infinite: the trainer then skips the batch. */
  public boolean isFinite() {
    return Double.isFinite(loss) && Double.isFinite(z0) && PairResult.allFinite(gradPolicy);
  }
}
