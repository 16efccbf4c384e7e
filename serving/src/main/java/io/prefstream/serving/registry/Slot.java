package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.serving.rollout.PromotionGate;
import io.prefstream.serving.rollout.RolloutChain;
import io.prefstream.serving.rollout.RolloutDecisions;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One policy on one replica as a state machine without threads or I/O: the versions known from the
 * updates feed and what became of each here, the desired state (applied only when it follows the
 * revision chain, {@link RolloutChain#follows}), the versions resident in memory, and the routing
 * requests read. Each transition returns a {@link Plan} of what the caller must do (start loads,
 * free versions, write an automation proposal); {@link PolicyRegistry} holds the slot's monitor
 * around every call and does that work. Guarantees, each tested in {@code SlotTest}: the routing
 * changes only to resident versions; a version the desired state, a pending promotion or the
 * routing names is never freed, except by {@link #evict}; a gate's "held" reason outlives the
 * version's residency.
 *
 * <p>Under a resident budget a slot is either <em>resident</em> or <em>cold</em> (never used since
 * the replica started, or {@linkplain #evict evicted}). A cold slot has no routing and no copies; it
 * keeps every version it knows and its desired state, starts no loads, and discards a load that
 * finishes after it went cold. Its first use loads {@link #firstUseTargets} and makes it resident
 * again with {@link #warmed}. Tested in {@code ResidentBudgetTest}.
 */
final class Slot {
  /** What requests read: the stable version, and the canary with its share of users. */
  record Routing(LoadedPolicy stable, LoadedPolicy canary, double percent) {}

  /** The versions a cold slot's first use loads (null: none beyond the base) and routes to. */
  record FirstUse(PolicyUpdate stable, PolicyUpdate canary) {
    long stableVersion() {
      return stable == null ? 0 : stable.getVersion();
    }
  }

  /** What a transition asks of the caller. */
  static final class Plan {
    final List<PolicyUpdate> loads = new ArrayList<>();
    final List<LoadedPolicy> retire = new ArrayList<>();
    Routing swappedFrom;
    Routing swappedTo;
    RolloutState proposal;

    boolean swapped() {
      return swappedTo != null;
    }
  }

  private static final int RECENT_STATES = 16;

  final String policyId;
  private final LoadedPolicy base;
  private final RolloutMode defaultMode;
  private final TreeMap<Long, Known> known = new TreeMap<>();
  private RolloutState desired;
  /** The last states applied, for admin calls that wait to see theirs. */
  private final ArrayDeque<RolloutState> recent = new ArrayDeque<>();
  private final Map<Long, LoadedPolicy> resident = new HashMap<>();
  private final Set<Long> loading = new HashSet<>();
  private final Set<Long> pendingPromotion = new HashSet<>();
  private final Map<Long, String> refused = new LinkedHashMap<>();
  private final Map<Long, String> unavailable = new LinkedHashMap<>();
  private final AtomicReference<Routing> routing;
  /** Reference snapshots by reference id ("v&lt;n&gt;"), each holding one reference; at most two. */
  private final Map<String, LoadedPolicy> references = new LinkedHashMap<>();
  /**
   * Every copy of this policy's versions in memory, until its last reference (routing, reference
   * cache, a request's lease) goes. Thread-safe without the monitor: leases close on request threads.
   */
  final Set<LoadedPolicy> alive = ConcurrentHashMap.newKeySet();
  /**
   * Requests on this policy: counted from before a request reads the routing until its lease closes
   * (including while it waits for a first-use load). A slot with users is never evicted. Written by
   * request threads without the monitor; {@link #evict} reads it after hiding the routing.
   */
  final AtomicInteger users = new AtomicInteger();
  /** The resident set's logical clock at this policy's last lease (0: never used); for LRU eviction. */
  volatile long lastUse;
  /** The first-use load in progress, which later first uses wait for; null when none. Under the monitor. */
  CompletableFuture<Void> firstUse;
  /** The stable version routed when the slot went cold (0 when never loaded): a fallback for its first use. */
  private long stableWhenCold;

  private final ServedNll served;

  private static final class Known {
    final PolicyUpdate update;
    String state = "available";

    Known(PolicyUpdate update) {
      this.update = update;
    }
  }

  /** A resident slot that serves the base weights until a version is routed. */
  Slot(String policyId, LoadedPolicy base, RolloutMode defaultMode) {
    this(policyId, base, defaultMode, false);
  }

  /** @param cold whether it starts cold (under a resident budget: loaded on first use) */
  Slot(String policyId, LoadedPolicy base, RolloutMode defaultMode, boolean cold) {
    this(policyId, base, defaultMode, cold, ServedNll.NONE);
  }

  /** @param served the served replies' reference NLL per version, for the gate's fluency check */
  Slot(String policyId, LoadedPolicy base, RolloutMode defaultMode, boolean cold, ServedNll served) {
    this.served = served;
    this.policyId = policyId;
    this.base = base;
    this.defaultMode = defaultMode;
    this.routing = new AtomicReference<>(cold ? null : new Routing(base, null, 0));
  }

  /** Lock-free: what a request reads; null while the slot is cold (its first use must load it). */
  Routing routing() {
    return routing.get();
  }

  /** Whether the slot has no routing: never used under a budget, or evicted. */
  boolean cold() {
    return routing.get() == null;
  }

  RolloutState desired() {
    return desired;
  }

  RolloutMode mode() {
    return desired == null ? defaultMode : desired.getMode();
  }

  // ---- transitions ---------------------------------------------------------------------------

  /**
   * A new update. In AUTO mode one newer than the stable version is loaded if the gate lets it
   * through (and promoted once resident), else marked held. Null when the version was known already.
   */
  Plan announce(PolicyUpdate u, PromotionGate gate, RolloutDecisions.Author automation) {
    if (known.containsKey(u.getVersion())) return null;
    known.put(u.getVersion(), new Known(u));
    Plan plan = new Plan();
    switch (decide(desired, u.getVersion(), gate, automation)) {
      case RolloutDecisions.Auto.Held h -> known.get(u.getVersion()).state = h.reason();
      case RolloutDecisions.Auto.Promote p -> requestLoad(u.getVersion(), plan);
      case RolloutDecisions.Auto.NotApplicable n -> {}
    }
    reconcile(plan);
    return plan;
  }

  /** The update already known for {@code version}, if any. */
  Optional<PolicyUpdate> update(long version) {
    Known k = known.get(version);
    return k == null ? Optional.empty() : Optional.of(k.update);
  }

  /** A desired state from the feed; null (and nothing changes) when it does not follow the current one. */
  Plan apply(RolloutState state) {
    if (!RolloutChain.follows(desired, state)) return null;
    desired = state;
    recent.addLast(state);
    if (recent.size() > RECENT_STATES) recent.removeFirst();
    long stable = RolloutDecisions.stableOf(state);
    pendingPromotion.removeIf(v -> v <= stable);
    // A new decision that names an unreadable version is a reason to try reading it again.
    Long canary = activeCanary(state);
    unavailable.keySet().removeIf(v -> v == stable || v.equals(canary));
    Plan plan = new Plan();
    reconcile(plan);
    return plan;
  }

  /**
   * Whether {@code state}, an accepted one, has been applied here: it is among the last states
   * applied, or the chain is already past its revision (so it came before).
   */
  boolean hasApplied(RolloutState state) {
    return recent.contains(state) || (state.getRevision() > 0 && desired != null && desired.getRevision() > state.getRevision());
  }

  /**
   * Before an attempt to load {@code v}: false (and the version goes back to "available" or
   * "skipped") when it is no longer worth loading, i.e. nothing names it and, in AUTO mode, a newer
   * eligible version is loading too.
   */
  boolean stillWanted(long v) {
    Known k = known.get(v);
    if (cold()) { // evicted while this load waited: its first use loads what it needs then
      loading.remove(v);
      if (k.state.equals("loading")) k.state = "available";
      return false;
    }
    if (needed(v) || pendingPromotion.contains(v)) return true;
    boolean autoCandidate = mode() == RolloutMode.AUTO && v > RolloutDecisions.stableOf(desired);
    // Under a burst of updates only the newest eligible one is worth loading in AUTO mode.
    if (autoCandidate && loading.stream().noneMatch(other -> other > v)) return true;
    loading.remove(v);
    k.state = autoCandidate ? "skipped: superseded by v" + known.lastKey() + " before it loaded" : "available";
    return false;
  }

  /** A load attempt failed with a transient error and will be retried. */
  void retrying(long v, int attempt, int maxAttempts, String reason) {
    known.get(v).state = "retrying (attempt " + attempt + " of " + maxAttempts + " failed): " + reason;
  }

  /** {@code v} is resident: route it if desired, or decide whether automation promotes it. */
  Plan loaded(long v, LoadedPolicy lp, PromotionGate gate, RolloutDecisions.Author automation) {
    loading.remove(v);
    if (cold() || resident.containsKey(v)) {
      // Evicted while it loaded, or a first use loaded the same version meanwhile: this copy is not needed.
      Plan plan = new Plan();
      plan.retire.add(lp);
      if (known.get(v).state.equals("loading")) known.get(v).state = "available";
      return plan;
    }
    resident.put(v, lp);
    Known k = known.get(v);
    k.state = "loaded";
    Plan plan = new Plan();
    if (!pendingPromotion.contains(v)) plan.proposal = autoPromotion(v, desired, gate, automation).orElse(null);
    reconcile(plan);
    return plan;
  }

  /**
   * Automation's proposal to promote resident {@code v} on top of {@code basis}, which it then
   * holds as a pending promotion; empty when not applicable or held (the reason is kept).
   */
  Optional<RolloutState> autoPromotion(long v, RolloutState basis, PromotionGate gate, RolloutDecisions.Author automation) {
    switch (decide(basis, v, gate, automation)) {
      case RolloutDecisions.Auto.Promote p -> {
        pendingPromotion.add(v);
        return Optional.of(p.next());
      }
      case RolloutDecisions.Auto.Held h -> known.get(v).state = h.reason();
      case RolloutDecisions.Auto.NotApplicable n -> {}
    }
    return Optional.empty();
  }

  /**
   * Automation's proposal for {@code v} was stale: it decides again on {@code current} (when
   * {@code mayPropose} and {@code v} is still resident), and {@link Plan#proposal} is the new
   * proposal, else {@code v} is no longer pending.
   */
  Plan reconsider(long v, RolloutState current, boolean mayPropose, PromotionGate gate, RolloutDecisions.Author automation) {
    pendingPromotion.remove(v);
    Plan plan = new Plan();
    if (mayPropose && resident.containsKey(v)) plan.proposal = autoPromotion(v, current, gate, automation).orElse(null);
    reconcile(plan);
    return plan;
  }

  /** An automation proposal for {@code v} ended without being applied (the feed failed). */
  Plan promotionSettled(long v) {
    pendingPromotion.remove(v);
    Plan plan = new Plan();
    reconcile(plan);
    return plan;
  }

  /** {@code v} failed an integrity check: never loaded again here. */
  Plan refused(long v, String reason) {
    loading.remove(v);
    refused.put(v, reason);
    known.get(v).state = "refused: " + reason;
    Plan plan = new Plan();
    reconcile(plan);
    return plan;
  }

  /** {@code v} stayed unreadable through every retry; a desired state naming it tries again. */
  Plan unavailable(long v, String reason) {
    loading.remove(v);
    unavailable.put(v, reason);
    known.get(v).state = "unavailable: " + reason;
    Plan plan = new Plan();
    reconcile(plan);
    return plan;
  }

  // ---- reconcile -----------------------------------------------------------------------------

  private RolloutDecisions.Auto decide(RolloutState basis, long v, PromotionGate gate, RolloutDecisions.Author automation) {
    long stableVersion = RolloutDecisions.stableOf(basis);
    Known stable = known.get(stableVersion);
    // The learner's metrics of the stable version, and what this replica measured of its replies and the base's.
    Map<String, Double> evidence = new java.util.HashMap<>(stable == null ? Map.of() : stable.update.getMetrics());
    served.perToken(policyId, stableVersion).ifPresent(x -> evidence.put(PromotionGate.SERVED_NLL, x));
    served.perToken(policyId, 0).ifPresent(x -> evidence.put(PromotionGate.SERVED_NLL_BASE, x));
    served.standardError(policyId, stableVersion).ifPresent(x -> evidence.put(PromotionGate.SERVED_NLL_SE, x));
    served.standardError(policyId, 0).ifPresent(x -> evidence.put(PromotionGate.SERVED_NLL_BASE_SE, x));
    return RolloutDecisions.autoPromote(basis, policyId, automation, gate, v, known.get(v).update.getMetrics(), evidence);
  }

  /** The canary version a state routes users to; null when none (or at 0%). */
  private static Long activeCanary(RolloutState d) {
    return d != null && d.getCanaryVersion() != null && d.getCanaryPercent() > 0 ? d.getCanaryVersion() : null;
  }

  private boolean needed(long v) {
    Long canary = activeCanary(desired);
    return desired != null && ((desired.getStableVersion() != null && desired.getStableVersion() == v)
        || (canary != null && canary == v));
  }

  private void requestLoad(long v, Plan plan) {
    if (cold() || v == 0 || resident.containsKey(v) || loading.contains(v) || refused.containsKey(v) || unavailable.containsKey(v)) {
      return;
    }
    Known k = known.get(v);
    if (k == null) return; // the update has not arrived yet; announce() reconciles when it does
    loading.add(v);
    k.state = "loading";
    plan.loads.add(k.update);
  }

  private LoadedPolicy pick(long v, Plan plan) {
    if (v == 0) return base;
    LoadedPolicy lp = resident.get(v);
    if (lp == null) requestLoad(v, plan);
    return lp;
  }

  /** Makes the routing follow the desired state as far as resident versions allow; frees the rest. */
  private void reconcile(Plan plan) {
    RolloutState d = desired;
    Routing cur = routing.get();
    if (cur == null) return; // cold: nothing routed, nothing resident; the first use picks the desired versions
    LoadedPolicy stable = d == null ? cur.stable() : pick(RolloutDecisions.stableOf(d), plan);
    if (stable == null) stable = cur.stable(); // keep serving until the desired version is resident
    Long wantedCanary = activeCanary(d);
    LoadedPolicy canary = wantedCanary == null ? null : pick(wantedCanary, plan);
    double percent = canary == null ? 0 : d.getCanaryPercent();
    Routing next = new Routing(stable, canary, percent);
    if (next.stable() != cur.stable() || next.canary() != cur.canary() || next.percent() != cur.percent()) {
      routing.set(next);
      plan.swappedFrom = cur;
      plan.swappedTo = next;
    }
    Set<Long> keep = new HashSet<>(pendingPromotion);
    keep.add(next.stable().version());
    if (next.canary() != null) keep.add(next.canary().version());
    if (d != null && d.getStableVersion() != null) keep.add(d.getStableVersion()); // resident, waiting to swap in
    if (wantedCanary != null) keep.add(wantedCanary);
    for (var it = resident.entrySet().iterator(); it.hasNext(); ) {
      var e = it.next();
      if (keep.contains(e.getKey())) continue;
      it.remove();
      Known k = known.get(e.getKey());
      // Only "loaded"/"serving" describe residency; a gate's "held: …" stays the version's story.
      if (k.state.equals("loaded") || k.state.equals("serving")) k.state = "available";
      plan.retire.add(e.getValue());
    }
    for (Known k : known.values()) {
      if (k.state.equals("loaded") || k.state.equals("serving")) {
        long v = k.update.getVersion();
        k.state = v == next.stable().version() || (next.canary() != null && v == next.canary().version()) ? "serving" : "loaded";
      }
    }
  }

  // ---- resident budget -----------------------------------------------------------------------

  /**
   * Makes the slot cold: every copy (routed, preloaded, reference snapshots) is retired; versions,
   * desired state, refusals and pending promotions stay. Null (and nothing changes) when the slot
   * has users: the routing is hidden before {@link #users} is read, so a request either counted
   * itself first (and the slot stays) or finds no routing and loads it again.
   */
  Plan evict() {
    Routing r = routing.getAndSet(null);
    if (users.get() > 0) {
      routing.set(r);
      return null;
    }
    if (r != null) stableWhenCold = r.stable().version();
    Plan plan = new Plan();
    for (var e : resident.entrySet()) {
      Known k = known.get(e.getKey());
      if (k.state.equals("loaded") || k.state.equals("serving")) k.state = "evicted: loaded again on first use";
      plan.retire.add(e.getValue());
    }
    resident.clear();
    plan.retire.addAll(references.values());
    references.clear();
    return plan;
  }

  /**
   * What a first use loads: the desired stable version (else, when it is refused or not yet known,
   * the one routed when the slot went cold; none for the base) and the active canary, when known
   * and not refused.
   */
  FirstUse firstUseTargets() {
    Long canary = activeCanary(desired);
    return new FirstUse(update(firstUseStable()).orElse(null), canary != null && usable(canary) ? known.get(canary).update : null);
  }

  private long firstUseStable() {
    if (desired != null) {
      long wanted = RolloutDecisions.stableOf(desired);
      if (wanted == 0 || usable(wanted)) return wanted;
    }
    return usable(stableWhenCold) ? stableWhenCold : 0;
  }

  private boolean usable(long v) {
    return v != 0 && known.containsKey(v) && !refused.containsKey(v);
  }

  /**
   * A first use loaded {@code copies} (version to copy, each holding one reference the slot takes)
   * for {@code target}: the slot routes to them and is resident again, loads in the background
   * from here on, and in AUTO mode reconsiders the newest version announced while it was cold.
   */
  Plan warmed(Map<Long, LoadedPolicy> copies, FirstUse target, PromotionGate gate, RolloutDecisions.Author automation) {
    Plan plan = new Plan();
    if (!cold()) { // cannot happen while first uses are coalesced; never leak a copy if it does
      plan.retire.addAll(copies.values());
      return plan;
    }
    copies.forEach((v, lp) -> {
      resident.put(v, lp);
      unavailable.remove(v);
      known.get(v).state = "loaded";
    });
    LoadedPolicy stable = target.stable() == null ? base : resident.get(target.stableVersion());
    LoadedPolicy canary = target.canary() == null ? null : resident.get(target.canary().getVersion());
    routing.set(new Routing(stable, canary, canary == null || desired == null ? 0 : desired.getCanaryPercent()));
    stableWhenCold = 0;
    reconsiderAutomation(plan, gate, automation);
    reconcile(plan); // a desired state applied while the copies loaded moves the routing on from here
    return plan;
  }

  /** Announced while cold, automation's candidates were not loaded: the newest one the gate passes is now. */
  private void reconsiderAutomation(Plan plan, PromotionGate gate, RolloutDecisions.Author automation) {
    if (mode() != RolloutMode.AUTO) return;
    long stable = RolloutDecisions.stableOf(desired);
    for (long v : known.descendingKeySet()) {
      if (v <= stable) return;
      if (refused.containsKey(v) || unavailable.containsKey(v) || pendingPromotion.contains(v)) continue;
      switch (decide(desired, v, gate, automation)) {
        case RolloutDecisions.Auto.Promote p -> {
          requestLoad(v, plan);
          return;
        }
        case RolloutDecisions.Auto.Held h -> known.get(v).state = h.reason();
        case RolloutDecisions.Auto.NotApplicable n -> {
          return;
        }
      }
    }
  }

  // ---- reference snapshots -------------------------------------------------------------------

  /**
   * The snapshot to lease for {@code referenceId} (version {@code version}): the cached one, else the
   * copy of that version already resident (the cache takes its own reference to it); null when it
   * has to be loaded.
   */
  LoadedPolicy cachedReference(String referenceId, long version, Plan plan) {
    LoadedPolicy cached = references.get(referenceId);
    if (cached != null) return cached;
    LoadedPolicy r = resident.get(version);
    return r != null && r.tryAcquire() ? cacheReference(referenceId, r, plan) : null;
  }

  /**
   * Caches {@code lp}, whose one reference becomes the cache's, and returns the snapshot to use: a
   * copy cached meanwhile wins and {@code lp} is freed. Keeps the current and the previous pin.
   */
  LoadedPolicy cacheReference(String referenceId, LoadedPolicy lp, Plan plan) {
    LoadedPolicy raced = references.get(referenceId);
    if (raced != null) {
      plan.retire.add(lp);
      return raced;
    }
    references.put(referenceId, lp);
    if (references.size() > 2) plan.retire.add(references.remove(references.keySet().iterator().next()));
    return lp;
  }

  // ---- views and checks ----------------------------------------------------------------------

  /** The resident copy of {@code version} (not the base), if any. */
  Optional<LoadedPolicy> resident(long version) {
    return Optional.ofNullable(resident.get(version));
  }

  /** Throws unless an operator may name {@code version}: 0 (base) or known here and not refused. */
  void requireUsable(long version) {
    if (version < 0) throw new IllegalArgumentException("version must be >= 0 (0 = the base weights), got " + version);
    if (version == 0) return;
    if (!known.containsKey(version)) {
      throw new java.util.NoSuchElementException("policy '" + policyId + "' has no version " + version + " (known: "
          + known.keySet() + ", 0 = base)");
    }
    if (refused.containsKey(version)) {
      throw new IllegalStateException("policy '" + policyId + "' v" + version + " was refused: " + refused.get(version));
    }
  }

  /**
   * Version numbers requests are served by: the routed ones, or while cold those its first use
   * would load (stable, canary or -1).
   */
  long[] servedVersions() {
    Routing r = routing.get();
    if (r != null) return new long[] {r.stable().version(), r.canary() == null ? -1 : r.canary().version()};
    FirstUse f = firstUseTargets();
    return new long[] {f.stableVersion(), f.canary() == null ? -1 : f.canary().getVersion()};
  }

  /** The reference a version was trained against ("base" for the base weights or an unknown version). */
  String referenceIdOf(long version) {
    return update(version).map(PolicyUpdate::getReferenceId).orElse(PolicyRegistry.BASE_REFERENCE);
  }

  /** "v&lt;n&gt;: reason" for each refused version. */
  List<String> refusals() {
    List<String> out = new ArrayList<>();
    refused.forEach((v, why) -> out.add("v" + v + ": " + why));
    return out;
  }

  /** Every known version, oldest first, with what became of it here. */
  List<VersionView> versions() {
    return known.values().stream().map(k -> new VersionView(k.update, k.state)).toList();
  }

}
