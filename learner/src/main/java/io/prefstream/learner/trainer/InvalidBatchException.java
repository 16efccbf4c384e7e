package io.prefstream.learner.trainer;

/**
 * A batch that cannot be trained on as it stands, found while its examples are prepared, before
 * any model computation: nothing (weights, optimiser state, step count) has changed. The online
 * learner reads past such a batch and records why. Examples that are invalid one by one (a text
 * the encoder refuses) are left out of their batch instead and counted; and any other exception of
 * a step — a {@link io.prefstream.model.backend.BackendFailure} above all — means the step failed
 * part-way and the trainer's state is no longer trusted.
 */
public final class InvalidBatchException extends RuntimeException {
  public InvalidBatchException(String message, Throwable cause) {
    super(message, cause);
  }
}
