package io.prefstream.serving.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.serving.Fixture;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.rollout.InMemoryRolloutFeed;
import io.prefstream.serving.rollout.ProposalOutcome;
import io.prefstream.serving.rollout.RolloutFeed;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a replica reports about its versions: gate reasons, what is in memory, and whether an admin change landed. */
class RegistryBookkeepingTest {
  @TempDir static Path root;
  static Fixture fx;

  InMemoryRolloutFeed feed = new InMemoryRolloutFeed();
  ServingMetrics metrics = new ServingMetrics(new PrometheusRegistry());
  PolicyRegistry registry;

  @BeforeAll
  static void model() throws Exception {
    fx = new Fixture(root);
  }

  @AfterEach
  void close() {
    if (registry != null) registry.close();
  }

  private PolicyRegistry registry(PolicyLoader loader, RolloutFeed f, RegistrySettings settings) {
    registry = new PolicyRegistry(loader, f, settings, metrics, RegistryHooks.NONE).start();
    return registry;
  }

  private VersionLoader realLoader() {
    return new VersionLoader(fx.base, Optional.of(fx.store.root()));
  }

  private static void awaitServing(PolicyRegistry r, String policy, long v) {
    await().atMost(Duration.ofSeconds(20)).until(() -> r.status(policy).servingVersion() == v);
  }

  @Test
  void aVersionTheGateHeldAfterLoadingKeepsItsReasonOnceItLeavesMemory() throws Exception {
    GatedLoader loader = new GatedLoader(realLoader(), u -> u.getVersion() == 3);
    registry(loader, feed, RegistrySettings.defaults("test").withDefaultMode(RolloutMode.MANUAL));
    feed.publishUpdate(fx.writeVersion("held", 1, 0.95));
    feed.publishUpdate(fx.writeVersion("held", 2, 0.80));
    registry.promote("held", 2, "", "op");
    awaitServing(registry, "held", 2);
    registry.setMode("held", RolloutMode.AUTO, "op");

    // v3 passes the gate against v2 (0.78 >= 0.80 - 0.05) when announced, so it starts loading ...
    feed.publishUpdate(fx.writeVersion("held", 3, 0.78));
    assertThat(loader.entered.await(20, TimeUnit.SECONDS)).isTrue();
    // ... but by the time it is resident the stable version is v1 (0.95), and the gate holds it.
    registry.promote("held", 1, "back to the best", "op");
    loader.release.countDown();
    awaitServing(registry, "held", 1);
    registry.awaitLoads();

    assertThat(registry.versions("held")).filteredOn(v -> v.update().getVersion() == 3).singleElement()
        .satisfies(v -> assertThat(v.loadState()).startsWith("held: eval/rewards/accuracies 0.7800 is below stable's 0.9500"));
    assertThat(registry.residentVersions("held")).doesNotContain(3L);
  }

  @Test
  void residentVersionsCountEveryReferenceToAVersion() throws Exception {
    registry(realLoader(), feed, RegistrySettings.defaults("test").withDefaultMode(RolloutMode.AUTO));
    feed.publishUpdate(fx.writeVersion("refs", 1, 0.8));
    awaitServing(registry, "refs", 1);
    // Scoring against reference "v1" while v1 is routed uses the copy already in memory.
    try (Lease ref = registry.acquireReference("refs", "v1")) {
      assertThat(ref.version()).isEqualTo(1);
    }
    assertThat(registry.residentVersions("refs")).containsExactly(1L);
    assertThat(metrics.residentVersions.get()).isEqualTo(2.0); // base + v1

    // v2 replaces v1 in the routing; v1 stays in memory as the cached reference snapshot.
    Lease inFlight = registry.acquire("refs", "user");
    feed.publishUpdate(fx.writeVersion("refs", 2, 0.8));
    awaitServing(registry, "refs", 2);
    assertThat(registry.residentVersions("refs")).containsExactly(1L, 2L);
    assertThat(metrics.residentVersions.get()).isEqualTo(3.0);

    // A request that holds v2 keeps it in memory (and counted) after v3 replaces it.
    inFlight.close();
    Lease onV2 = registry.acquire("refs", "user");
    feed.publishUpdate(fx.writeVersion("refs", 3, 0.8));
    awaitServing(registry, "refs", 3);
    assertThat(registry.residentVersions("refs")).containsExactly(1L, 2L, 3L);
    assertThat(registry.status("refs").residentVersions()).containsExactly(0L, 1L, 2L, 3L);
    assertThat(metrics.residentVersions.get()).isEqualTo(4.0);
    onV2.close();
    assertThat(registry.residentVersions("refs")).containsExactly(1L, 3L);
    assertThat(metrics.residentVersions.get()).isEqualTo(3.0);

    // A reference no longer in memory is loaded as a snapshot of its own, counted like any copy;
    // the cache keeps two, so v1 (the oldest) goes.
    try (Lease ref = registry.acquireReference("refs", "v2")) {
      assertThat(ref.version()).isEqualTo(2);
    }
    assertThat(registry.residentVersions("refs")).containsExactly(1L, 2L, 3L);
    assertThat(metrics.residentVersions.get()).isEqualTo(4.0);
    try (Lease ref = registry.acquireReference("refs", "v3")) {
      assertThat(ref.version()).isEqualTo(3);
    }
    assertThat(registry.residentVersions("refs")).containsExactly(2L, 3L);
    assertThat(metrics.residentVersions.get()).isEqualTo(3.0);
  }

