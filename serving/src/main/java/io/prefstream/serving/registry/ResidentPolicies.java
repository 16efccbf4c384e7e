package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.rollout.RolloutDecisions;
import java.io.IOException;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy version copies in memory, for the {@link PolicyRegistry}: counts every copy (metrics and
 * the {@link ResidentSet}'s bytes), and under a resident budget makes a cold policy resident on its
 * first request and evicts the least recently used policies when the copies exceed the budget. The
 * rules are the registry's (see its class comment); the registry does what a slot transition plans
 * ({@code execute}) and names the automation author. Tested in {@code ResidentBudgetTest}.
 */
final class ResidentPolicies {
  private static final Logger LOG = LoggerFactory.getLogger(ResidentPolicies.class);

  private final PolicyLoader loader;
  private final RegistrySettings settings;
  private final ServingMetrics metrics;
  private final Collection<Slot> slots;
  private final BiConsumer<Slot, Slot.Plan> execute;
  private final Supplier<RolloutDecisions.Author> automation;
  private final ResidentSet set;

  /** @param slots a live view of the registry's slots */
  ResidentPolicies(PolicyLoader loader, RegistrySettings settings, ServingMetrics metrics, Collection<Slot> slots,
      BiConsumer<Slot, Slot.Plan> execute, Supplier<RolloutDecisions.Author> automation) {
    this.loader = loader;
    this.settings = settings;
    this.metrics = metrics;
    this.slots = slots;
    this.execute = execute;
    this.automation = automation;
    this.set = new ResidentSet(settings.residentBytes());
  }

  /** A request leases {@code s}: it becomes the most recently used policy. */
  void used(Slot s) {
    set.used(s);
  }

  /** Bytes all copies hold beyond the base. */
  long bytes() {
    return set.bytes();
  }

  /**
   * Makes a cold slot resident on a request's thread: the first caller loads, later ones wait for
   * its outcome (a failure reaches each of them as {@link VersionUnavailableException}).
   */
  void firstUse(Slot s) {
    CompletableFuture<Void> mine = new CompletableFuture<>();
    CompletableFuture<Void> running;
    synchronized (s) {
      if (!s.cold()) return;
      running = s.firstUse;
      if (running == null) s.firstUse = mine;
    }
    if (running != null) {
      try {
        running.join();
      } catch (CompletionException e) {
        Throwable cause = e.getCause();
        throw new VersionUnavailableException("policy '" + s.policyId + "' could not be loaded: "
            + (cause.getMessage() == null ? cause : cause.getMessage()), cause);
      }
      return;
    }
    try {
      warm(s);
    } catch (RuntimeException | Error e) {
      synchronized (s) {
        s.firstUse = null;
      }
      mine.completeExceptionally(e);
      throw e;
    }
    mine.complete(null);
    enforce();
  }

  /** Loads a cold slot's first-use targets; a refused one is recorded and the next target tried. */
  private void warm(Slot s) {
    Map<Long, LoadedPolicy> copies = new HashMap<>();
    try {
      while (true) {
        Slot.FirstUse target;
        synchronized (s) {
          target = s.firstUseTargets();
        }
        PolicyUpdate missing = Stream.of(target.stable(), target.canary())
            .filter(u -> u != null && !copies.containsKey(u.getVersion())).findFirst().orElse(null);
        if (missing == null) {
          synchronized (s) {
            execute.accept(s, s.warmed(copies, target, settings.gate(), automation.get()));
            s.firstUse = null;
          }
          LOG.info("policy '{}' is resident again: serving v{} ({} held by all policies)", s.policyId,
              target.stableVersion(), ByteSize.format(set.bytes()));
          return;
        }
        try {
          copies.put(missing.getVersion(), loadOnFirstUse(s, missing));
        } catch (RefusedVersionException e) {
          String reason = e.getMessage() == null ? e.toString() : e.getMessage();
          LOG.warn("policy '{}' v{} refused on first use: {}", s.policyId, missing.getVersion(), reason);
          metrics.versionsRefused.labelValues(s.policyId).inc();
          synchronized (s) {
            execute.accept(s, s.refused(missing.getVersion(), reason));
          }
        }
      }
    } catch (RuntimeException | Error e) {
      copies.values().forEach(LoadedPolicy::retire);
      throw e;
    }
  }

  private LoadedPolicy loadOnFirstUse(Slot s, PolicyUpdate u) throws RefusedVersionException {
    long t0 = System.nanoTime();
    LoadedPolicy lp;
    try {
      lp = loader.load(u, released -> released(s, released));
    } catch (IOException e) {
      throw new VersionUnavailableException("policy '" + s.policyId + "' v" + u.getVersion() + " is not resident and"
          + " its checkpoint cannot be read now: " + e.getMessage() + "; try again", e);
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    metrics.loadSeconds.observe(seconds);
    metrics.versionsLoaded.labelValues(s.policyId).inc();
    metrics.firstUseLoads.labelValues(s.policyId).inc();
    track(s, lp);
    LOG.info("policy '{}' v{} loaded and verified on first use in {} ms ({})", s.policyId, u.getVersion(),
        Math.round(seconds * 1000), ByteSize.format(lp.bytes()));
    return lp;
  }

  /** A request on {@code s} ended (its lease closed, or it failed before taking one). */
  void leaseClosed(Slot s) {
    s.users.decrementAndGet();
    enforce();
  }

  /** Evicts least recently used policies while the copies exceed the budget. Holds no slot. */
  void enforce() {
    if (set.overBudget()) set.enforce(slots, this::evict);
  }

  private boolean evict(Slot s) {
    long before = ResidentSet.bytesOf(s);
    synchronized (s) {
      Slot.Plan plan = s.evict();
      if (plan == null) return false; // a request arrived meanwhile
      execute.accept(s, plan);
    }
    metrics.evictions.labelValues(s.policyId).inc();
    LOG.info("policy '{}' evicted to keep within the resident budget of {} ({} of its copies freed or freed when their"
        + " last request ends; {} held now); its next request loads it again", s.policyId,
        ByteSize.format(settings.residentBytes()), ByteSize.format(before), ByteSize.format(set.bytes()));
    return true;
  }

  void track(Slot s, LoadedPolicy lp) {
    s.alive.add(lp);
    set.added(lp);
    metrics.residentVersions.inc();
    metrics.residentBytes.inc(lp.bytes());
  }

  /** The last reference to a copy went (it may hold a slot's monitor: only counts here). */
  void released(Slot s, LoadedPolicy lp) {
    s.alive.remove(lp);
    set.released(lp);
    metrics.versionsReleased.labelValues(s.policyId).inc();
    metrics.residentVersions.dec();
    metrics.residentBytes.dec(lp.bytes());
    LOG.info("policy '{}' v{} released after its last reference", s.policyId, lp.version());
  }
}
