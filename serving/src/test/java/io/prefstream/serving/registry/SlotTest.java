package io.prefstream.serving.registry;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.CheckpointFormat;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.serving.rollout.PromotionGate;
import io.prefstream.serving.rollout.RolloutDecisions;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The per-policy state machine on its own: no threads, no feed, no model (versions are stand-ins
 * without weights). Each test drives transitions and checks the plan and the views.
 */
class SlotTest {
  static final PromotionGate GATE = new PromotionGate(0.05);
  static final RolloutDecisions.Author AUTO = new RolloutDecisions.Author(io.prefstream.schemas.avro.RolloutAuthor.AUTOMATION,
      "auto@t", RolloutMode.AUTO, Instant.EPOCH);
  static final RolloutDecisions.Author OP = new RolloutDecisions.Author(io.prefstream.schemas.avro.RolloutAuthor.OPERATOR,
      "op", RolloutMode.AUTO, Instant.EPOCH);

  final LoadedPolicy base = copy(0);
  final Slot slot = new Slot("p", base, RolloutMode.AUTO);

  static LoadedPolicy copy(long v) {
    return new LoadedPolicy(v, "base", Map.of(), null, lp -> {});
  }

  static PolicyUpdate update(long v, double acc) {
    return PolicyUpdate.newBuilder().setPolicyId("p").setVersion(v).setReferenceId("base").setCheckpointUri("file:///s/p/" + v)
        .setSha256("00").setFormat(CheckpointFormat.LORA).setStep(v).setExamplesSeen(v)
        .setMetrics(Map.of(PromotionGate.METRIC, acc)).setCreatedAt(Instant.EPOCH).build();
  }

  String state(long v) {
    return slot.versions().stream().filter(x -> x.update().getVersion() == v).findFirst().orElseThrow().loadState();
  }

  @Test
  void anEligibleUpdateIsLoadedThenProposedAndRoutedOnlyOnceTheStateComesBack() {
    Slot.Plan announced = slot.announce(update(1, 0.8), GATE, AUTO);
    assertThat(announced.loads).extracting(PolicyUpdate::getVersion).containsExactly(1L);
    LoadedPolicy v1 = copy(1);
    Slot.Plan loaded = slot.loaded(1, v1, GATE, AUTO);
    assertThat(loaded.proposal.getStableVersion()).isEqualTo(1L);
    assertThat(loaded.swapped()).isFalse();
    assertThat(slot.routing().stable()).isSameAs(base);

    Slot.Plan applied = slot.apply(loaded.proposal);
    assertThat(applied.swappedTo.stable()).isSameAs(v1);
    assertThat(state(1)).isEqualTo("serving");
    assertThat(slot.hasApplied(loaded.proposal)).isTrue();
  }

  @Test
  void aStaleStateIsIgnored() {
    RolloutState r1 = RolloutDecisions.promote(null, "p", OP, 0, null);
    RolloutState r2 = RolloutDecisions.mode(r1, "p", OP, RolloutMode.MANUAL);
    RolloutState staleFromR1 = RolloutDecisions.promote(r1, "p", AUTO, 7, null);
    slot.apply(r1);
    slot.apply(r2);
    assertThat(slot.apply(staleFromR1)).isNull();
    assertThat(slot.desired()).isEqualTo(r2);
    assertThat(slot.hasApplied(staleFromR1)).isFalse();
  }

  @Test
  void aPendingPromotionStaysResidentAndAutomationDecidesAgainOnTheNewerState() {
    slot.announce(update(1, 0.8), GATE, AUTO);
    slot.announce(update(2, 0.8), GATE, AUTO);
    LoadedPolicy v2 = copy(2);
    RolloutState proposal = slot.loaded(2, v2, GATE, AUTO).proposal;
    assertThat(proposal.getStableVersion()).isEqualTo(2L);
    // Meanwhile another replica promoted v1: the proposal for v2 is stale, but v2 is still wanted.
    RolloutState other = RolloutDecisions.promote(null, "p", AUTO, 1, null);
    slot.apply(other);
    assertThat(slot.resident(2)).containsSame(v2);
    Slot.Plan again = slot.reconsider(2, other, true, GATE, AUTO);
    assertThat(again.retire).isEmpty();
    assertThat(again.proposal.getStableVersion()).isEqualTo(2L);
    assertThat(again.proposal.getBaseRevision()).isEqualTo(other.getRevision());
  }

