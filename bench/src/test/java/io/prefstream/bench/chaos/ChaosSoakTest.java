package io.prefstream.bench.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The short chaos soak that runs in {@code ./mvnw verify}: about 80 s of simulated users against a
 * broker, the ingest, the learner and two serving replicas started as separate processes with the
 * CLI, with SIGKILLs of each kind and a broker restart from seed 3, then the five checks of
 * {@link Invariants}. It passes only when kills of every kind happened, the learner applied and the
 * replay re-computed batches, and no check found a violation. The long run is {@code bench/chaos}
 * (docs/chaos-soak.md).
 */
class ChaosSoakTest {
  @Test
  void shortSoakWithKillsOfEveryKindAndABrokerRestartKeepsAllFiveInvariants() throws Exception {
    Path root = Path.of("").toAbsolutePath().getParent(); // surefire runs in bench/
    Path work = Path.of("target/chaos-" + System.currentTimeMillis()).toAbsolutePath();
    List<String> args = new ArrayList<>(List.of("--root", root.toString(), "--work-dir", work.toString(),
        "--duration", "80s", "--seed", "3", "--users", "3", "--kill-every", "10s",
        "--broker-restart-every", "45s", "--drain-timeout", "100s", "--java-home", System.getProperty("java.home")));
    if (!Files.exists(root.resolve("deploy/target/prefstream.jar"))) {
      // Without the packaged CLI (e.g. a test run without `package`), start it from this classpath.
      args.addAll(List.of("--classpath", System.getProperty("java.class.path")));
    }
    ChaosSoak.Result r = new ChaosSoak(ChaosSoak.parse(args.toArray(String[]::new)), System.out).run();

    assertThat(r.kills()).containsKeys("ingest", "learner", "replica", "broker restart");
    assertThat(r.sigkills()).isGreaterThanOrEqualTo(3);
    assertThat((Integer) r.report().figures.get("batches replayed")).isPositive();
    assertThat((Integer) r.report().figures.get("events acknowledged")).isPositive();
    assertThat(r.report().violations).as("violations").isEmpty();
  }
}
