package io.prefstream.bench.chaos;

import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.schemas.topic.Topics;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * The chaos soak ({@code bench/chaos}): simulated users against separately started processes — a
 * broker, the ingest, the learner and two serving replicas — while a schedule drawn from a seed
 * SIGKILLs the ingest, the learner and one replica at a time, and restarts the broker; each killed
 * process is started again as a supervisor would. Then traffic stops, the pipeline drains, and the
 * five {@link Invariants} are checked and printed. Exit code: 0 when every check held, 1 on a
 * violation, 2 when the run itself could not be carried out.
 *
 * <p>Options: {@code --duration 20m --seed 1 --users 4 --kill-every 25s --broker-restart-every 5m
 * --work-dir DIR --model DIR --classpath CP --jvm-flags-file FILE --drain-timeout 3m}.
 */
public final class ChaosSoak {
  /** What a run did and found. */
  record Result(Map<String, Integer> kills, Map<String, Integer> starts, List<String> selfExits, Duration soaked,
      Invariants.Report report) {
    /** SIGKILLs of the ingest, the learner and the replicas (broker restarts not counted). */
    int sigkills() {
      return kills.entrySet().stream().filter(e -> !e.getKey().equals("broker restart"))
          .mapToInt(Map.Entry::getValue).sum();
    }

    boolean passed() {
      return report.violationCount() == 0;
    }
  }

  private final ChaosSettings settings;
  private final PrintStream out;
  private final Map<String, Integer> kills = new LinkedHashMap<>();
  private final List<String> selfExits = new ArrayList<>();

  ChaosSoak(ChaosSettings settings, PrintStream out) {
    this.settings = settings;
    this.out = out;
  }

  public static void main(String[] args) throws Exception {
    ChaosSettings s;
    try {
      s = parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("chaos: " + e.getMessage());
      System.exit(2);
      return;
    }
    Result r;
    try {
      r = new ChaosSoak(s, System.out).run();
    } catch (Exception e) {
      System.err.println("chaos: the run could not be carried out: " + e);
      e.printStackTrace();
      System.exit(2);
      return;
    }
    System.exit(r.passed() ? 0 : 1);
  }

  /** Runs the soak and prints its report. */
  Result run() throws Exception {
    Files.createDirectories(settings.workDir());
    say("work dir " + settings.workDir() + ", seed " + settings.seed() + ", " + settings.duration().toSeconds()
        + " s of traffic, " + settings.users() + " users, a kill every ~" + settings.meanKillInterval().toSeconds()
        + " s, a broker restart every ~" + settings.brokerRestartInterval().toSeconds() + " s");
    Instant began = Instant.now();
    try (Cluster cluster = new Cluster(settings)) {
      cluster.startAll(Duration.ofMinutes(3));
      say("cluster up: broker " + cluster.bootstrap() + ", replicas :" + cluster.replicaAPort + " :"
          + cluster.replicaBPort);
      Traffic traffic = new Traffic(cluster.replicaAPort, cluster.replicaBPort, settings.seed(), settings.users());
      traffic.start();
      InvalidEvents invalid = new InvalidEvents(cluster.bootstrap(), settings.seed());
      invalid.start();
      long soakStart = System.currentTimeMillis();
      chaos(cluster, soakStart + settings.duration().toMillis());
      Duration soaked = Duration.ofMillis(System.currentTimeMillis() - soakStart);
      say("chaos over after " + soaked.toSeconds() + " s; stopping the users");
      traffic.stopAndJoin();
      invalid.stopAndJoin();
      superviseUntilUp(cluster, Duration.ofMinutes(3));
      drain(cluster);

      // The checks read the topics, so the broker stays up until they are done.
      for (Proc p : List.of(cluster.replicaA, cluster.replicaB, cluster.learner, cluster.ingest)) {
        p.terminate(Duration.ofSeconds(60));
      }
      Invariants.Report rep = new Invariants.Report();
      Invariants.eventsExactlyOnce(cluster.bootstrap(), traffic, invalid, rep);
      Invariants.learner(cluster.bootstrap(), settings.model(), cluster.checkpoints, settings.workDir().resolve("replay"),
          rep);
      Invariants.servedVersions(cluster.bootstrap(), traffic, rep);
      Map<String, List<Proc.Down>> downs = Map.of(cluster.replicaA.name(), cluster.replicaA.downIntervals(),
          cluster.replicaB.name(), cluster.replicaB.downIntervals());
      // 3 s after a replica's ready line for its clients to reconnect: the 2026-12-03 long run, with
      // 1 s, saw 22 fast UNAVAILABLEs (of 22,835 attempts), every one 1.1-2.5 s after a ready line,
      // at a load average of about 40 on 2 cores (bench/results/2026-12-03-chaos-soak.md).
      Invariants.availability(traffic, downs, cluster.broker.downIntervals(), 3_000, 20_000, rep);
      Map<String, Integer> starts = new LinkedHashMap<>();
      for (Proc p : cluster.all()) starts.put(p.name(), p.starts());
      Result result = new Result(Map.copyOf(kills), starts, List.copyOf(selfExits), soaked, rep);
      print(result, Duration.between(began, Instant.now()));
      return result;
    }
  }

