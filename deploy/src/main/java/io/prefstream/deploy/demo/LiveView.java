package io.prefstream.deploy.demo;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * The demo's terminal view: one line per update with the loop's progress (events, pairs, batches,
 * learner steps, the version served) and the liked-reply rate over the trailing window next to the
 * baseline. On an interactive terminal the line is redrawn in place; otherwise (logs, CI) a new line
 * is printed every {@code every} updates.
 */
public final class LiveView {
  private final PrintWriter out;
  private final boolean inPlace;
  private final int every;
  private int updates;

  public LiveView(PrintWriter out, boolean inPlace, int every) {
    this.out = out;
    this.inPlace = inPlace;
    this.every = Math.max(1, every);
  }

  /** Shows the state in {@code s}, with the baseline rate (NaN: not known yet) and the window length. */
  public void show(DemoTimeline.Sample s, double baseline, long baselineReplies, long windowSeconds) {
    updates++;
    if (!inPlace && updates % every != 0) return;
    String line = line(s, baseline, baselineReplies, windowSeconds);
    if (inPlace) {
      out.print("\r" + line + "\u001b[K");
    } else {
      out.println(line);
    }
    out.flush();
  }

  /** Ends an in-place line so that what follows starts on its own. */
  public void finish() {
    if (inPlace) {
      out.println();
      out.flush();
    }
  }

  static String line(DemoTimeline.Sample s, double baseline, long baselineReplies, long windowSeconds) {
    return String.format(Locale.ROOT,
        "[%4ds] events %6d | pairs %5d | batches %4d | steps %4d | serving v%-3d | liked %s (last %ds, %d replies) | baseline %s (%d)",
        s.atMillis() / 1000, s.events(), s.pairs(), s.batches(), s.steps(), s.servedVersion(),
        percent(s.windowRate()), windowSeconds, s.windowReplies(), percent(baseline), baselineReplies);
  }

  static String percent(double rate) {
    return Double.isNaN(rate) ? "  -  " : String.format(Locale.ROOT, "%4.1f%%", 100 * rate);
  }
}
