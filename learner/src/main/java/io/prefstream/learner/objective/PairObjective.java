package io.prefstream.learner.objective;

import java.util.Locale;

/**
 * A DPO-family objective over preference pairs. Each variant is a function ℓ(h) of the pair's
 * log-ratio margin h = (log π(y_c) − log π_ref(y_c)) − (log π(y_r) − log π_ref(y_r)) (TRL's
 * {@code logits}), with the log-probs first scaled per {@link #normalization()}.
 *
 * <p>The batch loss is L = (1/N) Σ_i w_i ℓ(h_i) over the N pairs, w_i the pair's weight. Dividing by N,
 * not by Σ w_i, is deliberate: a down-weighted (stale) example contributes less even when the whole
 * batch is stale, and with all weights 1 the loss equals TRL's {@code losses.mean()}.
 * {@link #evaluate} returns L, ∂L/∂(policy log-prob) per sequence and the metrics.
 */
public sealed interface PairObjective permits Dpo, ConservativeDpo, Ipo, HingeLoss, RobustDpo {

  /** TRL's {@code loss_type} for this objective (conservative DPO is TRL's "sigmoid" with smoothing). */
  String lossType();

  /** The β of the objective: the inverse temperature, or IPO's regulariser τ. */
  double beta();

  /** How the summed log-probs are scaled before h is formed. */
  LengthNormalization normalization();

  /** ℓ(h) for one pair. */
  double pairLoss(double h);

  /** dℓ/dh for one pair (for the hinge: 0 at the kink, as PyTorch's relu). */
  double pairLossSlope(double h);

  /** Loss, gradients and metrics for a batch. */
  default PairResult evaluate(PreferenceBatch batch) {
    return PairEvaluator.evaluate(this, batch);
  }

  /**
   * The objective named by TRL's {@code loss_type} and {@code label_smoothing}: "sigmoid" (DPO, or
   * conservative DPO when smoothing > 0), "robust", "hinge", "ipo" (length-averaged, as TRL).
   */
  static PairObjective of(String lossType, double beta, double labelSmoothing) {
    return of(lossType, beta, labelSmoothing, null);
  }

  /**
   * As {@link #of(String, double, double)} with an explicit normalisation ({@code null}: each
   * objective's default, which is per-token averaging for IPO and summed log-probs for the others).
   */
  static PairObjective of(String lossType, double beta, double labelSmoothing,
      LengthNormalization normalization) {
    PairObjective objective = defaultFor(lossType, beta, labelSmoothing);
    if (normalization == null || normalization == objective.normalization()) {
      return objective;
    }
    return switch (objective) {
      case Dpo d -> new Dpo(d.beta(), normalization);
      case ConservativeDpo c -> new ConservativeDpo(c.beta(), c.labelSmoothing(), normalization);
      case RobustDpo r -> new RobustDpo(r.beta(), r.labelSmoothing(), normalization);
      case HingeLoss h -> new HingeLoss(h.beta(), normalization);
      case Ipo i -> new Ipo(i.beta(), normalization);
    };
  }

  private static PairObjective defaultFor(String lossType, double beta, double labelSmoothing) {
    String type = lossType == null ? "" : lossType.trim().toLowerCase(Locale.ROOT);
    return switch (type) {
      case "sigmoid", "dpo" -> labelSmoothing == 0
          ? new Dpo(beta) : new ConservativeDpo(beta, labelSmoothing);
      case "robust" -> new RobustDpo(beta, labelSmoothing);
      case "hinge" -> requireNoSmoothing(new HingeLoss(beta), labelSmoothing);
      case "ipo" -> requireNoSmoothing(new Ipo(beta), labelSmoothing);
      default -> throw new IllegalArgumentException("unknown loss type '" + lossType
          + "': expected one of sigmoid, robust, hinge, ipo");
    };
  }

  private static PairObjective requireNoSmoothing(PairObjective objective, double labelSmoothing) {
    if (labelSmoothing != 0) {
      throw new IllegalArgumentException("label smoothing " + labelSmoothing + " is not defined for "
          + objective.lossType() + "; expected 0");
    }
    return objective;
  }

  static void requireBeta(double beta) {
    if (!(beta > 0) || Double.isInfinite(beta)) {
      throw new IllegalArgumentException("beta = " + beta + ": expected a finite number > 0");
    }
  }

  static LengthNormalization requireNormalization(LengthNormalization normalization) {
    if (normalization == null) {
      throw new IllegalArgumentException("normalization is missing: expected SUM or MEAN");
    }
    return normalization;
  }
}
