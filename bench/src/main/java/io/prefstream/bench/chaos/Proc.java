package io.prefstream.bench.chaos;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One component of the soak run as an operator runs it: a separate JVM started with the project's
 * CLI ({@code io.prefstream.deploy.cli.Main <command> …}), its stdout and stderr appended to a log
 * file. It is "up" from the moment its CLI printed its one ready line on stdout until it is killed;
 * every interval in which it was not up is kept, so the checks can tell whether a failed request
 * fell into one. Owned by the soak's scheduler thread; {@link #downIntervals} may be read by others.
 */
final class Proc {
  /** A closed or still open interval [from, to) in epoch millis during which the process was not up. */
  record Down(long from, long to) {
    boolean overlaps(long a, long b) {
      return a < to && b >= from;
    }
  }

  private final String name;
  private final List<String> command;
  private final Path log;
  private final Path workDir;
  private Process process;
  private volatile boolean up;
  private volatile String readyLine;
  private final List<Down> downs = new ArrayList<>();
  private long downSince;
  private int starts;
  private int kills;

  Proc(String name, List<String> command, Path workDir, Path log) {
    this.name = name;
    this.command = List.copyOf(command);
    this.workDir = workDir;
    this.log = log;
    this.downSince = System.currentTimeMillis();
  }

  String name() {
    return name;
  }

  /** Starts the process (not waiting for it to be ready). */
  synchronized void start() throws IOException {
    if (process != null && process.isAlive()) throw new IllegalStateException(name + " is already running");
    starts++;
    readyLine = null;
    try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, StandardOpenOption.APPEND))) {
      w.println("==== chaos: start #" + starts + " of " + name + " at " + java.time.Instant.now() + ": "
          + String.join(" ", command));
    }
    ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile())
        .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
    Process p = pb.start();
    process = p;
    Thread reader = new Thread(() -> pump(p), "chaos-stdout-" + name);
    reader.setDaemon(true);
    reader.start();
  }

  private void pump(Process p) {
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        PrintWriter w = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8,
            StandardOpenOption.CREATE, StandardOpenOption.APPEND), true)) {
      String line;
      while ((line = r.readLine()) != null) {
        w.println("[stdout] " + line);
        if (readyLine == null && !line.isBlank()) {
          synchronized (this) {
            if (process == p) {
              readyLine = line.strip();
              markUp();
            }
          }
        }
      }
    } catch (IOException e) {
      // The process died (killed): its pipe closed under us. Nothing to report.
    }
    // stdout closes when the process exits: killed by us (already down) or by itself.
    synchronized (this) {
      if (process == p) markDown();
    }
  }

  private synchronized void markUp() {
    if (!up) {
      downs.add(new Down(downSince, System.currentTimeMillis()));
      up = true;
      notifyAll();
    }
  }

  /** Waits for the ready line; throws naming the log when the process died or the time ran out. */
  synchronized String awaitReady(Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (readyLine == null) {
      if (process == null || !process.isAlive()) {
        throw new IllegalStateException(name + " exited with " + (process == null ? "?" : process.exitValue())
            + " before it was ready; see " + log);
      }
      long left = end - System.nanoTime();
      if (left <= 0) throw new IllegalStateException(name + " not ready within " + timeout + "; see " + log);
      wait(Math.min(TimeUnit.NANOSECONDS.toMillis(left) + 1, 500));
    }
    return readyLine;
  }

  boolean isUp() {
    return up;
  }

  boolean isAlive() {
    Process p = process;
    return p != null && p.isAlive();
  }

  /** SIGKILL (what {@link Process#destroyForcibly()} sends on Linux), then waits for the exit. */
  void kill9() throws InterruptedException {
    stop(true);
    synchronized (this) {
      kills++;
    }
  }

  /** SIGTERM and a wait for a clean exit (SIGKILL after {@code grace}). */
  void terminate(Duration grace) throws InterruptedException {
    Process p;
    synchronized (this) {
      p = process;
      markDown();
    }
    if (p == null) return;
    p.destroy();
    if (!p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
      p.destroyForcibly();
      p.waitFor(30, TimeUnit.SECONDS);
    }
  }

  private void stop(boolean forcibly) throws InterruptedException {
    Process p;
    synchronized (this) {
      p = process;
      markDown();
    }
    if (p == null) return;
    if (forcibly) p.destroyForcibly();
    else p.destroy();
    p.waitFor(30, TimeUnit.SECONDS);
  }

  private synchronized void markDown() {
    if (up) {
      up = false;
      downSince = System.currentTimeMillis();
    }
  }

  /** Every interval in which this process was not up; an open one (down now) ends now. */
  synchronized List<Down> downIntervals() {
    List<Down> out = new ArrayList<>(downs);
    if (!up) out.add(new Down(downSince, Long.MAX_VALUE));
    return out;
  }

  synchronized int starts() {
    return starts;
  }

  synchronized int kills() {
    return kills;
  }

  Path log() {
    return log;
  }
}
