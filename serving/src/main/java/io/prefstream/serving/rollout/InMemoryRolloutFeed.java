package io.prefstream.serving.rollout;

import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutState;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A {@link RolloutFeed} inside one process: the retained log of updates, the last rollout state
 * per policy (as compaction keeps it) and the control commands, delivered to every started
 * listener in order on the publisher's thread. Proposals are compared and set under this feed's
 * monitor. For a single replica without Kafka (tests, the {@code serve} command on a laptop) and
 * for replicas sharing a process.
 */
public final class InMemoryRolloutFeed implements RolloutFeed {
  private final List<PolicyUpdate> updates = new ArrayList<>();
  private final Map<String, RolloutState> states = new LinkedHashMap<>();
  private final List<ControlCommand> control = new CopyOnWriteArrayList<>();
  private final List<Listener> listeners = new CopyOnWriteArrayList<>();

  @Override
  public synchronized void start(Listener listener) {
    // Desired states first, as the Kafka feed does, so replayed updates are judged against them.
    for (RolloutState s : states.values()) listener.onRolloutState(s);
    for (PolicyUpdate u : updates) listener.onPolicyUpdate(u);
    listeners.add(listener);
  }

  /** Publishes an update as the learner would. */
  public synchronized void publishUpdate(PolicyUpdate update) {
    updates.add(update);
    for (Listener l : listeners) l.onPolicyUpdate(update);
  }

  /** Compare-and-set under this feed's monitor; an accepted state reaches every listener before this returns. */
  @Override
  public synchronized CompletableFuture<ProposalOutcome> propose(RolloutState next) {
    RolloutState current = states.get(next.getPolicyId());
    if (!RolloutChain.canWrite(current, next)) return CompletableFuture.completedFuture(new ProposalOutcome.Stale(next, current));
    states.put(next.getPolicyId(), next);
    for (Listener l : listeners) l.onRolloutState(next);
    return CompletableFuture.completedFuture(new ProposalOutcome.Accepted(next));
  }

  @Override
  public CompletableFuture<Void> publishControl(ControlCommand command) {
    control.add(command);
    return CompletableFuture.completedFuture(null);
  }

  /** Control commands published so far. */
  public List<ControlCommand> controlCommands() {
    return List.copyOf(control);
  }

  /** The last rollout state of a policy, if any. */
  public synchronized RolloutState rolloutState(String policyId) {
    return states.get(policyId);
  }

  @Override
  public void close() {
    listeners.clear();
  }
}
