package io.prefstream.serving.rollout;

import io.prefstream.schemas.avro.RolloutState;

/** What became of a proposed rollout state: written, or stale because the state had moved on. */
public sealed interface ProposalOutcome {
  /** The proposal is now the policy's desired state (durably written). */
  record Accepted(RolloutState state) implements ProposalOutcome {}

  /**
   * The proposal was based on a revision that is no longer current, so nothing was written.
   *
   * @param current the policy's current state as the feed knows it (null: none)
   */
  record Stale(RolloutState proposal, RolloutState current) implements ProposalOutcome {}
}
