package io.prefstream.learner.objective;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a pair objective returns for a batch: the mean loss, its derivative with respect to each
 * pair's summed policy log-prob of the chosen and of the rejected response (what the model's backward
 * pass starts from; the reference gets none), and the batch metrics under TRL's names
 * ({@link MetricNames}), in a fixed order.
 */
public record PairResult(double loss, double[] gradPolicyChosen, double[] gradPolicyRejected,
    Map<String, Double> metrics) {

  public PairResult {
    metrics = Collections.unmodifiableMap(new LinkedHashMap<>(metrics));
  }

  /** False when the loss or any gradient is NaN or infinite: the trainer then skips the batch. */
  public boolean isFinite() {
    return Double.isFinite(loss) && allFinite(gradPolicyChosen) && allFinite(gradPolicyRejected);
  }

  static boolean allFinite(double[] a) {
    for (double x : a) {
      if (!Double.isFinite(x)) {
        return false;
      }
    }
    return true;
  }
}
