package io.prefstream.learner.objective;

/**
 * DPO's sigmoid loss (Rafailov et al. 2023, eq. 7; TRL {@code loss_type="sigmoid"}):
 * ℓ(h) = −log σ(βh) = softplus(−βh).
 */
public record Dpo(double beta, LengthNormalization normalization) implements PairObjective {
  public Dpo {
    PairObjective.requireBeta(beta);
    PairObjective.requireNormalization(normalization);
  }

  /** DPO on summed log-probs, as the paper and TRL. */
  public Dpo(double beta) {
    this(beta, LengthNormalization.SUM);
  }

  @Override
  public String lossType() {
    return "sigmoid";
  }

  @Override
  public double pairLoss(double h) {
    return StableMath.softplus(-beta * h);
  }

  @Override
  public double pairLossSlope(double h) {
    return -beta * StableMath.sigmoid(-beta * h);
  }
}
