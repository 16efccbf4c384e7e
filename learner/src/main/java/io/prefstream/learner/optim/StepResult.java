package io.prefstream.learner.optim;

/**
 * The outcome of one {@link AdamW#step()}: whether the update was applied (false when a gradient was
 * non-finite; then nothing changed), the optimiser step count after it, the global gradient norm before
 * clipping (TRL's {@code grad_norm}), the factor the gradients were scaled by, and the learning rate
 * used (0 when skipped).
 */
public record StepResult(boolean applied, long step, double gradNorm, double clipScale,
    double learningRate) {
}
