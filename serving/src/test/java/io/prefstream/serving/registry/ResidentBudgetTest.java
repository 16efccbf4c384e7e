package io.prefstream.serving.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.prefstream.model.generate.SamplingParams;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.serving.Fixture;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.rollout.InMemoryRolloutFeed;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many policies under a resident budget: loaded on first use, least recently used evicted, rollout
 * state kept, leased copies kept, concurrent first uses coalesced. Real loader, real checkpoints;
 * MANUAL mode so that only the test's promotions change what is served.
 */
class ResidentBudgetTest {
  @TempDir static Path root;
  static Fixture fx;
  /** What one of the fixture's adapters holds beyond the base, as the loader counts it. */
  static long adapterBytes;

  InMemoryRolloutFeed feed = new InMemoryRolloutFeed();
  ServingMetrics metrics = new ServingMetrics(new PrometheusRegistry());
  PolicyRegistry registry;

  @BeforeAll
  static void model() throws Exception {
    fx = new Fixture(root);
    adapterBytes = realLoader().load(fx.writeVersion("sizing", 1, 0.8), lp -> {}).bytes();
  }

  @AfterEach
  void close() {
    if (registry != null) registry.close();
  }

  private static VersionLoader realLoader() {
    return new VersionLoader(fx.base, Optional.of(fx.store.root()));
  }

  private PolicyRegistry registry(PolicyLoader loader, long budget) {
    registry = new PolicyRegistry(loader, feed, RegistrySettings.defaults("test").withDefaultMode(RolloutMode.MANUAL)
        .withResidentBytes(budget), metrics, RegistryHooks.NONE).start();
    return registry;
  }

  /** Announces v1 of {@code policy} and makes it stable. */
  private void publishStable(String policy) throws Exception {
    feed.publishUpdate(fx.writeVersion(policy, 1, 0.8));
    registry.promote(policy, 1, "test", "op");
  }

  /** One request on {@code policy}: the version that served it. */
  private long use(String policy) {
    try (Lease l = registry.acquire(policy, "user")) {
      return l.version();
    }
  }

  private double evictions(String policy) {
    return metrics.evictions.labelValues(policy).get();
  }

  private double firstUseLoads(String policy) {
    return metrics.firstUseLoads.labelValues(policy).get();
  }

  @Test
  void aCopyCountsTheAdaptersFactorsAndTheGradientBuffersBesideThem() {
    long floats = fx.adapter(1).tensors().values().stream().mapToLong(t -> t.data().length).sum();
    assertThat(adapterBytes).isEqualTo(2 * floats * Float.BYTES);
  }

  @Test
  void evictsTheLeastRecentlyUsedPolicyAndLoadsItAgainOnItsNextRequestWithItsRolloutStateUnchanged() throws Exception {
    registry(realLoader(), adapterBytes * 5 / 2); // two adapters fit, three do not
    for (String p : new String[] {"lru-a", "lru-b", "lru-c"}) publishStable(p);
    registry.awaitLoads();
    // Nothing is loaded before a request asks for it.
    assertThat(registry.residentBytes()).isZero();
    assertThat(metrics.versionsLoaded.labelValues("lru-a").get()).isZero();
    assertThat(registry.isResident("lru-a")).isFalse();

    assertThat(use("lru-a")).isEqualTo(1);
    assertThat(use("lru-b")).isEqualTo(1);
    assertThat(use("lru-a")).isEqualTo(1); // a is now used more recently than b
    RolloutView before = registry.status("lru-b");
    assertThat(use("lru-c")).isEqualTo(1);

    // c's copy made three: b, the least recently used, went; a (loaded first, used since) stays.
    assertThat(registry.isResident("lru-b")).isFalse();
    assertThat(registry.residentVersions("lru-b")).isEmpty();
    assertThat(registry.isResident("lru-a")).isTrue();
    assertThat(registry.isResident("lru-c")).isTrue();
    assertThat(evictions("lru-b")).isEqualTo(1.0);
    assertThat(evictions("lru-a")).isZero();
    assertThat(registry.residentBytes()).isEqualTo(2 * adapterBytes);
    assertThat((long) metrics.residentBytes.get()).isEqualTo(2 * adapterBytes);

    // b keeps its rollout state; its next request loads v1 again, and a (now the least recent) goes.
    RolloutView after = registry.status("lru-b");
    assertThat(after.stableVersion()).contains(1L);
    assertThat(after.mode()).isEqualTo("MANUAL");
    assertThat(after.revision()).isEqualTo(before.revision());
    assertThat(after.servingVersion()).isEqualTo(1);
    assertThat(registry.versions("lru-b")).singleElement()
        .satisfies(v -> assertThat(v.loadState()).startsWith("evicted"));
    assertThat(use("lru-b")).isEqualTo(1);
    assertThat(firstUseLoads("lru-b")).isEqualTo(2.0);
    assertThat(registry.versions("lru-b")).singleElement().satisfies(v -> assertThat(v.loadState()).isEqualTo("serving"));
    assertThat(registry.isResident("lru-a")).isFalse();
    assertThat(evictions("lru-a")).isEqualTo(1.0);
    assertThat(registry.status("lru-b").stableVersion()).contains(1L);
  }

