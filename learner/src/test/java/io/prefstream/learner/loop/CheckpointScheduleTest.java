package io.prefstream.learner.loop;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/** When the learner checkpoints on its own: by count at once, by time only once caught up. */
class CheckpointScheduleTest {
  private final AtomicLong now = new AtomicLong(1_000);
  private final CheckpointSchedule schedule = new CheckpointSchedule(3, Duration.ofNanos(100), now::get);
  private final AtomicInteger asked = new AtomicInteger();

  private BooleanSupplier caughtUp(boolean answer) {
    return () -> {
      asked.incrementAndGet();
      return answer;
    };
  }

  @Test
  void isDueAfterTheConfiguredStepsWhetherOrNotTheInputIsCaughtUp() {
    schedule.stepApplied();
    schedule.stepApplied();
    assertThat(schedule.due(caughtUp(false))).isFalse();
    schedule.stepApplied();
    assertThat(schedule.due(caughtUp(false))).isTrue();
    schedule.checkpointed();
    assertThat(schedule.pending()).isFalse();
    assertThat(schedule.pendingSteps()).isZero();
  }

  @Test
  void theIntervalMakesAPendingStepDueOnlyOnceEveryBatchThereIsHasBeenRead() {
    schedule.stepApplied();
    now.addAndGet(99);
    assertThat(schedule.due(caughtUp(true))).isFalse();
    assertThat(asked).as("the broker is asked only once the interval has passed").hasValue(0);
    now.addAndGet(1);
    // Behind the log (a replay re-reading batches): the clock alone places no checkpoint.
    assertThat(schedule.due(caughtUp(false))).isFalse();
    assertThat(schedule.due(caughtUp(true))).isTrue();
    schedule.checkpointed();
    now.addAndGet(500);
    assertThat(schedule.due(caughtUp(true))).as("nothing pending").isFalse();
  }

  @Test
  void aPinReadWhilePausedIsPendingUntilItsCheckpoint() {
    schedule.referenceChanged();
    assertThat(schedule.referencePending()).isTrue();
    assertThat(schedule.pending()).isTrue();
    assertThat(schedule.pendingSteps()).isZero();
    schedule.checkpointed();
    assertThat(schedule.referencePending()).isFalse();
    assertThat(schedule.pending()).isFalse();
  }
}
