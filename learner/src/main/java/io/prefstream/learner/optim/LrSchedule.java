package io.prefstream.learner.optim;

/**
 * The learning rate as a function of the optimiser step. {@code step} counts the updates already
 * applied, so the first update uses {@code learningRate(0)}. Warm-up is linear and reaches the peak on
 * its last step: lr(s) = peak·(s+1)/W for s < W. (Hugging Face's schedules use s/W and so spend the
 * first update at lr 0; starting at peak/W instead is deliberate: an online learner should not waste
 * a batch.) A schedule is a pure function of the step, so it needs no state of its own in a checkpoint.
 */
public sealed interface LrSchedule permits LrSchedule.WarmupConstant, LrSchedule.WarmupCosine {

  double learningRate(long step);

  /** Linear warm-up over {@code warmupSteps}, then constant at {@code peak}: the online default. */
  record WarmupConstant(double peak, long warmupSteps) implements LrSchedule {
    public WarmupConstant {
      requirePeak(peak);
      requireSteps("warmup steps", warmupSteps);
    }

    @Override
    public double learningRate(long step) {
      return step < warmupSteps ? peak * (step + 1) / warmupSteps : peak;
    }
  }

  /**
   * Linear warm-up, then a half cosine from {@code peak} at step W down to {@code floor} at
   * {@code totalSteps}, and {@code floor} after that (offline training with a known length).
   */
  record WarmupCosine(double peak, long warmupSteps, long totalSteps, double floor)
      implements LrSchedule {
    public WarmupCosine {
      requirePeak(peak);
      requireSteps("warmup steps", warmupSteps);
      if (totalSteps <= warmupSteps) {
        throw new IllegalArgumentException("total steps = " + totalSteps
            + ": expected more than the " + warmupSteps + " warm-up steps");
      }
      if (!(floor >= 0 && floor <= peak)) {
        throw new IllegalArgumentException("floor = " + floor + ": expected in [0, peak = " + peak
            + "]");
      }
    }

    @Override
    public double learningRate(long step) {
      if (step < warmupSteps) {
        return peak * (step + 1) / warmupSteps;
      }
      if (step >= totalSteps) {
        return floor;
      }
      double progress = (double) (step - warmupSteps) / (totalSteps - warmupSteps);
      return floor + (peak - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
  }

  private static void requirePeak(double peak) {
    if (!(peak > 0) || Double.isInfinite(peak)) {
      throw new IllegalArgumentException("peak learning rate = " + peak
          + ": expected a finite number > 0");
    }
  }

  private static void requireSteps(String what, long steps) {
    if (steps < 0) {
      throw new IllegalArgumentException(what + " = " + steps + ": expected >= 0");
    }
  }
}