  @Test
  void aLeasedCopyIsNeverEvictedAndGoesWhenItsLeaseCloses() throws Exception {
    registry(realLoader(), adapterBytes * 3 / 2); // one adapter fits
    publishStable("held-a");
    publishStable("held-b");

    Lease a = registry.acquire("held-a", "user");
    try (Lease b = registry.acquire("held-b", "user")) {
      // Two copies over a budget of one: a is held by a request, b is the one being requested.
      assertThat(registry.residentBytes()).isEqualTo(2 * adapterBytes);
      assertThat(b.version()).isEqualTo(1);
      assertThat(registry.isResident("held-a")).isTrue();
      assertThat(a.loaded().isReleased()).isFalse();
    }
    // b is the most recently used and a is still held: both stay, over budget.
    assertThat(registry.isResident("held-a")).isTrue();
    assertThat(registry.isResident("held-b")).isTrue();
    int[] prompt = fx.base.tokenizer().encode("hello", true);
    assertThat(a.generate(prompt, SamplingParams.greedy(4, -1), null, null).tokens()).hasSize(4);
    assertThat(evictions("held-a")).isZero();

    a.close();
    assertThat(a.loaded().isReleased()).isTrue();
    assertThat(registry.isResident("held-a")).isFalse();
    assertThat(evictions("held-a")).isEqualTo(1.0);
    assertThat(registry.isResident("held-b")).isTrue();
    assertThat(registry.residentBytes()).isEqualTo(adapterBytes);
  }

  @Test
  void concurrentFirstUsesOfAColdPolicyLoadItOnceAndOtherPoliciesAreNotHeldUp() throws Exception {
    GatedLoader loader = new GatedLoader(realLoader(), u -> u.getPolicyId().equals("burst"));
    registry(loader, adapterBytes * 10);
    publishStable("burst");
    publishStable("other");

    // Own threads: the common pool may have a single one, which the blocked first use would hold.
    ExecutorService threads = Executors.newFixedThreadPool(3);
    CompletableFuture<Long> first = CompletableFuture.supplyAsync(() -> use("burst"), threads);
    assertThat(loader.entered.await(20, TimeUnit.SECONDS)).isTrue();
    AtomicLong secondVersion = new AtomicLong(-1);
    Thread second = new Thread(() -> secondVersion.set(use("burst")), "second-first-use");
    second.start();
    // The second request is parked: waiting for the first one's load (or, were loads not coalesced, in its own).
    await().atMost(Duration.ofSeconds(20))
        .until(() -> second.getState() == Thread.State.WAITING || loader.loads("burst") > 1);

    // Another cold policy loads and serves while burst's load is still running.
    assertThat(CompletableFuture.supplyAsync(() -> use("other"), threads).get(20, TimeUnit.SECONDS)).isEqualTo(1);
    assertThat(first).isNotDone();

    loader.release.countDown();
    assertThat(first.get(20, TimeUnit.SECONDS)).isEqualTo(1);
    second.join(20_000);
    assertThat(secondVersion.get()).isEqualTo(1);
    assertThat(loader.loads("burst")).isEqualTo(1);
    assertThat(firstUseLoads("burst")).isEqualTo(1.0);
    assertThat(registry.residentVersions("burst")).containsExactly(1L);
    threads.shutdown();
  }

  @Test
  void aSinglePolicyLargerThanTheBudgetIsStillServedAndStaysResident() throws Exception {
    registry(realLoader(), 1);
    publishStable("big");

    assertThat(use("big")).isEqualTo(1);
    assertThat(use("big")).isEqualTo(1);
    assertThat(firstUseLoads("big")).isEqualTo(1.0);
    assertThat(evictions("big")).isZero();
    assertThat(registry.residentBytes()).isEqualTo(adapterBytes);
  }

  @Test
  void aColdPolicyRecordsAPromotionWithoutLoadingAndAResidentOneLoadsInTheBackground() throws Exception {
    registry(realLoader(), adapterBytes * 10);
    publishStable("later");
    feed.publishUpdate(fx.writeVersion("later", 2, 0.8));
    registry.promote("later", 2, "newer", "op");
    registry.awaitLoads();
    // Cold: the promotion is recorded, nothing is loaded; its first request loads the promoted version.
    assertThat(metrics.versionsLoaded.labelValues("later").get()).isZero();
    assertThat(registry.status("later").servingVersion()).isEqualTo(2);
    assertThat(use("later")).isEqualTo(2);
    assertThat(firstUseLoads("later")).isEqualTo(1.0);

    // Resident: the next promotion loads in the background and swaps in without a request waiting for it.
    feed.publishUpdate(fx.writeVersion("later", 3, 0.8));
    registry.promote("later", 3, "newest", "op");
    await().atMost(Duration.ofSeconds(20)).until(() -> registry.residentVersions("later").equals(java.util.List.of(3L)));
    assertThat(use("later")).isEqualTo(3);
    assertThat(firstUseLoads("later")).isEqualTo(1.0);
    assertThat(metrics.versionsLoaded.labelValues("later").get()).isEqualTo(2.0);
  }

