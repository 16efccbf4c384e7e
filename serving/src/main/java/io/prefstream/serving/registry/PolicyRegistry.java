package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.PinReference;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.rollout.CanaryRouter;
import io.prefstream.serving.rollout.RolloutFeed;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy versions one replica serves, and how they change. It follows a {@link RolloutFeed}:
 * every {@link PolicyUpdate} becomes a known version; the desired {@link RolloutState} of a policy
 * says which version is stable and which is the canary for what share of users. Versions are
 * loaded and verified on a background thread ({@link VersionLoader}); once the desired version is
 * resident the routing is replaced in one atomic step. A request {@linkplain #acquire takes a
 * lease} on the version the routing gives it and keeps it to the end; a version that leaves the
 * routing is retired and freed when its last lease closes. A version that fails to load is refused
 * (log, metric, {@link #status}) and the current routing stays.
 *
 * <p>In AUTO mode each update that passes the {@link io.prefstream.serving.rollout.PromotionGate}
 * is preloaded and then promoted by writing the new desired state to the feed; the replica swaps
 * when that state comes back, like every other replica. Admin calls ({@link #promote},
 * {@link #rollback}, {@link #setCanary}, {@link #setMode}, {@link #pinReference}) also only write
 * to the feed and wait to see their state applied.
 *
 * <p>Locking: each policy's slot is its own monitor; nothing is published to the feed while one
 * is held (an in-process feed delivers on the publisher's thread).
 */
public final class PolicyRegistry implements RolloutFeed.Listener, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(PolicyRegistry.class);
  public static final String BASE_REFERENCE = "base";
  /** Reference ids as the learner writes them: "base" or "v&lt;version&gt;". */
  private static final Pattern VERSION_REFERENCE = Pattern.compile("v(0|[1-9][0-9]{0,18})");

  private final PolicyLoader loader;
  private final RegistryHooks hooks;
  private final RolloutFeed feed;
  private final RegistrySettings settings;
  private final ServingMetrics metrics;
  private final ExecutorService loads;
  private final LoadedPolicy base;
  private final Map<String, Slot> slots = new ConcurrentHashMap<>();
  private volatile boolean closed;

  /** What requests read: the stable version, and the canary with its share of users. */
  record Routing(LoadedPolicy stable, LoadedPolicy canary, double percent) {}

  private static final class Known {
    final PolicyUpdate update;
    String state = "available";

    Known(PolicyUpdate update) {
      this.update = update;
    }
  }

  /** One policy's state; guarded by its own monitor except {@link #routing} and {@link #alive}. */
  private static final class Slot {
    final String policyId;
    final TreeMap<Long, Known> known = new TreeMap<>();
    RolloutState desired;
    final Map<Long, LoadedPolicy> resident = new HashMap<>();
    final Set<Long> loading = new HashSet<>();
    final Set<Long> pendingPromotion = new HashSet<>();
    final Map<Long, String> refused = new LinkedHashMap<>();
    final Map<String, LoadedPolicy> references = new LinkedHashMap<>();
    final AtomicReference<Routing> routing;
    final Set<LoadedPolicy> alive = ConcurrentHashMap.newKeySet();

    Slot(String policyId, LoadedPolicy base) {
      this.policyId = policyId;
      this.routing = new AtomicReference<>(new Routing(base, null, 0));
    }
  }

  public PolicyRegistry(VersionLoader loader, RolloutFeed feed, RegistrySettings settings, ServingMetrics metrics) {
    this((PolicyLoader) loader, feed, settings, metrics, RegistryHooks.NONE);
  }

  /** With test seams. */
  public PolicyRegistry(VersionLoader loader, RolloutFeed feed, RegistrySettings settings, ServingMetrics metrics,
      RegistryHooks hooks) {
    this((PolicyLoader) loader, feed, settings, metrics, hooks);
  }

  PolicyRegistry(PolicyLoader loader, RolloutFeed feed, RegistrySettings settings, ServingMetrics metrics,
      RegistryHooks hooks) {
    this.loader = loader;
    this.hooks = hooks;
    this.feed = feed;
    this.settings = settings;
    this.metrics = metrics;
    this.loads = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "prefstream-version-loader");
      t.setDaemon(true);
      return t;
    });
    this.base = loader.loadBase(lp -> {});
    metrics.residentVersions.set(1);
    slot(settings.defaultPolicy());
  }

  /** Starts following the feed (replays what it retains first). */
  public PolicyRegistry start() {
    feed.start(this);
    return this;
  }

  public RegistrySettings settings() {
    return settings;
  }

  public BaseModel base() {
    return loader.base();
  }

  private Slot slot(String policyId) {
    return slots.computeIfAbsent(policyId, id -> {
      Slot s = new Slot(id, base);
      metrics.servingVersion.labelValues(id, "stable").set(0);
      return s;
    });
  }

  private Slot existing(String policyId) {
    Slot s = slots.get(policyId);
    if (s == null) {
      throw new UnknownPolicyException("policy '" + policyId + "' is unknown to this replica (no update or rollout state"
          + " for it; the default policy is '" + settings.defaultPolicy() + "')");
    }
    return s;
  }

  // ---- requests ------------------------------------------------------------------------------

  /**
   * A lease on the version that serves {@code userId} now: the canary when the user's stable hash
   * falls in the canary share, else the stable version. Close it when the request ends.
   */
  public Lease acquire(String policyId, String userId) {
    Slot s = existing(policyId);
    while (true) {
      Routing r = s.routing.get();
      boolean canary = r.canary() != null && CanaryRouter.inCanary(userId, r.percent());
      LoadedPolicy lp = canary ? r.canary() : r.stable();
      // Fails only when the version drained between reading the routing and here: read again.
      if (lp.tryAcquire()) return new Lease(policyId, lp, canary);
    }
  }

  /**
   * A lease on the reference model a version was trained against: the base weights for "base" (or
   * "v0"), the policy version for "v&lt;n&gt;" (loaded and verified on first use, then kept).
   */
  public Lease acquireReference(String policyId, String referenceId) throws RefusedVersionException {
    if (referenceId == null || referenceId.isEmpty() || referenceId.equals(BASE_REFERENCE) || referenceId.equals("v0")) {
      if (!base.tryAcquire()) throw new IllegalStateException("the base model was released");
      return new Lease(policyId, base, false);
    }
    Slot s = existing(policyId);
    while (true) {
      PolicyUpdate u;
      synchronized (s) {
        LoadedPolicy cached = s.references.get(referenceId);
        if (cached != null && cached.tryAcquire()) return new Lease(policyId, cached, false);
        Matcher m = VERSION_REFERENCE.matcher(referenceId);
        Known k = m.matches() ? s.known.get(Long.parseLong(m.group(1))) : null;
        if (k == null) {
          throw new RefusedVersionException("reference '" + referenceId + "' of policy '" + policyId
              + "' is neither 'base' nor 'v<n>' for a version this replica knows");
        }
        u = k.update;
      }
      LoadedPolicy lp = loader.load(u, released -> onReleased(s, released));
      s.alive.add(lp);
      synchronized (s) {
        LoadedPolicy raced = s.references.putIfAbsent(referenceId, lp);
        if (raced != null) {
          lp.retire();
          continue;
        }
        // Keep at most two reference snapshots per policy (the current and the previous pin).
        if (s.references.size() > 2) {
          String oldest = s.references.keySet().iterator().next();
          s.references.remove(oldest).retire();
        }
      }
    }
  }

  // ---- feed ----------------------------------------------------------------------------------

  @Override
  public void onPolicyUpdate(PolicyUpdate u) {
    if (closed) return;
    Slot s = slot(u.getPolicyId());
    synchronized (s) {
      Known prev = s.known.get(u.getVersion());
      if (prev != null) {
        if (!prev.update.getSha256().equals(u.getSha256())) {
          LOG.warn("policy '{}' v{} announced again with another sha256 ({} then {}); keeping the first",
              u.getPolicyId(), u.getVersion(), prev.update.getSha256(), u.getSha256());
        }
        return;
      }
      s.known.put(u.getVersion(), new Known(u));
      LOG.info("policy '{}' v{} announced (parent {}, step {}, format {})", u.getPolicyId(), u.getVersion(),
          u.getParentVersion(), u.getStep(), u.getFormat());
      if (mode(s) == RolloutMode.AUTO && u.getVersion() > desiredStable(s)) {
        Optional<String> held = settings.gate().check(u.getMetrics(), stableMetrics(s));
        if (held.isPresent()) {
          s.known.get(u.getVersion()).state = held.get();
          LOG.info("policy '{}' v{} not promoted: {}", u.getPolicyId(), u.getVersion(), held.get());
        } else {
          scheduleLoad(s, u.getVersion());
        }
      }
      reconcile(s);
    }
  }

  @Override
  public void onRolloutState(RolloutState state) {
    if (closed) return;
    Slot s = slot(state.getPolicyId());
    synchronized (s) {
      s.desired = state;
      long stable = desiredStable(s);
      s.pendingPromotion.removeIf(v -> v <= stable);
      LOG.info("policy '{}' desired state: mode {}, stable {}, canary {} at {}% (by {}: {})", state.getPolicyId(),
          state.getMode(), state.getStableVersion(), state.getCanaryVersion(), state.getCanaryPercent(),
          state.getUpdatedBy(), state.getReason());
      reconcile(s);
      s.notifyAll();
    }
  }

  private RolloutMode mode(Slot s) {
    return s.desired == null ? settings.defaultMode() : s.desired.getMode();
  }

  private static long desiredStable(Slot s) {
    return s.desired == null || s.desired.getStableVersion() == null ? 0 : s.desired.getStableVersion();
  }

  private Map<String, Double> stableMetrics(Slot s) {
    Known k = s.known.get(desiredStable(s));
    return k == null ? Map.of() : k.update.getMetrics();
  }

  private void scheduleLoad(Slot s, long version) {
    if (version == 0 || s.resident.containsKey(version) || s.loading.contains(version) || s.refused.containsKey(version)) {
      return;
    }
    Known k = s.known.get(version);
    if (k == null) return; // the update has not arrived yet; onPolicyUpdate reconciles when it does
    s.loading.add(version);
    k.state = "loading";
    loads.execute(() -> load(s, k.update));
  }

  /** On the loader thread. */
  private void load(Slot s, PolicyUpdate u) {
    long v = u.getVersion();
    synchronized (s) {
      // Under a burst of updates only the newest eligible one is worth loading in AUTO mode.
      if (mode(s) == RolloutMode.AUTO && !needed(s, v)) {
        boolean supersededByEligible = s.known.tailMap(v, false).values().stream()
            .anyMatch(k -> k.state.equals("loading"));
        if (supersededByEligible) {
          s.loading.remove(v);
          s.known.get(v).state = "skipped: superseded by v" + s.known.lastKey() + " before it loaded";
          return;
        }
      }
    }
    long t0 = System.nanoTime();
    LoadedPolicy lp;
    try {
      lp = loader.load(u, released -> onReleased(s, released));
    } catch (RefusedVersionException | RuntimeException e) {
      String reason = e.getMessage();
      LOG.warn("policy '{}' v{} refused: {}", u.getPolicyId(), v, reason);
      metrics.versionsRefused.labelValues(u.getPolicyId()).inc();
      synchronized (s) {
        s.loading.remove(v);
        s.refused.put(v, reason);
        s.known.get(v).state = "refused: " + reason;
        reconcile(s);
      }
      return;
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    metrics.loadSeconds.observe(seconds);
    metrics.versionsLoaded.labelValues(u.getPolicyId()).inc();
    s.alive.add(lp);
    metrics.residentVersions.inc();
    LOG.info("policy '{}' v{} loaded and verified in {} ms", u.getPolicyId(), v, Math.round(seconds * 1000));
    RolloutState promote = null;
    synchronized (s) {
      s.loading.remove(v);
      s.resident.put(v, lp);
      s.known.get(v).state = "loaded";
      if (mode(s) == RolloutMode.AUTO && v > desiredStable(s) && !s.pendingPromotion.contains(v)) {
        Optional<String> held = settings.gate().check(u.getMetrics(), stableMetrics(s));
        if (held.isEmpty()) {
          s.pendingPromotion.add(v);
          promote = builder(s).setStableVersion(v)
              .setReason("auto: passed the gate on " + io.prefstream.serving.rollout.PromotionGate.METRIC)
              .setUpdatedBy("auto@" + settings.replicaId()).build();
        } else {
          s.known.get(v).state = held.get();
        }
      }
      reconcile(s);
    }
    if (promote != null) {
      hooks.beforeAutoPromotion(s.policyId, v);
      final RolloutState p = promote;
      feed.publishRollout(p).whenComplete((ok, err) -> {
        if (err != null) {
          LOG.error("policy '{}': could not publish the auto-promotion of v{}", s.policyId, v, err);
          synchronized (s) {
            s.pendingPromotion.remove(v);
            reconcile(s);
          }
        }
      });
    }
  }

  private boolean needed(Slot s, long v) {
    RolloutState d = s.desired;
    if (d == null) return false;
    return (d.getStableVersion() != null && d.getStableVersion() == v)
        || (d.getCanaryVersion() != null && d.getCanaryVersion() == v && d.getCanaryPercent() > 0);
  }

  private void onReleased(Slot s, LoadedPolicy lp) {
    s.alive.remove(lp);
    metrics.versionsReleased.labelValues(s.policyId).inc();
    metrics.residentVersions.dec();
    LOG.info("policy '{}' v{} released after its last request", s.policyId, lp.version());
  }

  private LoadedPolicy pick(Slot s, long version) {
    if (version == 0) return base;
    LoadedPolicy lp = s.resident.get(version);
    if (lp == null) scheduleLoad(s, version);
    return lp;
  }

  /** Makes the routing follow the desired state as far as resident versions allow. Holds the slot. */
  private void reconcile(Slot s) {
    RolloutState d = s.desired;
    Routing cur = s.routing.get();
    LoadedPolicy stable = d == null ? cur.stable() : pick(s, desiredStable(s));
    if (stable == null) stable = cur.stable(); // keep serving until the desired version is resident
    LoadedPolicy canary = null;
    double percent = 0;
    if (d != null && d.getCanaryVersion() != null && d.getCanaryPercent() > 0) {
      canary = pick(s, d.getCanaryVersion());
      if (canary != null) percent = d.getCanaryPercent();
    }
    Routing next = new Routing(stable, canary, percent);
    if (next.stable() != cur.stable() || next.canary() != cur.canary() || next.percent() != cur.percent()) {
      s.routing.set(next);
      metrics.swaps.labelValues(s.policyId).inc();
      metrics.servingVersion.labelValues(s.policyId, "stable").set(next.stable().version());
      metrics.servingVersion.labelValues(s.policyId, "canary").set(next.canary() == null ? -1 : next.canary().version());
      if (next.stable() != cur.stable()) {
        Known k = s.known.get(next.stable().version());
        if (k != null && k.update.getCreatedAt() != null) {
          double sec = (Instant.now().toEpochMilli() - k.update.getCreatedAt().toEpochMilli()) / 1000.0;
          metrics.updateToServingSeconds.observe(Math.max(0, sec));
        }
      }
      LOG.info("policy '{}' now serves v{}{}", s.policyId, next.stable().version(),
          next.canary() == null ? "" : " (canary v" + next.canary().version() + " for " + next.percent() + "% of users)");
    }
    Set<Long> keep = new HashSet<>(s.pendingPromotion);
    keep.add(next.stable().version());
    if (next.canary() != null) keep.add(next.canary().version());
    if (d != null && d.getStableVersion() != null) keep.add(d.getStableVersion()); // resident, waiting to swap in
    if (d != null && d.getCanaryVersion() != null && d.getCanaryPercent() > 0) keep.add(d.getCanaryVersion());
    for (var it = s.resident.entrySet().iterator(); it.hasNext(); ) {
      var e = it.next();
      if (!keep.contains(e.getKey())) {
        it.remove();
        s.known.get(e.getKey()).state = "available";
        e.getValue().retire();
      }
    }
    for (Known k : s.known.values()) {
      if (k.state.equals("loaded") || k.state.equals("serving")) {
        long v = k.update.getVersion();
        k.state = v == next.stable().version() || (next.canary() != null && v == next.canary().version()) ? "serving" : "loaded";
      }
    }
  }

  // ---- admin ---------------------------------------------------------------------------------

  private RolloutState.Builder builder(Slot s) {
    RolloutState.Builder b = s.desired == null
        ? RolloutState.newBuilder().setPolicyId(s.policyId).setMode(settings.defaultMode())
        : RolloutState.newBuilder(s.desired);
    return b.setUpdatedAt(Instant.now()).setUpdatedBy(settings.replicaId()).setReason(null);
  }

  private void requireUsable(Slot s, long version) {
    if (version < 0) throw new IllegalArgumentException("version must be >= 0 (0 = the base weights), got " + version);
    if (version == 0) return;
    if (!s.known.containsKey(version)) {
      throw new NoSuchElementException("policy '" + s.policyId + "' has no version " + version + " (known: "
          + s.known.keySet() + ", 0 = base)");
    }
    if (s.refused.containsKey(version)) {
      throw new IllegalStateException("policy '" + s.policyId + "' v" + version + " was refused: " + s.refused.get(version));
    }
  }

  /** Makes {@code version} stable (clearing it as canary). */
  public RolloutView promote(String policyId, long version, String reason, String by) throws InterruptedException {
    Slot s = existing(policyId);
    RolloutState next;
    synchronized (s) {
      requireUsable(s, version);
      RolloutState.Builder b = builder(s).setStableVersion(version).setReason(blankToNull(reason)).setUpdatedBy(by);
      if (b.getCanaryVersion() != null && b.getCanaryVersion() == version) b.setCanaryVersion(null).setCanaryPercent(0);
      next = b.build();
    }
    return publishAndWait(s, next);
  }

  /** Goes back to {@code version} and switches to MANUAL so that AUTO does not promote past it again. */
  public RolloutView rollback(String policyId, long version, String reason, String by) throws InterruptedException {
    Slot s = existing(policyId);
    RolloutState next;
    synchronized (s) {
      requireUsable(s, version);
      next = builder(s).setStableVersion(version).setCanaryVersion(null).setCanaryPercent(0).setMode(RolloutMode.MANUAL)
          .setReason(reason == null || reason.isBlank() ? "rollback" : reason).setUpdatedBy(by).build();
    }
    return publishAndWait(s, next);
  }

  /** Sends {@code percent} (0..100) of users to {@code version}; 0 ends the canary. */
  public RolloutView setCanary(String policyId, long version, double percent, String by) throws InterruptedException {
    Slot s = existing(policyId);
    if (!(percent >= 0 && percent <= 100)) throw new IllegalArgumentException("percent must be in [0, 100], got " + percent);
    RolloutState next;
    synchronized (s) {
      if (percent > 0) requireUsable(s, version);
      next = builder(s).setCanaryVersion(percent > 0 ? version : null).setCanaryPercent(percent).setUpdatedBy(by)
          .setReason(percent > 0 ? "canary v" + version + " at " + percent + "%" : "canary ended").build();
    }
    return publishAndWait(s, next);
  }

  /** AUTO or MANUAL. */
  public RolloutView setMode(String policyId, RolloutMode mode, String by) throws InterruptedException {
    Slot s = existing(policyId);
    RolloutState next;
    synchronized (s) {
      next = builder(s).setMode(mode).setUpdatedBy(by).setReason("mode " + mode).build();
    }
    return publishAndWait(s, next);
  }

  /**
   * Asks the learner (on prefstream.control) to pin {@code version} (empty: the base weights) as its
   * reference, and records the pin in the rollout state.
   */
  public RolloutView pinReference(String policyId, Optional<Long> version, String by) throws InterruptedException {
    Slot s = existing(policyId);
    RolloutState next;
    synchronized (s) {
      if (version.isPresent()) requireUsable(s, version.get());
      String pinned = version.map(v -> v == 0 ? BASE_REFERENCE : "v" + v).orElse(BASE_REFERENCE);
      next = builder(s).setPinnedReference(pinned).setUpdatedBy(by).setReason("pin reference " + pinned).build();
    }
    ControlCommand cmd = ControlCommand.newBuilder().setCommandId(UUID.randomUUID().toString()).setPolicyId(policyId)
        .setAction(new PinReference(version.filter(v -> v != 0).orElse(null))).setIssuedBy(by).setIssuedAt(Instant.now())
        .build();
    awaitWrite(feed.publishControl(cmd), "the pin-reference command for policy '" + policyId + "'");
    return publishAndWait(s, next);
  }

  private void awaitWrite(java.util.concurrent.CompletableFuture<Void> write, String what) throws InterruptedException {
    try {
      write.get(settings.adminWait().toMillis(), TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new FeedUnavailableException("could not write " + what + ": " + e.getCause(), e.getCause());
    } catch (java.util.concurrent.TimeoutException e) {
      throw new FeedUnavailableException("could not write " + what + " within " + settings.adminWait(), e);
    }
  }

  private RolloutView publishAndWait(Slot s, RolloutState next) throws InterruptedException {
    awaitWrite(feed.publishRollout(next), "the rollout state of policy '" + s.policyId + "'");
    long deadline = System.nanoTime() + settings.adminWait().toNanos();
    synchronized (s) {
      while (!next.equals(s.desired)) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          LOG.warn("policy '{}': the state written at {} has not come back from the rollout feed within {}", s.policyId,
              next.getUpdatedAt(), settings.adminWait());
          break;
        }
        TimeUnit.NANOSECONDS.timedWait(s, left);
      }
    }
    return status(s.policyId);
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s;
  }

  // ---- views ---------------------------------------------------------------------------------

  /** This replica's view of a policy. */
  public RolloutView status(String policyId) {
    Slot s = existing(policyId);
    synchronized (s) {
      RolloutState d = s.desired;
      Routing r = s.routing.get();
      List<String> refused = new ArrayList<>();
      s.refused.forEach((v, why) -> refused.add("v" + v + ": " + why));
      List<Long> resident = s.alive.stream().map(LoadedPolicy::version).sorted().toList();
      List<Long> withBase = new ArrayList<>();
      withBase.add(0L);
      withBase.addAll(resident);
      return new RolloutView(s.policyId, mode(s).name(),
          Optional.ofNullable(d == null ? null : d.getStableVersion()),
          Optional.ofNullable(d == null ? null : d.getCanaryVersion()),
          d == null ? 0 : d.getCanaryPercent(),
          Optional.ofNullable(d == null ? null : d.getPinnedReference()),
          r.stable().version(), Optional.ofNullable(r.canary() == null ? null : r.canary().version()),
          refused, withBase, r.stable().referenceId());
    }
  }

  /** Every version known from the updates feed, oldest first, with what became of it here. */
  public List<VersionView> versions(String policyId) {
    Slot s = existing(policyId);
    synchronized (s) {
      return s.known.values().stream().map(k -> new VersionView(k.update, k.state)).toList();
    }
  }

  /** Policies this replica knows. */
  public Set<String> policies() {
    return Set.copyOf(slots.keySet());
  }

  /** Versions in memory for {@code policyId} beyond the base (routed, preloaded or draining). */
  public List<Long> residentVersions(String policyId) {
    return existing(policyId).alive.stream().map(LoadedPolicy::version).sorted().toList();
  }

  @Override
  public void close() {
    closed = true;
    loads.shutdownNow();
    try {
      loads.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** For tests: run something with the loader thread idle afterwards. */
  void awaitLoads() throws Exception {
    loads.submit(() -> {}).get(30, TimeUnit.SECONDS);
  }
}
