package io.prefstream.learner.objective;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An SFT (negative log-likelihood) term on the chosen or desirable responses, added to any objective's
 * result: α · (1/N) Σ_i w_i (−log π(y_i|x_i) / tokens_i), N the batch's size (pairs, or all KTO
 * examples) and the sum over chosen responses (KTO: desirable ones). It anchors the policy's absolute
 * likelihood of preferred responses, which pure DPO lets drift down (RPO, Pang et al. 2024, uses the
 * same term; TRL's {@code rpo_alpha}). The unscaled mean NLL is reported as {@code nll_loss}.
 */
public record SftTerm(double alpha) {
  public SftTerm {
    if (!(alpha >= 0) || Double.isInfinite(alpha)) {
      throw new IllegalArgumentException("alpha = " + alpha + ": expected a finite number >= 0");
    }
  }

  /** The pair result with the term added to the loss and to ∂L/∂(policy chosen log-prob). */
  public PairResult addTo(PairResult result, PreferenceBatch batch) {
    int n = batch.size();
    double[] gradChosen = result.gradPolicyChosen().clone();
    double weighted = 0;
    double nll = 0;
    for (int i = 0; i < n; i++) {
      int len = batch.chosenTokens()[i];
      double w = batch.weights()[i];
      double perToken = -batch.policyChosen()[i] / len;
      nll += perToken;
      if (w != 0) {
        weighted += w * perToken;
        gradChosen[i] += -alpha * w / (n * (double) len);
      }
    }
    double loss = result.loss() + alpha * weighted / n;
    return new PairResult(loss, gradChosen, result.gradPolicyRejected().clone(),
        withNll(result.metrics(), loss, nll / n));
  }

  /** The KTO result with the term (over desirable examples) added to the loss and gradients. */
  public KtoResult addTo(KtoResult result, KtoBatch batch) {
    int n = batch.size();
    double[] grad = result.gradPolicy().clone();
    double weighted = 0;
    double nll = 0;
    int desirable = 0;
    for (int i = 0; i < n; i++) {
      if (!batch.desirable()[i]) {
        continue;
      }
      int len = batch.tokens()[i];
      double w = batch.weights()[i];
      double perToken = -batch.policy()[i] / len;
      nll += perToken;
      desirable++;
      if (w != 0) {
        weighted += w * perToken;
        grad[i] += -alpha * w / (n * (double) len);
      }
    }
    double loss = result.loss() + alpha * weighted / n;
    Map<String, Double> metrics = desirable == 0
        ? withLoss(result.metrics(), loss) : withNll(result.metrics(), loss, nll / desirable);
    return new KtoResult(loss, grad, result.z0(), metrics);
  }

  private static Map<String, Double> withNll(Map<String, Double> metrics, double loss, double nll) {
    Map<String, Double> m = withLoss(metrics, loss);
    m.put(MetricNames.NLL_LOSS, nll);
    return m;
  }

  private static Map<String, Double> withLoss(Map<String, Double> metrics, double loss) {
    Map<String, Double> m = new LinkedHashMap<>(metrics);
    m.put(MetricNames.LOSS, loss);
    return m;
  }
}