  @Test
  void aFirstUseWhoseCheckpointCannotBeReadFailsWithVersionUnavailableAndLoadsOnceItCan() throws Exception {
    registry(realLoader(), adapterBytes * 10);
    PolicyUpdate u = fx.writeVersion("unreadable", 1, 0.8);
    feed.publishUpdate(u);
    registry.promote("unreadable", 1, "", "op");
    Path dir = Path.of(URI.create(u.getCheckpointUri()));
    Path hidden = root.resolve("unreadable-for-now");
    Files.move(dir, hidden);

    assertThatThrownBy(() -> registry.acquire("unreadable", "user")).isInstanceOf(VersionUnavailableException.class)
        .hasMessageContaining("policy 'unreadable' v1").hasMessageContaining("try again");
    assertThat(registry.isResident("unreadable")).isFalse();
    assertThat(registry.status("unreadable").refused()).isEmpty();

    Files.move(hidden, dir);
    assertThat(use("unreadable")).isEqualTo(1);
    assertThat(firstUseLoads("unreadable")).isEqualTo(1.0);
  }

  @Test
  void withoutABudgetEveryPolicyIsLoadedAsItsUpdatesArrive() throws Exception {
    registry(realLoader(), RegistrySettings.UNLIMITED);
    publishStable("eager");
    await().atMost(Duration.ofSeconds(20)).until(() -> registry.residentVersions("eager").equals(java.util.List.of(1L)));
    assertThat(registry.isResident("eager")).isTrue();
    assertThat(use("eager")).isEqualTo(1);
    assertThat(firstUseLoads("eager")).isZero();
  }

  @Test
  void aSlotWithAUserIsNotEvictedAndAnEvictedOneKeepsItsStateLoadsNothingAndReconsidersAutomationWhenWarmed() {
    Slot slot = new Slot("p", SlotTest.copy(0), RolloutMode.AUTO);
    slot.announce(SlotTest.update(1, 0.8), SlotTest.GATE, SlotTest.AUTO);
    LoadedPolicy v1 = SlotTest.copy(1);
    slot.apply(slot.loaded(1, v1, SlotTest.GATE, SlotTest.AUTO).proposal);
    assertThat(slot.routing().stable()).isSameAs(v1);

    // A request counted itself before reading the routing: eviction leaves everything as it was.
    slot.users.incrementAndGet();
    assertThat(slot.evict()).isNull();
    assertThat(slot.routing().stable()).isSameAs(v1);
    slot.users.decrementAndGet();

    Slot.Plan evicted = slot.evict();
    assertThat(evicted.retire).containsExactly(v1);
    assertThat(slot.cold()).isTrue();
    assertThat(slot.desired().getStableVersion()).isEqualTo(1L);
    assertThat(slot.firstUseTargets().stableVersion()).isEqualTo(1);

    // Cold: an update the gate passes is recorded, not loaded; a load finishing now is discarded.
    assertThat(slot.announce(SlotTest.update(2, 0.9), SlotTest.GATE, SlotTest.AUTO).loads).isEmpty();
    LoadedPolicy late = SlotTest.copy(2);
    assertThat(slot.loaded(2, late, SlotTest.GATE, SlotTest.AUTO).retire).containsExactly(late);

    // Warmed by a first use: routed to v1 again, and automation now loads v2 in the background.
    LoadedPolicy again = SlotTest.copy(1);
    Slot.Plan warmed = slot.warmed(Map.of(1L, again), slot.firstUseTargets(), SlotTest.GATE, SlotTest.AUTO);
    assertThat(slot.routing().stable()).isSameAs(again);
    assertThat(warmed.loads).extracting(PolicyUpdate::getVersion).containsExactly(2L);
    assertThat(warmed.retire).isEmpty();
  }

  @Test
  void readsBudgetsInBinaryUnits() {
    assertThat(ByteSize.parse("0")).isZero();
    assertThat(ByteSize.parse("1048576")).isEqualTo(1L << 20);
    assertThat(ByteSize.parse("512MiB")).isEqualTo(512L << 20);
    assertThat(ByteSize.parse("2GiB")).isEqualTo(2L << 30);
    assertThat(ByteSize.parse(" 1.5g ")).isEqualTo(3L << 29);
    assertThat(ByteSize.format(15L << 19)).isEqualTo("7.5 MiB");
    assertThatThrownBy(() -> ByteSize.parse("2GB")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'2GB' is not a size");
    assertThatThrownBy(() -> RegistrySettings.defaults("t").withResidentBytes(-1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("resident budget");
  }
}
