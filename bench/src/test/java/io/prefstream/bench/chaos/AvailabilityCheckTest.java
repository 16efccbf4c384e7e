package io.prefstream.bench.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Check 5 on recorded attempts: a failure while the replica was down (or within the grace after its
 * restart) is excused, a failure while it was up is a violation, and feedback that failed while the
 * broker was down is excused for feedback only.
 */
class AvailabilityCheckTest {
  @Test
  void failureWhileTheReplicaWasUpIsAViolationAndOnlyThat() throws Exception {
    Traffic t = new Traffic(1, 2, 0, 0);
    t.attempts.add(new Traffic.Attempt(0, "replica-a", "Chat", 1_000, 1_010, "UNAVAILABLE"));      // a down
    t.attempts.add(new Traffic.Attempt(0, "replica-a", "Chat", 2_500, 2_510, "UNAVAILABLE"));      // grace
    t.attempts.add(new Traffic.Attempt(0, "replica-b", "Generate", 1_000, 1_200, "OK"));
    t.attempts.add(new Traffic.Attempt(1, "replica-b", "Feedback", 5_000, 5_100, "UNAVAILABLE"));  // broker down
    t.attempts.add(new Traffic.Attempt(1, "replica-b", "Generate", 5_000, 5_100, "UNAVAILABLE"));  // b was up
    t.interactions.incrementAndGet();
    Map<String, List<Proc.Down>> downs = Map.of(
        "replica-a", List.of(new Proc.Down(900, 2_000)),
        "replica-b", List.of(new Proc.Down(0, 100)));
    Invariants.Report rep = new Invariants.Report();

    Invariants.availability(t, downs, List.of(new Proc.Down(4_900, 5_050)), 1_000, 0, rep);
    t.stopAndJoin();

    assertThat(rep.violations).containsOnlyKeys(Invariants.AVAILABILITY);
    assertThat(rep.violations.get(Invariants.AVAILABILITY)).singleElement().asString()
        .startsWith("1 attempts that failed while their replica was up: Generate on replica-b failed with UNAVAILABLE");
    assertThat(rep.figures.get("RPC attempts ok / failed (excused)")).isEqualTo("1 / 4 (3)");
  }
}
