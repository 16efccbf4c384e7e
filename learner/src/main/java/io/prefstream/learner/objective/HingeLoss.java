package io.prefstream.learner.objective;

/**
 * The hinge loss of SLiC / RSO (Liu et al. 2023; TRL {@code loss_type="hinge"}):
 * ℓ(h) = max(0, 1 − βh). Pairs already separated by a margin of 1/β give no gradient.
 */
public record HingeLoss(double beta, LengthNormalization normalization) implements PairObjective {
  public HingeLoss {
    PairObjective.requireBeta(beta);
    PairObjective.requireNormalization(normalization);
  }

  public HingeLoss(double beta) {
    this(beta, LengthNormalization.SUM);
  }

  @Override
  public String lossType() {
    return "hinge";
  }

  @Override
  public double pairLoss(double h) {
    return Math.max(0.0, 1 - beta * h);
  }

  @Override
  public double pairLossSlope(double h) {
    // Strictly inside the hinge only: at 1 − βh = 0 the slope is 0, as torch.relu's gradient.
    return 1 - beta * h > 0 ? -beta : 0.0;
  }
}