  // ---- the schedule --------------------------------------------------------------------------

  /** Kills and restarts on a schedule from the seed until {@code endMillis}, restarting anything that died. */
  private void chaos(Cluster c, long endMillis) throws Exception {
    SplittableRandom rnd = new SplittableRandom(settings.seed());
    long now = System.currentTimeMillis();
    long nextKill = now + jitter(rnd, settings.meanKillInterval());
    long nextBroker = now + jitter(rnd, settings.brokerRestartInterval());
    List<Integer> firstKinds = new ArrayList<>(List.of(0, 3, 6));
    java.util.Collections.shuffle(firstKinds, new java.util.Random(settings.seed()));
    while (System.currentTimeMillis() < endMillis) {
      restartDead(c);
      long t = System.currentTimeMillis();
      if (t >= nextBroker) {
        restartBroker(c);
        nextBroker = System.currentTimeMillis() + jitter(rnd, settings.brokerRestartInterval());
      } else if (t >= nextKill) {
        // The first three kills take each kind once, in a seeded order, so that even a short run
        // kills every kind; after that, ingest 30 %, learner 30 %, a replica 40 %.
        int pick = firstKinds.isEmpty() ? rnd.nextInt(10) : firstKinds.removeFirst();
        Proc victim = pick < 3 ? c.ingest : pick < 6 ? c.learner : rnd.nextBoolean() ? c.replicaA : c.replicaB;
        Proc other = victim == c.replicaA ? c.replicaB : victim == c.replicaB ? c.replicaA : null;
        // Users retry on the other replica: never take both down at once.
        if (other != null && !other.isUp()) victim = c.learner;
        long restartDelay = rnd.nextLong(3_000);
        kill(victim);
        Thread.sleep(restartDelay);
        victim.start();
        nextKill = System.currentTimeMillis() + jitter(rnd, settings.meanKillInterval());
      }
      Thread.sleep(200);
    }
  }

  private static long jitter(SplittableRandom rnd, Duration mean) {
    return (long) (mean.toMillis() * (0.5 + rnd.nextDouble()));
  }

  private void kill(Proc p) throws InterruptedException {
    say("SIGKILL " + p.name() + (p.isUp() ? "" : " (still starting)"));
    p.kill9();
    kills.merge(p.name().startsWith("replica") ? "replica" : p.name(), 1, Integer::sum);
  }

  private void restartBroker(Cluster c) throws Exception {
    say("restarting the broker (SIGTERM, start again on the same port and data)");
    c.broker.terminate(Duration.ofSeconds(60));
    kills.merge("broker restart", 1, Integer::sum);
    for (int attempt = 1; ; attempt++) {
      c.broker.start();
      try {
        c.broker.awaitReady(Duration.ofMinutes(2));
        return;
      } catch (IllegalStateException e) {
        // Killed from outside while starting, or too slow on a loaded machine: a supervisor tries again.
        if (attempt == 3) throw e;
        selfExits.add("broker did not come up (" + e.getMessage() + ")");
        say("broker did not come up (" + e.getMessage() + "); starting it again");
        if (c.broker.isAlive()) c.broker.kill9();
      }
    }
  }

  /** Restarts a component that exited by itself (a supervisor's job), noting it. */
  private void restartDead(Cluster c) throws IOException {
    for (Proc p : c.all()) {
      if (!p.isAlive()) {
        String note = p.name() + " exited by itself at " + Instant.now() + " (see " + p.log() + ")";
        selfExits.add(note);
        say(note + "; starting it again");
        p.start();
      }
    }
  }

