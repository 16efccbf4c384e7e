package io.prefstream.learner.trainer;

import java.util.Map;

/**
 * What one {@link DpoTrainer#step} did. {@code status} says whether the weights changed; on a skip
 * nothing changed (weights, optimiser moments, step count). {@code examples} counts the examples
 * that entered the loss; {@code droppedStale} and {@code droppedInvalid} those left out (too old
 * under a DROP staleness rule; nothing left to score after tokenisation). Metrics use TRL's names
 * plus {@code grad_norm} and {@code learning_rate} (empty when nothing was computed). Timings split
 * the step into reference forward, policy forward + backward and optimiser update.
 */
public record StepOutcome(Status status, long step, int examples, int droppedStale, int droppedInvalid,
    Map<String, Double> metrics, Timings timings) {

  /** Applied, or why not. */
  public enum Status {
    APPLIED,
    /** No example was left to learn from (all dropped, or an empty batch): nothing to do. */
    EMPTY,
    /** The loss or its gradient with respect to a log-prob was NaN or infinite. */
    SKIPPED_NON_FINITE_LOSS,
    /** A parameter gradient was NaN or infinite. */
    SKIPPED_NON_FINITE_GRAD
  }

  /** Wall-clock nanoseconds per phase. */
  public record Timings(long referenceNanos, long policyNanos, long optimizerNanos) {
    public static final Timings NONE = new Timings(0, 0, 0);
  }

  public StepOutcome {
    metrics = Map.copyOf(metrics);
  }

  public boolean applied() {
    return status == Status.APPLIED;
  }

  public boolean skippedNonFinite() {
    return status == Status.SKIPPED_NON_FINITE_LOSS || status == Status.SKIPPED_NON_FINITE_GRAD;
  }
}
