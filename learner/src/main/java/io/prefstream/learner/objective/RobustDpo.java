package io.prefstream.learner.objective;

/**
 * Robust DPO (Chowdhury et al. 2024, "Provably Robust DPO"; TRL {@code loss_type="robust"}) for
 * labels flipped with a known probability ε < 1/2:
 * ℓ(h) = ((1−ε)(−log σ(βh)) − ε(−log σ(−βh))) / (1−2ε). It is the unbiased estimator of the clean DPO
 * loss: (1−ε) ℓ(h) + ε ℓ(−h) = −log σ(βh). With ε = 0 it is {@link Dpo}. Note it is unbounded below
 * for ε > 0 (as in the paper and TRL).
 */
public record RobustDpo(double beta, double labelSmoothing, LengthNormalization normalization)
    implements PairObjective {
  public RobustDpo {
    PairObjective.requireBeta(beta);
    if (!(labelSmoothing >= 0 && labelSmoothing < 0.5)) {
      throw new IllegalArgumentException("label smoothing = " + labelSmoothing
          + ": expected a flip probability in [0, 0.5)");
    }
    PairObjective.requireNormalization(normalization);
  }

  public RobustDpo(double beta, double labelSmoothing) {
    this(beta, labelSmoothing, LengthNormalization.SUM);
  }

  @Override
  public String lossType() {
    return "robust";
  }

  @Override
  public double pairLoss(double h) {
    double z = beta * h;
    return ((1 - labelSmoothing) * StableMath.softplus(-z) - labelSmoothing * StableMath.softplus(z))
        / (1 - 2 * labelSmoothing);
  }

  @Override
  public double pairLossSlope(double h) {
    double z = beta * h;
    return beta * (-(1 - labelSmoothing) * StableMath.sigmoid(-z)
        - labelSmoothing * StableMath.sigmoid(z)) / (1 - 2 * labelSmoothing);
  }
}
