package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.PinReference;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutAuthor;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.rollout.CanaryRouter;
import io.prefstream.serving.rollout.RolloutDecisions;
import io.prefstream.serving.rollout.RolloutFeed;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy versions one replica serves, and how they change. It follows a {@link RolloutFeed}:
 * every {@link PolicyUpdate} becomes a known version; the desired {@link RolloutState} of a policy
 * says which version is stable and which is the canary for what share of users. Each policy is a
 * {@link Slot}, the state machine; this class owns the threads and the I/O around it. Versions are
 * loaded and verified on a background thread ({@link VersionLoader}): a checkpoint that cannot be
 * read yet is retried with backoff ({@link LoadRetry}), and only an integrity failure refuses a
 * version (log, metric, {@link #status}). Once the desired version is resident the routing is
 * replaced in one atomic step. A request {@linkplain #acquire takes a lease} on the version the
 * routing gives it and keeps it to the end; a version copy is freed when its last reference
 * (routing, reference cache, lease) goes, and {@link #residentVersions} and the resident-versions
 * gauge count exactly the copies not yet freed.
 *
 * <p>One writer per decision: the desired state changes only by compare-and-set on the feed
 * ({@link RolloutFeed#propose}, written by {@link Proposals}). Every change is computed from a state and names its revision; one
 * computed from an older state is stale and is not written. Automation (AUTO mode: an update that
 * passes the {@link io.prefstream.serving.rollout.PromotionGate} is preloaded, then proposed as
 * stable) drops a stale proposal and decides again on the newer state, so it can neither undo an
 * operator's later decision nor regress another replica's newer promotion. Operators' calls
 * ({@link #promote}, {@link #rollback}, {@link #setCanary}, {@link #setMode}, {@link #pinReference})
 * re-apply their change to the newer state and write again; they return once this replica has
 * applied their state, and throw {@link FeedUnavailableException} when the feed does not take it or
 * it does not come back within {@link RegistrySettings#adminWait}.
 *
 * <p>Resident budget ({@link RegistrySettings#residentBytes}). Without one, every served policy is
 * resident from its first update on and stays so. With one, a policy is loaded on first use and
 * the copies of all policies together are kept within the budget ({@link ResidentSet}):
 * <ul>
 *   <li>A policy is <em>cold</em> until its first request since the replica started, and again once
 *       evicted. A cold policy records every update and desired state but loads nothing in the
 *       background (a background load that finishes after it went cold is discarded), so thousands
 *       of idle policies cost no memory and no I/O. A <em>resident</em> policy loads new versions in
 *       the background exactly as without a budget, so its swaps stay instant.</li>
 *   <li>A request ({@link #acquire}) for a cold policy loads, on its own thread and verified as in
 *       the background, the desired stable version (or, if that one is refused, the one it served
 *       before) and the active canary, then takes its lease. A checkpoint that cannot be read gives
 *       {@link VersionUnavailableException} and the policy stays cold. Concurrent first uses of one
 *       policy wait for a single load ({@link Slot#firstUse}); requests for other policies are not
 *       held up. In AUTO mode the newest version announced while it was cold is then reconsidered
 *       by the gate and loaded in the background.</li>
 *   <li>Whenever the copies exceed the budget (after a load, or when a lease closes) the least
 *       recently used policies (by the last lease taken on them) are evicted: their copies go, their
 *       rollout state (versions, stable and canary, mode, pinned reference, refusals) stays. A policy
 *       with a live lease or a request waiting for its load is never evicted (it may be once its
 *       last lease closes), nor is the most recently used one, so a single policy larger than the
 *       budget is still served.</li>
 * </ul>
 *
 * <p>Locking: each policy's slot is its own monitor; nothing calls the feed while one is held (an
 * in-process feed delivers on the caller's thread). The resident set's monitor is taken before a
 * slot's, never while one is held. Counting the copies and keeping them within the budget is
 * {@link ResidentPolicies}'s job. Tested in {@code PolicyRegistryTest}, {@code RegistryBookkeepingTest},
 * {@code TransientLoadFailureTest}, {@code ResidentBudgetTest} and, over a broker, in
 * {@code RolloutRaceTest} and {@code ServingReplicasTest}.
 */
public final class PolicyRegistry implements RolloutFeed.Listener, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(PolicyRegistry.class);
  public static final String BASE_REFERENCE = "base";
  /** Reference ids as the learner writes them: "base" or "v&lt;version&gt;". */
  private static final Pattern VERSION_REFERENCE = Pattern.compile("v(0|[1-9][0-9]{0,18})");

  private final PolicyLoader loader;
  private final RolloutFeed feed;
  private final RegistrySettings settings;
  private final ServingMetrics metrics;
  private final ScheduledExecutorService loads;
  private final Proposals proposals;
  private final LoadedPolicy base;
  private final ResidentPolicies residents;
  private final Map<String, Slot> slots = new ConcurrentHashMap<>();
  private volatile boolean closed;
  private volatile ServedNll servedNll = ServedNll.NONE;
  /** What the slots read: whichever source is watched when they ask. */
  private final ServedNll watched = new ServedNll() {
    @Override
    public java.util.OptionalDouble perToken(String policyId, long version) {
      return servedNll.perToken(policyId, version);
    }

    @Override
    public java.util.OptionalDouble standardError(String policyId, long version) {
      return servedNll.standardError(policyId, version);
    }
  };

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
    this.feed = feed;
    this.settings = settings;
    this.metrics = metrics;
    this.loads = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "prefstream-version-loader");
      t.setDaemon(true);
      return t;
    });
    this.proposals = new Proposals(feed, settings, metrics, hooks, this::execute);
    this.residents = new ResidentPolicies(loader, settings, metrics, slots.values(), this::execute, this::automation);
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

  /**
   * Where the gate's fluency check ({@link io.prefstream.serving.rollout.PromotionGate#fluencyMargin})
   * reads the served replies' reference NLL: the serving server's sampler, once it runs.
   */
  public void watchServedNll(ServedNll source) {
    servedNll = java.util.Objects.requireNonNull(source, "source");
  }

  public BaseModel base() {
    return loader.base();
  }

  private Slot slot(String policyId) {
    return slots.computeIfAbsent(policyId, id -> {
      // Under a budget a slot starts cold (loaded on first use); the gate reads the served replies' NLL as watched now.
      Slot s = new Slot(id, base, settings.defaultMode(), settings.budgeted(), watched);
      metrics.servingVersion.labelValues(id, "stable").set(0);
      return s;
    });
  }

  private Slot existing(String policyId) {
    if (!settings.serves(policyId)) {
      throw new UnknownPolicyException("policy '" + policyId + "' is not served by this replica (it serves "
          + new java.util.TreeSet<>(settings.servedPolicies()) + ")");
    }
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
   * falls in the canary share, else the stable version. Close it when the request ends. When the
   * policy is cold (resident budget) its routed versions are loaded first, on this thread.
   *
   * @throws VersionUnavailableException the policy was cold and a checkpoint it needs cannot be read now
   */
  public Lease acquire(String policyId, String userId) {
    Slot s = existing(policyId);
    s.users.incrementAndGet(); // before reading the routing: a slot with users is not evicted (Slot#evict)
    boolean leased = false;
    try {
      residents.used(s);
      while (true) {
        Slot.Routing r = s.routing();
        if (r == null) { // cold: load it (or wait for the request loading it), then read again
          residents.firstUse(s);
          continue;
        }
        boolean canary = r.canary() != null && CanaryRouter.inCanary(userId, r.percent());
        LoadedPolicy lp = canary ? r.canary() : r.stable();
        // Fails only when the version drained between reading the routing and here: read again.
        if (lp.tryAcquire()) {
          leased = true;
          return new Lease(policyId, lp, canary, () -> residents.leaseClosed(s));
        }
      }
    } finally {
      if (!leased) residents.leaseClosed(s);
    }
  }

  /**
   * A lease on the reference model a version was trained against: the base weights for "base" (or
   * "v0"), the policy version for "v&lt;n&gt;": the copy already in memory when there is one, else
   * loaded and verified on first use; then kept (the current and the previous pin).
   *
   * @throws VersionUnavailableException the reference's checkpoint cannot be read just now
   */
  public Lease acquireReference(String policyId, String referenceId) throws RefusedVersionException {
    if (referenceId == null || referenceId.isEmpty() || referenceId.equals(BASE_REFERENCE) || referenceId.equals("v0")) {
      if (!base.tryAcquire()) throw new IllegalStateException("the base model was released");
      return new Lease(policyId, base, false, () -> {});
    }
    Slot s = existing(policyId);
    Matcher m = VERSION_REFERENCE.matcher(referenceId);
    s.users.incrementAndGet(); // the snapshot is not evicted while this request loads or holds it
    boolean leased = false;
    try {
      residents.used(s);
      Lease lease = referenceLease(s, referenceId, m);
      leased = true;
      return lease;
    } finally {
      if (!leased) residents.leaseClosed(s);
    }
  }

  private Lease referenceLease(Slot s, String referenceId, Matcher m) throws RefusedVersionException {
    String policyId = s.policyId;
    while (true) {
      PolicyUpdate u;
      synchronized (s) {
        Optional<PolicyUpdate> known = m.matches() ? s.update(Long.parseLong(m.group(1))) : Optional.empty();
        if (known.isEmpty()) {
          throw new RefusedVersionException("reference '" + referenceId + "' of policy '" + policyId
              + "' is neither 'base' nor 'v<n>' for a version this replica knows");
        }
        u = known.get();
        Slot.Plan plan = new Slot.Plan();
        LoadedPolicy cached = s.cachedReference(referenceId, u.getVersion(), plan);
        execute(s, plan);
        if (cached != null && cached.tryAcquire()) return new Lease(policyId, cached, false, () -> residents.leaseClosed(s));
      }
      LoadedPolicy lp;
      try {
        lp = loader.load(u, released -> residents.released(s, released));
      } catch (IOException e) {
        throw new VersionUnavailableException("reference '" + referenceId + "' of policy '" + policyId + "': "
            + e.getMessage() + "; try again", e);
      }
      residents.track(s, lp);
      synchronized (s) {
        Slot.Plan plan = new Slot.Plan();
        s.cacheReference(referenceId, lp, plan);
        execute(s, plan);
      }
      residents.enforce();
    }
  }

  // ---- feed ----------------------------------------------------------------------------------

  @Override
  public void onPolicyUpdate(PolicyUpdate u) {
    if (closed || !settings.serves(u.getPolicyId())) return; // another replica's policy
    Slot s = slot(u.getPolicyId());
    synchronized (s) {
      Optional<PolicyUpdate> prev = s.update(u.getVersion());
      if (prev.isPresent()) {
        if (!prev.get().getSha256().equals(u.getSha256())) {
          LOG.warn("policy '{}' v{} announced again with another sha256 ({} then {}); keeping the first",
              u.getPolicyId(), u.getVersion(), prev.get().getSha256(), u.getSha256());
        }
        return;
      }
      LOG.info("policy '{}' v{} announced (parent {}, step {}, format {})", u.getPolicyId(), u.getVersion(),
          u.getParentVersion(), u.getStep(), u.getFormat());
      execute(s, s.announce(u, settings.gate(), automation()));
    }
  }

  @Override
  public void onRolloutState(RolloutState state) {
    if (closed || !settings.serves(state.getPolicyId())) return;
    Slot s = slot(state.getPolicyId());
    synchronized (s) {
      RolloutState before = s.desired();
      Slot.Plan plan = s.apply(state);
      if (plan == null) {
        LOG.warn("policy '{}': ignoring a stale rollout state (revision {} based on {}, by {}): the current one is"
            + " revision {}", state.getPolicyId(), state.getRevision(), state.getBaseRevision(), state.getUpdatedBy(),
            before == null ? null : before.getRevision());
        return;
      }
      LOG.info("policy '{}' desired state r{}: mode {}, stable {}, canary {} at {}% (by {} {}: {})", state.getPolicyId(),
          state.getRevision(), state.getMode(), state.getStableVersion(), state.getCanaryVersion(), state.getCanaryPercent(),
          state.getAuthor(), state.getUpdatedBy(), state.getReason());
      execute(s, plan);
      s.notifyAll();
    }
  }

  /** Does what a transition planned. Holds the slot. */
  private void execute(Slot s, Slot.Plan plan) {
    for (PolicyUpdate u : plan.loads) submitLoad(s, u, 1, Duration.ZERO);
    for (LoadedPolicy lp : plan.retire) lp.retire();
    if (!plan.swapped()) return;
    Slot.Routing next = plan.swappedTo;
    metrics.swaps.labelValues(s.policyId).inc();
    metrics.servingVersion.labelValues(s.policyId, "stable").set(next.stable().version());
    metrics.servingVersion.labelValues(s.policyId, "canary").set(next.canary() == null ? -1 : next.canary().version());
    if (next.stable() != plan.swappedFrom.stable()) {
      s.update(next.stable().version()).map(PolicyUpdate::getCreatedAt).ifPresent(created -> metrics.updateToServingSeconds
          .observe(Math.max(0, (Instant.now().toEpochMilli() - created.toEpochMilli()) / 1000.0)));
    }
    LOG.info("policy '{}' now serves v{}{}", s.policyId, next.stable().version(),
        next.canary() == null ? "" : " (canary v" + next.canary().version() + " for " + next.percent() + "% of users)");
  }

  private void submitLoad(Slot s, PolicyUpdate u, int attempt, Duration delay) {
    try {
      loads.schedule(() -> load(s, u, attempt), delay.toNanos(), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      if (!closed) throw e;
    }
  }

  /** On the loader thread. */
  private void load(Slot s, PolicyUpdate u, int attempt) {
    if (closed) return;
    long v = u.getVersion();
    synchronized (s) {
      if (!s.stillWanted(v)) return;
    }
    long t0 = System.nanoTime();
    LoadedPolicy lp;
    try {
      lp = loader.load(u, released -> residents.released(s, released));
    } catch (IOException e) {
      loadFailedForNow(s, u, attempt, e);
      return;
    } catch (RefusedVersionException | RuntimeException e) {
      String reason = e.getMessage() == null ? e.toString() : e.getMessage();
      if (closed) return; // the registry is closing: the load was cut short, nothing is wrong with the version
      if (Thread.interrupted()) { // cut short (the flag is cleared for the loader's next task): try again later
        loadFailedForNow(s, u, attempt, new java.io.InterruptedIOException("the load was interrupted: " + reason));
        return;
      }
      LOG.warn("policy '{}' v{} refused: {}", u.getPolicyId(), v, reason);
      metrics.versionsRefused.labelValues(u.getPolicyId()).inc();
      synchronized (s) {
        execute(s, s.refused(v, reason));
      }
      return;
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    metrics.loadSeconds.observe(seconds);
    metrics.versionsLoaded.labelValues(u.getPolicyId()).inc();
    residents.track(s, lp);
    LOG.info("policy '{}' v{} loaded and verified in {} ms", u.getPolicyId(), v, Math.round(seconds * 1000));
    Slot.Plan plan;
    synchronized (s) {
      plan = s.loaded(v, lp, settings.gate(), automation());
      execute(s, plan);
    }
    if (plan.proposal != null) proposals.automation(s, v, plan.proposal);
    residents.enforce();
  }

  /** A transient read error: try again after a backoff, or give up for now after the last attempt. */
  private void loadFailedForNow(Slot s, PolicyUpdate u, int attempt, IOException e) {
    long v = u.getVersion();
    LoadRetry retry = settings.loadRetry();
    String reason = e.getMessage() == null ? e.toString() : e.getMessage();
    if (attempt < retry.maxAttempts()) {
      Duration wait = retry.backoffAfter(attempt);
      metrics.loadRetries.labelValues(s.policyId).inc();
      LOG.warn("policy '{}' v{}: load attempt {} of {} failed ({}); retrying in {} ms", s.policyId, v, attempt,
          retry.maxAttempts(), reason, wait.toMillis());
      synchronized (s) {
        s.retrying(v, attempt, retry.maxAttempts(), reason);
      }
      submitLoad(s, u, attempt + 1, wait);
    } else {
      metrics.versionsUnavailable.labelValues(s.policyId).inc();
      LOG.error("policy '{}' v{}: still unreadable after {} attempts ({}); a desired state naming it tries again",
          s.policyId, v, attempt, reason);
      synchronized (s) {
        execute(s, s.unavailable(v, "unreadable after " + attempt + " attempts: " + reason));
      }
    }
  }

  // ---- authors of proposals (written by Proposals) --------------------------------------------

  private RolloutDecisions.Author automation() {
    return proposals.author(RolloutAuthor.AUTOMATION, "auto@" + settings.replicaId());
  }

  private RolloutDecisions.Author operator(String by) {
    return proposals.author(RolloutAuthor.OPERATOR, by);
  }

  // ---- admin ---------------------------------------------------------------------------------

  /** Makes {@code version} stable (clearing it as canary). */
  public RolloutView promote(String policyId, long version, String reason, String by) throws InterruptedException {
    Slot s = existing(policyId);
    synchronized (s) {
      s.requireUsable(version);
    }
    return operatorChange(s, "the promotion of v" + version,
        cur -> RolloutDecisions.promote(cur, policyId, operator(by), version, reason));
  }

  /** Goes back to {@code version} and switches to MANUAL so that AUTO does not promote past it again. */
  public RolloutView rollback(String policyId, long version, String reason, String by) throws InterruptedException {
    Slot s = existing(policyId);
    synchronized (s) {
      s.requireUsable(version);
    }
    return operatorChange(s, "the rollback to v" + version,
        cur -> RolloutDecisions.rollback(cur, policyId, operator(by), version, reason));
  }

  /** Sends {@code percent} (0..100) of users to {@code version}; 0 ends the canary. */
  public RolloutView setCanary(String policyId, long version, double percent, String by) throws InterruptedException {
    Slot s = existing(policyId);
    if (!(percent >= 0 && percent <= 100)) throw new IllegalArgumentException("percent must be in [0, 100], got " + percent);
    if (percent > 0) {
      synchronized (s) {
        s.requireUsable(version);
      }
    }
    return operatorChange(s, "the canary of v" + version + " at " + percent + "%",
        cur -> RolloutDecisions.canary(cur, policyId, operator(by), version, percent));
  }

  /** AUTO or MANUAL. */
  public RolloutView setMode(String policyId, RolloutMode mode, String by) throws InterruptedException {
    Slot s = existing(policyId);
    return operatorChange(s, "mode " + mode, cur -> RolloutDecisions.mode(cur, policyId, operator(by), mode));
  }

  /**
   * Asks the learner (on prefstream.control) to pin {@code version} (empty: the base weights) as its
   * reference, and records the pin in the rollout state.
   */
  public RolloutView pinReference(String policyId, Optional<Long> version, String by) throws InterruptedException {
    Slot s = existing(policyId);
    if (version.isPresent()) {
      synchronized (s) {
        s.requireUsable(version.get());
      }
    }
    String pinned = version.map(v -> v == 0 ? BASE_REFERENCE : "v" + v).orElse(BASE_REFERENCE);
    ControlCommand cmd = ControlCommand.newBuilder().setCommandId(UUID.randomUUID().toString()).setPolicyId(policyId)
        .setAction(new PinReference(version.filter(v -> v != 0).orElse(null))).setIssuedBy(by).setIssuedAt(Instant.now())
        .build();
    proposals.awaitWrite(feed.publishControl(cmd), "the pin-reference command for policy '" + policyId + "'",
        System.nanoTime() + settings.adminWait().toNanos());
    return operatorChange(s, "the pin of reference " + pinned,
        cur -> RolloutDecisions.pin(cur, policyId, operator(by), pinned));
  }

  private RolloutView operatorChange(Slot s, String what, UnaryOperator<RolloutState> change) throws InterruptedException {
    proposals.operator(s, what, change);
    return status(s.policyId);
  }

  // ---- views ---------------------------------------------------------------------------------

  /**
   * This replica's view of a policy. For a cold policy (see the class comment) the serving versions
   * are those its next request loads.
   */
  public RolloutView status(String policyId) {
    Slot s = existing(policyId);
    synchronized (s) {
      RolloutState d = s.desired();
      long[] served = s.servedVersions();
      List<Long> resident = new ArrayList<>();
      resident.add(0L);
      resident.addAll(residentVersions(policyId));
      return new RolloutView(s.policyId, s.mode().name(),
          Optional.ofNullable(d == null ? null : d.getStableVersion()),
          Optional.ofNullable(d == null ? null : d.getCanaryVersion()),
          d == null ? 0 : d.getCanaryPercent(),
          Optional.ofNullable(d == null ? null : d.getPinnedReference()),
          served[0], Optional.ofNullable(served[1] < 0 ? null : served[1]),
          s.refusals(), resident, s.referenceIdOf(served[0]), d == null ? 0 : d.getRevision());
    }
  }

  /** Every version known from the updates feed, oldest first, with what became of it here. */
  public List<VersionView> versions(String policyId) {
    Slot s = existing(policyId);
    synchronized (s) {
      return s.versions();
    }
  }

  /** Policies this replica knows. */
  public Set<String> policies() {
    return Set.copyOf(slots.keySet());
  }

  /**
   * Version copies in memory for {@code policyId} beyond the base, one entry per copy, sorted: routed,
   * preloaded, a reference snapshot, or held by requests still running on it.
   */
  public List<Long> residentVersions(String policyId) {
    return existing(policyId).alive.stream().map(LoadedPolicy::version).sorted().toList();
  }

  /**
   * Whether {@code policyId}'s routed versions are in memory; false while it is cold (never used
   * since start under a resident budget, or evicted): its next request loads them.
   */
  public boolean isResident(String policyId) {
    return !existing(policyId).cold();
  }

  /** Bytes all policies' version copies hold beyond the base, against {@link RegistrySettings#residentBytes}. */
  public long residentBytes() {
    return residents.bytes();
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
