package io.prefstream.serving.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.RolloutAuthor;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The revision chain: what a writer may write, and what every reader of a log ends on. */
class RolloutChainTest {
  static final RolloutDecisions.Author OP = new RolloutDecisions.Author(RolloutAuthor.OPERATOR, "op", RolloutMode.AUTO,
      Instant.EPOCH);
  static final RolloutDecisions.Author AUTO = new RolloutDecisions.Author(RolloutAuthor.AUTOMATION, "auto@a",
      RolloutMode.AUTO, Instant.EPOCH);

  /** What a reader that reads {@code log} from {@code from} on holds at the end. */
  static RolloutState read(List<RolloutState> log, int from) {
    RolloutState cur = null;
    for (RolloutState s : log.subList(from, log.size())) if (RolloutChain.follows(cur, s)) cur = s;
    return cur;
  }

  @Test
  void aProposalCarriesTheRevisionAfterItsBase() {
    RolloutState first = RolloutDecisions.promote(null, "p", AUTO, 1, null);
    assertThat(first.getBaseRevision()).isNull();
    assertThat(first.getRevision()).isEqualTo(1);
    assertThat(first.getAuthor()).isEqualTo(RolloutAuthor.AUTOMATION);
    RolloutState second = RolloutDecisions.rollback(first, "p", OP, 0, "bad");
    assertThat(second.getBaseRevision()).isEqualTo(1L);
    assertThat(second.getRevision()).isEqualTo(2);
    assertThat(RolloutChain.canWrite(first, second)).isTrue();
    assertThat(RolloutChain.canWrite(null, second)).isFalse();
    assertThat(RolloutChain.canWrite(second, second)).isFalse();
  }

  @Test
  void theFirstProposalInLogOrderWinsAndAStaleOneIsIgnoredByEveryReader() {
    RolloutState r1 = RolloutDecisions.promote(null, "p", AUTO, 5, null);
    RolloutState rollback = RolloutDecisions.rollback(r1, "p", OP, 4, "v5 is bad"); // based on r1
    RolloutState autoPromote = RolloutDecisions.promote(r1, "p", AUTO, 6, null); // also based on r1: stale once rollback lands
    List<RolloutState> log = List.of(r1, rollback, autoPromote);
    for (int from = 0; from < log.size() - 1; from++) {
      assertThat(read(log, from)).as("a reader starting at record %d", from).isEqualTo(rollback);
    }
  }

  @Test
  void statesFromBeforeRevisionsApplyAsTheyComeAndTheChainContinuesFromThem() {
    RolloutState legacy = RolloutState.newBuilder().setPolicyId("p").setMode(RolloutMode.MANUAL).setStableVersion(3L)
        .setUpdatedAt(Instant.EPOCH).build();
    assertThat(legacy.getRevision()).isZero();
    RolloutState r1 = RolloutDecisions.promote(null, "p", AUTO, 1, null);
    RolloutState next = RolloutDecisions.mode(legacy, "p", OP, RolloutMode.AUTO);
    List<RolloutState> log = new ArrayList<>(List.of(r1, legacy, next));
    assertThat(read(log, 0)).isEqualTo(next);
    assertThat(next.getRevision()).isEqualTo(1);
    assertThat(RolloutChain.canWrite(legacy, next)).isTrue();
  }
}