  @Test
  void aStaleProposalForAnOlderVersionThanStableIsDroppedAndItsCopyFreed() {
    slot.announce(update(1, 0.8), GATE, AUTO);
    LoadedPolicy v1 = copy(1);
    slot.loaded(1, v1, GATE, AUTO);
    assertThat(slot.announce(update(2, 0.9), GATE, AUTO).loads).extracting(PolicyUpdate::getVersion).containsExactly(2L);
    // Another replica's promotion of v2 lands before this one's (stale) proposal of v1 is answered.
    RolloutState newer = RolloutDecisions.promote(null, "p", AUTO, 2, null);
    assertThat(slot.apply(newer).retire).containsExactly(v1);
    Slot.Plan again = slot.reconsider(1, newer, true, GATE, AUTO);
    assertThat(again.proposal).isNull();
    assertThat(slot.resident(1)).isEmpty();
    assertThat(slot.routing().stable()).isSameAs(base); // until v2 is resident
  }

  @Test
  void aHeldReasonOutlivesTheVersionsResidency() {
    slot.apply(RolloutDecisions.promote(null, "p", OP, 0, null));
    slot.announce(update(1, 0.95), GATE, AUTO);
    slot.loaded(1, copy(1), GATE, AUTO);
    slot.apply(RolloutDecisions.promote(slot.desired(), "p", OP, 1, null));
    slot.announce(update(2, 0.70), GATE, AUTO);
    assertThat(state(2)).startsWith("held: ");
    // Loaded anyway (say, for an operator's canary that then ended): the gate holds it again.
    LoadedPolicy v2 = copy(2);
    Slot.Plan plan = slot.loaded(2, v2, GATE, AUTO);
    assertThat(plan.proposal).isNull();
    assertThat(plan.retire).containsExactly(v2);
    assertThat(state(2)).startsWith("held: eval/rewards/accuracies 0.7000");
  }

  @Test
  void anUnreadableVersionIsTriedAgainWhenADesiredStateNamesIt() {
    slot.apply(RolloutDecisions.mode(null, "p", OP, RolloutMode.MANUAL));
    slot.announce(update(1, 0.8), GATE, AUTO);
    Slot.Plan promote = slot.apply(RolloutDecisions.promote(slot.desired(), "p", OP, 1, null));
    assertThat(promote.loads).hasSize(1);
    slot.unavailable(1, "unreadable after 8 attempts: gone");
    assertThat(state(1)).startsWith("unavailable: ");
    assertThat(slot.apply(RolloutDecisions.canary(slot.desired(), "p", OP, 0, 0)).loads)
        .extracting(PolicyUpdate::getVersion).containsExactly(1L);
    slot.refused(1, "sha256 differs");
    assertThat(slot.apply(RolloutDecisions.promote(slot.desired(), "p", OP, 1, null)).loads).isEmpty();
    assertThat(slot.refusals()).containsExactly("v1: sha256 differs");
  }

  @Test
  void aReferenceSnapshotSharesTheResidentCopyAndHoldsItsOwnReference() {
    slot.announce(update(1, 0.8), GATE, AUTO);
    LoadedPolicy v1 = copy(1);
    slot.apply(slot.loaded(1, v1, GATE, AUTO).proposal);
    Slot.Plan plan = new Slot.Plan();
    assertThat(slot.cachedReference("v1", 1, plan)).isSameAs(v1);
    assertThat(v1.references()).isEqualTo(2); // routing + reference cache
    slot.announce(update(2, 0.8), GATE, AUTO);
    Slot.Plan swap = slot.apply(slot.loaded(2, copy(2), GATE, AUTO).proposal);
    assertThat(swap.retire).containsExactly(v1);
    v1.retire();
    assertThat(v1.isReleased()).isFalse(); // the cache still holds it
    assertThat(List.of(v1.references())).containsExactly(1);
  }
}
