package io.prefstream.learner.loop;

/**
 * Places in the learner's cycle where {@link LearnerHooks#at} is called, so tests can crash the
 * learner exactly there (by throwing) and check that a restart repeats nothing and loses nothing.
 */
public enum FaultPoint {
  /** After a batch changed the weights in memory, before any checkpoint. */
  AFTER_STEP,
  /** After a checkpoint is durable, before its evaluation and PolicyUpdate. */
  AFTER_CHECKPOINT,
  /** After the PolicyUpdate is published. */
  AFTER_PUBLISH
}
