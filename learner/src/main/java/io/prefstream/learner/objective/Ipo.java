package io.prefstream.learner.objective;

/**
 * IPO (Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human
 * Preferences", eq. 17; TRL {@code loss_type="ipo"}): ℓ(h) = (h − 1/(2β))², β playing the paper's τ.
 * It regresses the margin to a fixed target instead of pushing it to infinity.
 *
 * <p>By default the log-probs are averaged per token ({@link LengthNormalization#MEAN}), as TRL does
 * for IPO, so the target margin 1/(2β) means the same for short and long responses; pass
 * {@link LengthNormalization#SUM} for the paper's summed form.
 */
public record Ipo(double beta, LengthNormalization normalization) implements PairObjective {
  public Ipo {
    PairObjective.requireBeta(beta);
    PairObjective.requireNormalization(normalization);
  }

  /** IPO on per-token average log-probs, as TRL. */
  public Ipo(double beta) {
    this(beta, LengthNormalization.MEAN);
  }

  @Override
  public String lossType() {
    return "ipo";
  }

  @Override
  public double pairLoss(double h) {
    double d = h - 1 / (2 * beta);
    return d * d;
  }

  @Override
  public double pairLossSlope(double h) {
    return 2 * (h - 1 / (2 * beta));
  }
}