  /** The in-memory feed, except that rollout states never come back to the replica. */
  static final class DeafFeed implements RolloutFeed {
    final InMemoryRolloutFeed inner = new InMemoryRolloutFeed();

    @Override
    public void start(Listener listener) {
      inner.start(new Listener() {
        @Override
        public void onPolicyUpdate(PolicyUpdate update) {
          listener.onPolicyUpdate(update);
        }

        @Override
        public void onRolloutState(RolloutState state) {}
      });
    }

    @Override
    public CompletableFuture<ProposalOutcome> propose(RolloutState state) {
      return inner.propose(state);
    }

    @Override
    public CompletableFuture<Void> publishControl(ControlCommand command) {
      return inner.publishControl(command);
    }

    @Override
    public void close() {
      inner.close();
    }
  }

  /** The in-memory feed, except that another replica's proposal lands just before this replica's first operator change. */
  static final class RacedFeed implements RolloutFeed {
    final InMemoryRolloutFeed inner = new InMemoryRolloutFeed();
    final java.util.function.UnaryOperator<RolloutState> competitor;
    boolean raced;

    RacedFeed(java.util.function.UnaryOperator<RolloutState> competitor) {
      this.competitor = competitor;
    }

    @Override
    public void start(Listener listener) {
      inner.start(listener);
    }

    @Override
    public CompletableFuture<ProposalOutcome> propose(RolloutState state) {
      if (!raced && state.getAuthor() == io.prefstream.schemas.avro.RolloutAuthor.OPERATOR) {
        raced = true;
        assertThat(inner.propose(competitor.apply(inner.rolloutState(state.getPolicyId()))).join())
            .isInstanceOf(ProposalOutcome.Accepted.class);
      }
      return inner.propose(state);
    }

    @Override
    public CompletableFuture<Void> publishControl(ControlCommand command) {
      return inner.publishControl(command);
    }

    @Override
    public void close() {
      inner.close();
    }
  }

  @Test
  void anOperatorsChangeComputedFromAStaleStateIsAppliedToTheNewerOne() throws Exception {
    var otherReplica = new io.prefstream.serving.rollout.RolloutDecisions.Author(
        io.prefstream.schemas.avro.RolloutAuthor.AUTOMATION, "auto@other", RolloutMode.AUTO, java.time.Instant.now());
    RacedFeed raced = new RacedFeed(cur -> io.prefstream.serving.rollout.RolloutDecisions.promote(cur, "rebase", otherReplica, 2, null));
    registry(realLoader(), raced, RegistrySettings.defaults("test").withDefaultMode(RolloutMode.MANUAL));
    raced.inner.publishUpdate(fx.writeVersion("rebase", 1, 0.8));
    raced.inner.publishUpdate(fx.writeVersion("rebase", 2, 0.8));

    // Computed from "no state yet"; the other replica's promotion of v2 lands first, so it is re-applied to that.
    RolloutView v = registry.setCanary("rebase", 1, 25, "op");
    assertThat(v.stableVersion()).contains(2L);
    assertThat(v.canaryVersion()).contains(1L);
    assertThat(v.revision()).isEqualTo(2);
    RolloutState last = raced.inner.rolloutState("rebase");
    assertThat(last.getBaseRevision()).isEqualTo(1L);
    assertThat(last.getUpdatedBy()).isEqualTo("op");
    assertThat(metrics.rolloutProposals.labelValues("rebase", "OPERATOR", "stale").get()).isEqualTo(1.0);
    assertThat(metrics.rolloutProposals.labelValues("rebase", "OPERATOR", "accepted").get()).isEqualTo(1.0);
  }

  @Test
  void anAdminChangeFailsWhenItsStateNeverComesBackFromTheFeed() {
    RegistrySettings s = RegistrySettings.defaults("test");
    registry(realLoader(), new DeafFeed(),
        new RegistrySettings(s.defaultPolicy(), RolloutMode.AUTO, s.gate(), s.replicaId(), Duration.ofMillis(300)));

    assertThatThrownBy(() -> registry.setMode("default", RolloutMode.MANUAL, "op"))
        .isInstanceOf(FeedUnavailableException.class)
        .hasMessageContaining("policy 'default'")
        .hasMessageContaining("did not come back");
    assertThat(registry.status("default").mode()).isEqualTo("AUTO");
  }
}
