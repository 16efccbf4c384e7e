package io.prefstream.learner.loop;

import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.TrainingBatch;

/**
 * Test seams of the learner loop; production uses {@link #NONE}. A hook that throws stops the loop
 * there as a crash would (nothing after that point runs; resources are closed).
 */
public interface LearnerHooks {
  LearnerHooks NONE = new LearnerHooks() {};

  /** Called at each fault point with the optimiser step count at that moment. */
  default void at(FaultPoint point, long step) {}

  /** Called before each training step on {@code batch}. */
  default void beforeStep(TrainingBatch batch, DpoTrainer trainer) {}
}
