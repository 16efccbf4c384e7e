package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.RolloutAuthor;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.rollout.ProposalOutcome;
import io.prefstream.serving.rollout.RolloutDecisions;
import io.prefstream.serving.rollout.RolloutFeed;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes one replica's proposals for a policy's desired state by compare-and-set
 * ({@link RolloutFeed#propose}) and settles them. An operator's change is computed from the state
 * this replica holds; when the feed answers that the state moved on, the same change is computed
 * again from the newer state and written (an operator's intent does not depend on what came
 * before), and the call returns once this replica applied it, or fails after
 * {@link RegistrySettings#adminWait}. Automation's proposal, when stale, is never rewritten as it
 * was: automation decides again on the newer state ({@link Slot#reconsider}), which drops it when an
 * operator switched to MANUAL or another replica promoted something newer. Nothing here holds a
 * slot's monitor while it calls the feed.
 */
final class Proposals {
  private static final Logger LOG = LoggerFactory.getLogger(Proposals.class);
  /** An operator's change is re-applied to a newer state at most this often before the call gives up. */
  private static final int OPERATOR_ATTEMPTS = 5;
  /**
   * A safety bound on automation deciding again for one loaded version. A stale answer means some
   * other write was accepted (the chain moved on), so re-deciding makes progress; a low bound left a
   * replica serving an old version when versions arrived faster than promotions settled (each of its
   * own promotions made the next one stale). Automation also gives up when the answer's state is not
   * newer than the one it proposed on (a feed that moved nothing).
   */
  private static final int AUTOMATION_ATTEMPTS = 100;

  /** The registry's side of a transition: does what a plan asks. Called with the slot held. */
  interface PlanRunner {
    void execute(Slot s, Slot.Plan plan);
  }

  private final RolloutFeed feed;
  private final RegistrySettings settings;
  private final ServingMetrics metrics;
  private final RegistryHooks hooks;
  private final PlanRunner runner;

  Proposals(RolloutFeed feed, RegistrySettings settings, ServingMetrics metrics, RegistryHooks hooks, PlanRunner runner) {
    this.feed = feed;
    this.settings = settings;
    this.metrics = metrics;
    this.hooks = hooks;
    this.runner = runner;
  }

  RolloutDecisions.Author author(RolloutAuthor kind, String name) {
    return new RolloutDecisions.Author(kind, name, settings.defaultMode(), Instant.now());
  }

  private RolloutDecisions.Author automation() {
    return author(RolloutAuthor.AUTOMATION, "auto@" + settings.replicaId());
  }

  // ---- automation ----------------------------------------------------------------------------

  /** Writes automation's promotion of {@code v}; Slot holds {@code v} as pending until this settles. */
  void automation(Slot s, long v, RolloutState proposal) {
    automation(s, v, proposal, 1);
  }

  private void automation(Slot s, long v, RolloutState proposal, int attempt) {
    hooks.beforeAutoPromotion(s.policyId, v);
    CompletableFuture<ProposalOutcome> write;
    try {
      write = feed.propose(proposal);
    } catch (RuntimeException e) {
      write = CompletableFuture.failedFuture(e);
    }
    write.whenComplete((outcome, err) -> settle(s, v, proposal, attempt, outcome, err));
  }

  private void settle(Slot s, long v, RolloutState proposal, int attempt, ProposalOutcome outcome, Throwable err) {
    Optional<RolloutState> again = Optional.empty();
    synchronized (s) {
      if (err != null) {
        count(s, RolloutAuthor.AUTOMATION, "failed");
        LOG.error("policy '{}': could not write the auto-promotion of v{}", s.policyId, v, err);
        runner.execute(s, s.promotionSettled(v));
      } else if (outcome instanceof ProposalOutcome.Accepted) {
        // v stays pending until the state comes back from the feed (Slot.apply).
        count(s, RolloutAuthor.AUTOMATION, "accepted");
        LOG.info("policy '{}': auto-promotion of v{} written as revision {}", s.policyId, v, proposal.getRevision());
      } else if (outcome instanceof ProposalOutcome.Stale stale) {
        count(s, RolloutAuthor.AUTOMATION, "stale");
        RolloutState cur = stale.current();
        LOG.info("policy '{}': auto-promotion of v{} was based on revision {}, but the state is at revision {} ({} by {}:"
            + " stable {}, mode {}); not written, deciding again on that state", s.policyId, v, proposal.getBaseRevision(),
            cur == null ? null : cur.getRevision(), cur == null ? null : cur.getAuthor(), cur == null ? null : cur.getUpdatedBy(),
            cur == null ? null : cur.getStableVersion(), cur == null ? null : cur.getMode());
        boolean movedOn = cur != null && (proposal.getBaseRevision() == null || cur.getRevision() > proposal.getBaseRevision());
        Slot.Plan plan = s.reconsider(v, cur, movedOn && attempt < AUTOMATION_ATTEMPTS, settings.gate(), automation());
        runner.execute(s, plan);
        again = Optional.ofNullable(plan.proposal);
      }
    }
    again.ifPresent(next -> automation(s, v, next, attempt + 1));
  }

  // ---- operators -----------------------------------------------------------------------------

  /** Writes an operator's change by compare-and-set and returns once this replica applied it. */
  void operator(Slot s, String what, UnaryOperator<RolloutState> change) throws InterruptedException {
    long deadline = System.nanoTime() + settings.adminWait().toNanos();
    RolloutState basis;
    synchronized (s) {
      basis = s.desired();
    }
    for (int attempt = 1; attempt <= OPERATOR_ATTEMPTS; attempt++) {
      RolloutState next = change.apply(basis);
      ProposalOutcome outcome;
      try {
        outcome = awaitWrite(feed.propose(next), what + " for policy '" + s.policyId + "'", deadline);
      } catch (FeedUnavailableException e) {
        count(s, RolloutAuthor.OPERATOR, "failed");
        throw e;
      }
      if (outcome instanceof ProposalOutcome.Stale stale) {
        count(s, RolloutAuthor.OPERATOR, "stale");
        basis = stale.current();
        LOG.info("policy '{}': {} was based on revision {}, but the state is at revision {} (by {}); applying it to that",
            s.policyId, what, next.getBaseRevision(), basis == null ? null : basis.getRevision(),
            basis == null ? null : basis.getUpdatedBy());
        continue;
      }
      count(s, RolloutAuthor.OPERATOR, "accepted");
      awaitApplied(s, next, deadline);
      return;
    }
    throw new IllegalStateException("policy '" + s.policyId + "': the rollout state changed " + OPERATOR_ATTEMPTS
        + " times while " + what + " was being written; nothing was changed, try again");
  }

  /** The write's answer, or {@link FeedUnavailableException} when it failed or did not come by {@code deadline}. */
  <T> T awaitWrite(CompletableFuture<T> write, String what, long deadline) throws InterruptedException {
    try {
      return write.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      throw new FeedUnavailableException("could not write " + what + ": " + e.getCause(), e.getCause());
    } catch (TimeoutException e) {
      throw new FeedUnavailableException("could not write " + what + " within " + settings.adminWait(), e);
    }
  }

  private void awaitApplied(Slot s, RolloutState written, long deadline) throws InterruptedException {
    synchronized (s) {
      while (!s.hasApplied(written)) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new FeedUnavailableException("policy '" + s.policyId + "': the rollout state written as revision "
              + written.getRevision() + " did not come back from the rollout feed within " + settings.adminWait()
              + "; it is stored, and this replica applies it once it reads the feed again", null);
        }
        TimeUnit.NANOSECONDS.timedWait(s, left);
      }
    }
  }

  private void count(Slot s, RolloutAuthor author, String outcome) {
    metrics.rolloutProposals.labelValues(s.policyId, author.name(), outcome).inc();
  }
}
