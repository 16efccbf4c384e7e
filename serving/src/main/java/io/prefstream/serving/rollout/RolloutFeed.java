package io.prefstream.serving.rollout;

import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutState;
import java.util.concurrent.CompletableFuture;

/**
 * What a serving replica follows and writes: policy updates (from the learner), the desired rollout
 * state per policy (shared by all replicas) and control commands for the learner. In production it
 * is Kafka ({@link KafkaRolloutFeed}: prefstream.policy-updates, the compacted prefstream.rollout,
 * prefstream.control); {@link InMemoryRolloutFeed} is the same contract inside one process. A
 * replica applies rollout states as they come back from the feed, never its own writes directly,
 * so every replica ends in the state the feed holds last; a state is written only on top of the one
 * it was computed from ({@link #propose}, {@link RolloutChain}).
 */
public interface RolloutFeed extends AutoCloseable {
  /** Receives the retained desired states first, then the retained updates, then new records in order. */
  interface Listener {
    void onPolicyUpdate(PolicyUpdate update);

    void onRolloutState(RolloutState state);
  }

  /** Starts delivering to {@code listener} (once). */
  void start(Listener listener);

  /**
   * Writes {@code next} as the desired state of its policy if, and only if, its {@code base_revision}
   * is the policy's current revision (compare-and-set, {@link RolloutChain#canWrite}). Completes
   * with {@link ProposalOutcome.Accepted} once durable, with {@link ProposalOutcome.Stale} (nothing
   * written) when the state has moved on, exceptionally when the feed cannot take the write.
   */
  CompletableFuture<ProposalOutcome> propose(RolloutState next);

  /** Writes a command for the learner; completes when durable. */
  CompletableFuture<Void> publishControl(ControlCommand command);

  @Override
  void close();
}