  private void superviseUntilUp(Cluster c, Duration timeout) throws Exception {
    long end = System.nanoTime() + timeout.toNanos();
    while (!c.all().stream().allMatch(Proc::isUp)) {
      if (System.nanoTime() > end) throw new IllegalStateException("not every process came back within " + timeout);
      restartDead(c);
      Thread.sleep(500);
    }
  }

  // ---- drain -----------------------------------------------------------------------------------

  /**
   * Waits until the ingest has read every event (its group's committed offsets at the end of
   * prefstream.events), the pairing window has closed, and the learner's newest checkpoint sits at
   * the end of prefstream.batches, unchanged across two looks. A learner that fell behind during
   * the chaos (each kill costs it a restart and the batches since its last checkpoint) is given the
   * time it needs as long as its checkpoints advance; {@code --drain-timeout} is how long the drain
   * waits without progress. A timeout is not an error here: the checks then say what was left undone.
   */
  private void drain(Cluster c) throws Exception {
    long start = System.currentTimeMillis();
    long deadline = start + settings.drainTimeout().toMillis();
    long hardStop = start + Math.max(settings.drainTimeout().toMillis(), Duration.ofMinutes(30).toMillis());
    Map<String, Long> lastEnd = null;
    Map<String, Long> lastLearner = null;
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, c.bootstrap());
    try (Admin admin = Admin.create(p)) {
      while (System.currentTimeMillis() < Math.min(deadline, hardStop)) {
        restartDead(c);
        Thread.sleep(2_000);
        Map<String, Long> events = TopicReader.endOffsets(c.bootstrap(), Topics.EVENTS);
        Map<TopicPartition, OffsetAndMetadata> committed = admin
            .listConsumerGroupOffsets(IngestConfig.DEFAULT_APPLICATION_ID).partitionsToOffsetAndMetadata().get();
        long lag = 0;
        for (Map.Entry<String, Long> e : events.entrySet()) {
          OffsetAndMetadata m = committed.entrySet().stream()
              .filter(x -> (x.getKey().topic() + "-" + x.getKey().partition()).equals(e.getKey()))
              .map(Map.Entry::getValue).findFirst().orElse(null);
          lag += e.getValue() - (m == null ? 0 : m.offset());
        }
        Map<String, Long> batchesEnd = TopicReader.pastLastRecord(TopicReader.readAll(c.bootstrap(), Topics.BATCHES));
        Map<String, Long> learnerAt = newestCheckpointOffsets(c.checkpoints);
        boolean windowsClosed = System.currentTimeMillis() - start > 8_000;
        boolean caughtUp = learnerAt.entrySet().containsAll(batchesEnd.entrySet());
        say("drain: ingest lag " + lag + ", batches end " + batchesEnd + ", learner checkpoint at " + learnerAt);
        if (lag <= 0 && windowsClosed && caughtUp && batchesEnd.equals(lastEnd)) return;
        if (lastLearner != null && !learnerAt.equals(lastLearner)) {
          deadline = System.currentTimeMillis() + settings.drainTimeout().toMillis();
        }
        lastEnd = batchesEnd;
        lastLearner = learnerAt;
      }
    }
    say("drain: not settled (no progress for " + settings.drainTimeout() + ", or 30 minutes in all); checking what"
        + " there is");
  }

  private static Map<String, Long> newestCheckpointOffsets(Path checkpoints) throws IOException {
    Path dir = checkpoints.resolve(Cluster.POLICY);
    if (!Files.isDirectory(dir)) return Map.of();
    long newest = -1;
    try (var s = Files.list(dir)) {
      for (Path v : s.toList()) {
        String n = v.getFileName().toString();
        if (n.chars().allMatch(Character::isDigit) && Files.exists(v.resolve(TrainerState.FILE))) {
          newest = Math.max(newest, Long.parseLong(n));
        }
      }
    }
    if (newest < 0) return Map.of();
    Path state = dir.resolve(Long.toString(newest)).resolve(TrainerState.FILE);
    return TrainerState.fromJson(Files.readAllBytes(state), state.toString()).offsets();
  }

  // ---- report ----------------------------------------------------------------------------------

  private void print(Result r, Duration wall) {
    out.println();
    out.println("==== prefstream chaos soak: seed " + settings.seed() + ", " + r.soaked().toSeconds() + " s of chaos, "
        + wall.toSeconds() + " s in all ====");
    out.println("kills:    " + r.sigkills() + " SIGKILLs " + new TreeMap<>(withoutBroker(r.kills()))
        + ", broker restarts " + r.kills().getOrDefault("broker restart", 0));
    out.println("starts:   " + r.starts());
    out.println("self-exits: " + (r.selfExits().isEmpty() ? "none" : r.selfExits()));
    r.report().figures.forEach((k, v) -> out.println("  " + k + ": " + v));
    out.println("invariants:");
    for (String check : List.of(Invariants.EXACTLY_ONCE_EVENTS, Invariants.BATCHES_ONCE, Invariants.REPLAY,
        Invariants.ROLLOUT, Invariants.AVAILABILITY)) {
      List<String> v = r.report().violations.getOrDefault(check, List.of());
      out.println("  [" + (v.isEmpty() ? "ok" : "VIOLATED") + "] " + check);
      for (String line : v) out.println("      - " + line);
    }
    out.println(r.passed() ? "RESULT: 0 violations" : "RESULT: " + r.report().violationCount() + " violations");
    out.flush();
  }

  private static Map<String, Integer> withoutBroker(Map<String, Integer> kills) {
    Map<String, Integer> m = new LinkedHashMap<>(kills);
    m.remove("broker restart");
    return m;
  }

  private void say(String line) {
    out.println("[chaos " + Instant.now() + "] " + line);
    out.flush();
  }

  // ---- options -------------------------------------------------------------------------------

  static ChaosSettings parse(String[] args) {
    Map<String, String> o = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("expected --option value pairs, got " + Arrays.toString(args));
      }
      o.put(args[i].substring(2), args[++i]);
    }
    Path root = Path.of(o.getOrDefault("root", ".")).toAbsolutePath().normalize();
    long seed = Long.parseLong(o.getOrDefault("seed", "1"));
    Path work = Path.of(o.getOrDefault("work-dir",
        root.resolve("bench/results/tmp/chaos-" + seed + "-" + System.currentTimeMillis()).toString()));
    Path flagsFile = Path.of(o.getOrDefault("jvm-flags-file", root.resolve("deploy/target/jvm.flags").toString()));
    String cp = o.getOrDefault("classpath", root.resolve("deploy/target/prefstream.jar") + ":"
        + root.resolve("deploy/target/lib") + "/*");
    ChaosSettings s = new ChaosSettings(duration(o.getOrDefault("duration", "20m")), seed,
        Integer.parseInt(o.getOrDefault("users", "4")), duration(o.getOrDefault("kill-every", "25s")),
        duration(o.getOrDefault("broker-restart-every", "5m")), work.toAbsolutePath(),
        Path.of(o.getOrDefault("model", root.resolve("models/assistant-tiny").toString())).toAbsolutePath(),
        Path.of(o.getOrDefault("java-home", System.getProperty("java.home"))), jvmFlags(flagsFile), cp,
        duration(o.getOrDefault("drain-timeout", "2m")));
    o.keySet().removeAll(List.of("root", "seed", "work-dir", "jvm-flags-file", "classpath", "duration", "users",
        "kill-every", "broker-restart-every", "model", "java-home", "drain-timeout"));
    if (!o.isEmpty()) throw new IllegalArgumentException("unknown options " + o.keySet());
    return s;
  }

  /** The project's JVM flags (the file the deploy build writes), or the ones the CLI needs when absent. */
  static List<String> jvmFlags(Path file) {
    try {
      if (Files.exists(file)) return List.of(Files.readString(file).strip().split("\\s+"));
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage());
    }
    return List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED");
  }

  /** 90s, 20m, 1h, 500ms. */
  static Duration duration(String s) {
    String t = s.strip().toLowerCase(java.util.Locale.ROOT);
    if (t.endsWith("ms")) return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
    long n = Long.parseLong(t.substring(0, t.length() - 1));
    return switch (t.charAt(t.length() - 1)) {
      case 's' -> Duration.ofSeconds(n);
      case 'm' -> Duration.ofMinutes(n);
      case 'h' -> Duration.ofHours(n);
      default -> throw new IllegalArgumentException("not a duration: " + s + " (use 90s, 20m, 1h or 500ms)");
    };
  }
}
