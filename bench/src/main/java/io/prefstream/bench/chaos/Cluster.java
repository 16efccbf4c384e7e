package io.prefstream.bench.chaos;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The separately started processes of one soak: a broker, the ingest, the learner and two serving
 * replicas, each launched with the project's CLI and the flags an operator would give it (the
 * README's "parts run separately" session, on free ports, with everything under the run's work
 * directory). Ports and directories stay the same across restarts, as a supervisor would keep them.
 */
final class Cluster implements AutoCloseable {
  static final String POLICY = "default";
  static final String ADMIN_TOKEN = "chaos-admin";

  final int brokerPort;
  final int replicaAPort;
  final int replicaBPort;
  final Path checkpoints;
  final Proc broker;
  final Proc ingest;
  final Proc learner;
  final Proc replicaA;
  final Proc replicaB;
  private final ChaosSettings settings;

  Cluster(ChaosSettings s) throws IOException {
    this.settings = s;
    Path logs = Files.createDirectories(s.workDir().resolve("logs"));
    checkpoints = Files.createDirectories(s.workDir().resolve("checkpoints"));
    brokerPort = freePort();
    replicaAPort = freePort();
    replicaBPort = freePort();
    String bootstrap = bootstrap();
    String model = s.model().toAbsolutePath().toString();
    broker = new Proc("broker", cli("broker", "broker", "--port", "" + brokerPort, "--host", "127.0.0.1",
        "--data-dir", s.workDir().resolve("broker").toString()), s.workDir(), logs.resolve("broker.log"));
    ingest = new Proc("ingest", cli("ingest", "ingest", "--bootstrap-servers", bootstrap,
        "--state-dir", s.workDir().resolve("ingest-state").toString(),
        "--metrics-port", "-1",
        "--pairing-window", "4s",
        "--batch-size", "6",
        "--batch-max-age", "1s",
        "--eval-share", "0.2",
        // A killed member is noticed after the session timeout: keep it at the broker's minimum, as
        // IngestCrashRestartTest does, so a restart does not wait 45 s for the old member to expire.
        "--streams-property", "consumer.session.timeout.ms=6000"), s.workDir(), logs.resolve("ingest.log"));
    learner = new Proc("learner", cli("learner", "learn", "--bootstrap-servers", bootstrap,
        "--model", model, "--checkpoints", checkpoints.toString(), "--device", "cpu",
        "--metrics-port", "-1",
        "--checkpoint-every", "" + ChaosSettings.CHECKPOINT_EVERY,
        "--checkpoint-interval", "2s",
        "--eval-pairs", "8",
        // Every setting that changes what a step computes is given explicitly, so the replay check
        // (Replay.trainerConfig) builds the same trainer without reading the CLI's defaults.
        "--loss-type", "sigmoid", "--beta", "0.1", "--learning-rate", "1e-4", "--warmup-steps", "10",
        "--lora-rank", "8", "--lora-alpha", "16", "--lora-seed", "0",
        "--max-length", "" + ChaosSettings.MAX_LENGTH, "--max-prompt-length", "" + ChaosSettings.MAX_PROMPT_LENGTH,
        "--staleness-max-lag", "8", "--staleness-mode", "DOWNWEIGHT", "--stale-weight", "0.5",
        "--max-grad-norm", "1.0", "--weight-decay", "0"), s.workDir(), logs.resolve("learner.log"));
    replicaA = replica("a", replicaAPort, bootstrap, model, logs);
    replicaB = replica("b", replicaBPort, bootstrap, model, logs);
  }

  private Proc replica(String id, int port, String bootstrap, String model, Path logs) {
    return new Proc("replica-" + id, cli("replica-" + id, "serve", "--bootstrap-servers", bootstrap, "--model", model,
        "--checkpoints", checkpoints.toString(), "--device", "cpu", "--host", "127.0.0.1", "--port", "" + port,
        "--metrics-port", "-1", "--replica-id", "chaos-" + id, "--admin-token", ADMIN_TOKEN,
        "--max-concurrent", "32", "--max-new-tokens", "64"), settings.workDir(), logs.resolve("replica-" + id + ".log"));
  }

  String bootstrap() {
    return "127.0.0.1:" + brokerPort;
  }

  List<Proc> all() {
    return List.of(broker, ingest, learner, replicaA, replicaB);
  }

  /**
   * {@code java @<name>.args}: the JVM flags, {@code -cp}, the CLI's main class and the command's
   * flags, written to an argument file. Same JVM, same CLI, same flags as {@code ./prefstream}; the
   * file only keeps the main class off the process's command line, so that a script on the same
   * machine that stops "every io.prefstream.deploy.cli.Main it did not see before" (as the README
   * session check's cleanup does) does not stop the soak's processes from under it.
   */
  private List<String> cli(String name, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.addAll(settings.jvmFlags());
    // Five JVMs and the harness share a small machine: cap each one's heap and JIT threads.
    cmd.add("-Xmx512m");
    cmd.add("-XX:CICompilerCount=2");
    cmd.add("-XX:+UseSerialGC");
    cmd.add("-Djava.io.tmpdir=" + settings.workDir().resolve("tmp"));
    cmd.add("-cp");
    cmd.add(settings.classpath());
    cmd.add(ChaosSettings.MAIN);
    cmd.addAll(List.of(args));
    Path file = settings.workDir().resolve("args").resolve(name + ".args");
    try {
      Files.createDirectories(file.getParent());
      StringBuilder b = new StringBuilder();
      for (String a : cmd) b.append('"').append(a.replace("\\", "\\\\").replace("\"", "\\\"")).append("\"\n");
      Files.writeString(file, b);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return List.of(settings.javaHome().resolve("bin/java").toString(), "@" + file);
  }

  /** Starts every process in order, each once the one it needs is ready. */
  void startAll(Duration timeout) throws IOException, InterruptedException {
    Files.createDirectories(settings.workDir().resolve("tmp"));
    broker.start();
    broker.awaitReady(timeout);
    for (Proc p : List.of(ingest, learner, replicaA, replicaB)) p.start();
    for (Proc p : List.of(ingest, learner, replicaA, replicaB)) p.awaitReady(timeout);
  }

  @Override
  public void close() throws InterruptedException {
    for (Proc p : List.of(replicaA, replicaB, learner, ingest)) {
      if (p.isAlive()) p.terminate(Duration.ofSeconds(30));
    }
    if (broker.isAlive()) broker.terminate(Duration.ofSeconds(30));
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }
}
