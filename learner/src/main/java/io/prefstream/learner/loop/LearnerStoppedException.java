package io.prefstream.learner.loop;

/**
 * The learner stopped because a training step failed in a way that leaves its in-memory state
 * untrusted — the compute backend failed ({@link io.prefstream.model.backend.BackendFailure}, the
 * cause), or the step threw for a reason other than an invalid batch. Nothing of the failed step or
 * of the steps since the last checkpoint was checkpointed or published; the message names the batch,
 * the step and the version a restart resumes from. {@code prefstream learn} exits non-zero with it.
 */
public final class LearnerStoppedException extends RuntimeException {
  LearnerStoppedException(String message, Throwable cause) {
    super(message, cause);
  }
}
