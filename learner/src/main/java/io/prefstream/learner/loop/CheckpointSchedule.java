package io.prefstream.learner.loop;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * When the learner checkpoints on its own (besides the boundary a control command forces): after
 * {@code everySteps} applied steps, or — with a step or a re-pin pending — once {@code interval}
 * has passed <em>and</em> the learner has read every batch there is. The clock alone never places
 * a checkpoint between two batches that were both in the log: a version number (what the staleness
 * rule compares examples with) then changes only at a place a replay reaches in the same state,
 * since a restarted learner re-reads the batches after its checkpoint back to back and is not caught
 * up before it has passed every one the crashed run read. Pure state, tested without Kafka
 * ({@code CheckpointScheduleTest}) and over a broker ({@code ReplayOrderTest}).
 */
final class CheckpointSchedule {
  private final int everySteps;
  private final long intervalNanos;
  private final LongSupplier nanoClock;
  private int steps;
  private boolean referencePending;
  private long last;

  CheckpointSchedule(int everySteps, Duration interval, LongSupplier nanoClock) {
    this.everySteps = everySteps;
    this.intervalNanos = interval.toNanos();
    this.nanoClock = nanoClock;
    this.last = nanoClock.getAsLong();
  }

  void stepApplied() {
    steps++;
  }

  void referenceChanged() {
    referencePending = true;
  }

  /** Steps applied since the last checkpoint. */
  int pendingSteps() {
    return steps;
  }

  /** Whether a re-pin waits for its checkpoint (it was read while paused). */
  boolean referencePending() {
    return referencePending;
  }

  /** Whether a checkpoint would record anything new: a step, or a re-pin. */
  boolean pending() {
    return steps > 0 || referencePending;
  }

  /** Due by count, or by time once {@code caughtUp} says every batch there is has been read (asked only then). */
  boolean due(BooleanSupplier caughtUp) {
    if (steps >= everySteps) return true;
    return pending() && nanoClock.getAsLong() - last >= intervalNanos && caughtUp.getAsBoolean();
  }

  void checkpointed() {
    steps = 0;
    referencePending = false;
    last = nanoClock.getAsLong();
  }
}
