package io.prefstream.learner.objective;

/**
 * Conservative DPO (Mitchell 2023, "A note on DPO with noisy preferences"; TRL's sigmoid loss with
 * {@code label_smoothing} ε): the labels are assumed flipped with probability ε, so
 * ℓ(h) = −(1−ε) log σ(βh) − ε log σ(−βh). With ε = 0 it is {@link Dpo}. Unlike DPO its minimum is at a
 * finite margin (h = log((1−ε)/ε)/β), which keeps the policy from running away on noisy labels.
 */
public record ConservativeDpo(double beta, double labelSmoothing, LengthNormalization normalization)
    implements PairObjective {
  public ConservativeDpo {
    PairObjective.requireBeta(beta);
    if (!(labelSmoothing >= 0 && labelSmoothing <= 0.5)) {
      throw new IllegalArgumentException("label smoothing = " + labelSmoothing
          + ": expected a probability in [0, 0.5]");
    }
    PairObjective.requireNormalization(normalization);
  }

  public ConservativeDpo(double beta, double labelSmoothing) {
    this(beta, labelSmoothing, LengthNormalization.SUM);
  }

  @Override
  public String lossType() {
    return "sigmoid";
  }

  @Override
  public double pairLoss(double h) {
    double z = beta * h;
    return (1 - labelSmoothing) * StableMath.softplus(-z) + labelSmoothing * StableMath.softplus(z);
  }

  @Override
  public double pairLossSlope(double h) {
    double z = beta * h;
    return beta * (-(1 - labelSmoothing) * StableMath.sigmoid(-z)
        + labelSmoothing * StableMath.sigmoid(z));
  }
}
