package io.prefstream.deploy.cli;

import java.util.List;

/** Closing what a long-running command opened, in order, without losing a failure. */
final class Resources {
  private Resources() {}

  /**
   * Closes every resource in list order; the first failure is thrown after all were tried, with
   * the later ones suppressed into it, so one broken part never leaves the others running.
   */
  static void closeAll(List<AutoCloseable> resources) throws Exception {
    Exception first = null;
    for (AutoCloseable r : resources) {
      try {
        r.close();
      } catch (Exception e) {
        if (first == null) first = e;
        else first.addSuppressed(e);
      }
    }
    if (first != null) throw first;
  }
}
