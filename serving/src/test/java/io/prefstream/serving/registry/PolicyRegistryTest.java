package io.prefstream.serving.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.prefstream.model.generate.SamplingParams;
import io.prefstream.schemas.avro.PinReference;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutAuthor;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.serving.Fixture;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.rollout.CanaryRouter;
import io.prefstream.serving.rollout.InMemoryRolloutFeed;
import io.prefstream.serving.rollout.RolloutDecisions;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PolicyRegistryTest {
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

  private PolicyRegistry registry(RolloutMode mode) {
    registry = new PolicyRegistry(new VersionLoader(fx.base, Optional.of(fx.store.root())), feed,
        RegistrySettings.defaults("test").withDefaultMode(mode), metrics).start();
    return registry;
  }

  private long serving(String policy) {
    try (Lease l = registry.acquire(policy, "")) {
      return l.version();
    }
  }

  private static void awaitServing(PolicyRegistry r, String policy, long v) {
    await().atMost(Duration.ofSeconds(20)).until(() -> r.status(policy).servingVersion() == v);
  }

  @Test
  void servesTheBaseWeightsAsVersionZeroBeforeAnyUpdate() {
    registry(RolloutMode.AUTO);
    assertThat(serving("default")).isZero();
    assertThat(registry.status("default").referenceId()).isEqualTo("base");
    assertThatThrownBy(() -> registry.acquire("nope", "")).isInstanceOf(UnknownPolicyException.class).hasMessageContaining("nope");
  }

  @Test
  void servesEveryPolicyOnTheFeedOrOnlyTheListedOnes() throws Exception {
    registry(RolloutMode.AUTO);
    feed.publishUpdate(fx.writeVersion("app-a", 1, 0.80));
    feed.publishUpdate(fx.writeVersion("app-b", 1, 0.80));
    awaitServing(registry, "app-a", 1);
    awaitServing(registry, "app-b", 1);
    registry.close();

    feed = new InMemoryRolloutFeed();
    registry = new PolicyRegistry(new VersionLoader(fx.base, Optional.of(fx.store.root())), feed,
        RegistrySettings.defaults("test").withServedPolicies(java.util.Set.of("default", "app-a")), metrics).start();
    feed.publishUpdate(fx.writeVersion("app-b", 2, 0.80));
    feed.publishUpdate(fx.writeVersion("app-a", 2, 0.80));
    awaitServing(registry, "app-a", 2);
    // app-b's update was not loaded, and a request naming it says which policies this replica serves.
    assertThatThrownBy(() -> registry.acquire("app-b", "")).isInstanceOf(UnknownPolicyException.class)
        .hasMessageContaining("not served by this replica").hasMessageContaining("[app-a, default]");
    assertThat(serving("default")).isZero();
    assertThatThrownBy(() -> RegistrySettings.defaults("t").withServedPolicies(java.util.Set.of("app-a")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("default policy 'default'");
  }

  @Test
  void autoModePromotesAnUpdateThatPassesTheGateAndHoldsOneBelowIt() throws Exception {
    registry(RolloutMode.AUTO);
    feed.publishUpdate(fx.writeVersion("auto", 1, 0.80));
    awaitServing(registry, "auto", 1);
    assertThat(feed.rolloutState("auto").getStableVersion()).isEqualTo(1L);

    feed.publishUpdate(fx.writeVersion("auto", 2, 0.70)); // 0.70 < 0.80 - 0.05
    feed.publishUpdate(fx.writeVersion("auto", 3, 0.78)); // within the margin
    awaitServing(registry, "auto", 3);
    assertThat(registry.versions("auto")).filteredOn(v -> v.update().getVersion() == 2).singleElement()
        .satisfies(v -> assertThat(v.loadState()).startsWith("held: eval/rewards/accuracies 0.7000"));
  }

  @Test
  void autoModeHoldsNewVersionsWhileTheServedRepliesAreLessFluentThanTheBaseBeyondTheFluencyMargin() throws Exception {
    registry = new PolicyRegistry(new VersionLoader(fx.base, Optional.of(fx.store.root())), feed,
        RegistrySettings.defaults("test").withDefaultMode(RolloutMode.AUTO)
            .withGate(new io.prefstream.serving.rollout.PromotionGate(0.05, 0.10)), metrics).start();
    // What a replica's sampler measured: the base model's own replies 2.0 nats per token.
    java.util.Map<Long, Double> measured = new java.util.concurrent.ConcurrentHashMap<>(java.util.Map.of(0L, 2.0));
    registry.watchServedNll((policy, version) -> policy.equals("fluent") && measured.containsKey(version)
        ? java.util.OptionalDouble.of(measured.get(version)) : java.util.OptionalDouble.empty());
    feed.publishUpdate(fx.writeVersion("fluent", 1, 0.80));
    awaitServing(registry, "fluent", 1);

    measured.put(1L, 2.3); // v1's replies: 15% above the base's
    feed.publishUpdate(fx.writeVersion("fluent", 2, 0.80));
    await().atMost(Duration.ofSeconds(20)).until(() -> registry.versions("fluent").stream()
        .anyMatch(v -> v.update().getVersion() == 2 && v.loadState().startsWith("held: ")));
    assertThat(registry.versions("fluent")).filteredOn(v -> v.update().getVersion() == 2).singleElement()
        .satisfies(v -> assertThat(v.loadState()).contains("served replies", "15.0% above the base model's"));
    assertThat(serving("fluent")).isEqualTo(1);
    assertThat(feed.rolloutState("fluent").getStableVersion()).isEqualTo(1L);

    measured.put(1L, 2.1); // within the margin (as after an operator's fix): the next version goes out
    feed.publishUpdate(fx.writeVersion("fluent", 3, 0.80));
    awaitServing(registry, "fluent", 3);
  }

  @Test
  void theGateWeighsTheServedFiguresStandardErrorsThatTheSamplerReports() throws Exception {
    registry = new PolicyRegistry(new VersionLoader(fx.base, Optional.of(fx.store.root())), feed,
        RegistrySettings.defaults("test").withDefaultMode(RolloutMode.AUTO)
            .withGate(new io.prefstream.serving.rollout.PromotionGate(0.05, 0.10)), metrics).start();
    // v1's replies 15% above the base's, as above, but from few replies: errors of 0.2 and 0.1 nats per token.
    java.util.Map<Long, double[]> measured = new java.util.concurrent.ConcurrentHashMap<>(
        java.util.Map.of(0L, new double[] {2.0, 0.1}));
    registry.watchServedNll(new ServedNll() {
      @Override
      public java.util.OptionalDouble perToken(String policy, long version) {
        return measured.containsKey(version) ? java.util.OptionalDouble.of(measured.get(version)[0])
            : java.util.OptionalDouble.empty();
      }

      @Override
      public java.util.OptionalDouble standardError(String policy, long version) {
        return measured.containsKey(version) ? java.util.OptionalDouble.of(measured.get(version)[1])
            : java.util.OptionalDouble.empty();
      }
    });
    feed.publishUpdate(fx.writeVersion("noisy", 1, 0.80));
    awaitServing(registry, "noisy", 1);
    measured.put(1L, new double[] {2.3, 0.2});
    feed.publishUpdate(fx.writeVersion("noisy", 2, 0.80));
    awaitServing(registry, "noisy", 2); // within its noise: promoted (the figures alone would hold it, as above)

    measured.put(0L, new double[] {2.0, 0.01}); // the same rise measured tightly (both figures): held
    measured.put(2L, new double[] {2.3, 0.01});
    feed.publishUpdate(fx.writeVersion("noisy", 3, 0.80));
    await().atMost(Duration.ofSeconds(20)).until(() -> registry.versions("noisy").stream()
        .anyMatch(v -> v.update().getVersion() == 3 && v.loadState().startsWith("held: ")));
    assertThat(registry.versions("noisy")).filteredOn(v -> v.update().getVersion() == 3).singleElement()
        .satisfies(v -> assertThat(v.loadState()).contains("with 95% confidence"));
    assertThat(serving("noisy")).isEqualTo(2);
  }

  @Test
  void automationKeepsDecidingWhileOtherWritesMakeItsPromotionStale() throws Exception {
    // Another writer's state lands just before each of this replica's first six promotions of v1 (as
    // when versions arrive faster than promotions settle): each answer is stale, and v1 is still promoted.
    AtomicInteger competing = new AtomicInteger();
    RegistryHooks racer = new RegistryHooks() {
      @Override
      public void beforeAutoPromotion(String policyId, long v) {
        if (competing.incrementAndGet() > 6) return;
        RolloutState cur = feed.rolloutState(policyId);
        RolloutDecisions.Author other = new RolloutDecisions.Author(RolloutAuthor.AUTOMATION, "auto@other", RolloutMode.AUTO,
            Instant.now());
        feed.propose(RolloutDecisions.mode(cur, policyId, other, RolloutMode.AUTO)).join();
      }
    };
    registry = new PolicyRegistry(new VersionLoader(fx.base, Optional.of(fx.store.root())), feed,
        RegistrySettings.defaults("test").withDefaultMode(RolloutMode.AUTO), metrics, racer).start();
    feed.publishUpdate(fx.writeVersion("racing", 1, 0.8));
    awaitServing(registry, "racing", 1);
    assertThat(competing.get()).isEqualTo(7);
    assertThat(feed.rolloutState("racing").getStableVersion()).isEqualTo(1L);
  }

  @Test
  void refusesACorruptCheckpointAndKeepsServingTheCurrentVersion() throws Exception {
    registry(RolloutMode.AUTO);
    feed.publishUpdate(fx.writeVersion("corrupt", 1, 0.8));
    awaitServing(registry, "corrupt", 1);

    PolicyUpdate bad = fx.writeVersion("corrupt", 2, 0.9);
    Path weights = Path.of(java.net.URI.create(bad.getCheckpointUri())).resolve("adapter_model.safetensors");
    try (RandomAccessFile f = new RandomAccessFile(weights.toFile(), "rw")) {
      f.seek(f.length() - 3);
      f.write(0x7f);
    }
    feed.publishUpdate(bad);
    PolicyUpdate wrongHash = PolicyUpdate.newBuilder(fx.writeVersion("corrupt", 3, 0.9)).setSha256("00".repeat(32)).build();
    feed.publishUpdate(wrongHash);

    await().atMost(Duration.ofSeconds(20)).until(() -> registry.status("corrupt").refused().size() == 2);
    RolloutView st = registry.status("corrupt");
    assertThat(st.servingVersion()).isEqualTo(1);
    assertThat(st.refused().get(0)).startsWith("v2: ").contains("adapter_model.safetensors").contains("sha256");
    assertThat(st.refused().get(1)).startsWith("v3: ").contains("manifest sha256").contains("announced");
    assertThat(metrics.versionsRefused.labelValues("corrupt").get()).isEqualTo(2.0);
    assertThat(serving("corrupt")).isEqualTo(1);
    assertThatThrownBy(() -> registry.promote("corrupt", 2, "try", "t")).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("refused");
  }

  @Test
  void manualModeWaitsForPromoteAndRollbackGoesBackAndStaysManual() throws Exception {
    registry(RolloutMode.MANUAL);
    feed.publishUpdate(fx.writeVersion("manual", 1, 0.8));
    feed.publishUpdate(fx.writeVersion("manual", 2, 0.8));
    assertThat(registry.status("manual").servingVersion()).isZero();

    registry.promote("manual", 2, "ship it", "op");
    awaitServing(registry, "manual", 2);
    registry.setMode("manual", RolloutMode.AUTO, "op");
    RolloutView back = registry.rollback("manual", 1, "v2 looks bad", "op");
    assertThat(back.mode()).isEqualTo("MANUAL");
    awaitServing(registry, "manual", 1);
    feed.publishUpdate(fx.writeVersion("manual", 3, 0.99));
    assertThat(registry.status("manual").stableVersion()).contains(1L);
    assertThatThrownBy(() -> registry.promote("manual", 9, "", "op")).isInstanceOf(NoSuchElementException.class);
    registry.rollback("manual", 0, "", "op");
    awaitServing(registry, "manual", 0);
  }

  @Test
  void aRequestKeepsItsVersionAcrossASwapWhichIsReleasedAfterItsLastLease() throws Exception {
    registry(RolloutMode.AUTO);
    feed.publishUpdate(fx.writeVersion("lease", 1, 0.8));
    awaitServing(registry, "lease", 1);
    Lease held = registry.acquire("lease", "u");
    LoadedPolicy v1 = held.loaded();

    feed.publishUpdate(fx.writeVersion("lease", 2, 0.8));
    awaitServing(registry, "lease", 2);
    assertThat(v1.isReleased()).isFalse();
    assertThat(registry.residentVersions("lease")).contains(1L, 2L);
    int[] prompt = fx.base.tokenizer().encode("hello", true);
    assertThat(held.generate(prompt, SamplingParams.greedy(4, -1), null, null).tokens()).hasSize(4);
    assertThat(held.version()).isEqualTo(1);

    held.close();
    assertThat(v1.isReleased()).isTrue();
    assertThat(registry.residentVersions("lease")).containsExactly(2L);
    assertThat(metrics.versionsReleased.labelValues("lease").get()).isEqualTo(1.0);
  }

  @Test
  void canaryUsersAreRoutedByTheStableHashOfTheirId() throws Exception {
    registry(RolloutMode.MANUAL);
    feed.publishUpdate(fx.writeVersion("canary", 1, 0.8));
    feed.publishUpdate(fx.writeVersion("canary", 2, 0.8));
    registry.promote("canary", 1, "", "op");
    registry.setCanary("canary", 2, 30, "op");
    await().atMost(Duration.ofSeconds(20)).until(() -> registry.status("canary").canaryServingVersion().isPresent());
    for (int u = 0; u < 300; u++) {
      String user = "user-" + u;
      try (Lease l = registry.acquire("canary", user)) {
        boolean expected = CanaryRouter.inCanary(user, 30);
        assertThat(l.canary()).isEqualTo(expected);
        assertThat(l.version()).isEqualTo(expected ? 2 : 1);
      }
    }
    registry.setCanary("canary", 0, 0, "op");
    await().atMost(Duration.ofSeconds(20)).until(() -> registry.status("canary").canaryServingVersion().isEmpty());
  }

  @Test
  void pinReferenceTellsTheLearnerOnTheControlFeedAndRecordsThePin() throws Exception {
    registry(RolloutMode.AUTO);
    feed.publishUpdate(fx.writeVersion("pin", 1, 0.8));
    RolloutView v = registry.pinReference("pin", Optional.of(1L), "op");
    assertThat(v.pinnedReference()).contains("v1");
    assertThat(feed.controlCommands()).singleElement().satisfies(c -> {
      assertThat(c.getPolicyId()).isEqualTo("pin");
      assertThat(c.getAction()).isEqualTo(new PinReference(1L));
    });
    // A version trained against v1 scores against v1's weights.
    try (Lease ref = registry.acquireReference("pin", "v1")) {
      assertThat(ref.version()).isEqualTo(1);
    }
  }

  @Test
  void aReplicaStartedLaterReplaysUpdatesWithoutPromotingPastARollback() throws Exception {
    registry(RolloutMode.AUTO);
    feed.publishUpdate(fx.writeVersion("replay", 1, 0.8));
    feed.publishUpdate(fx.writeVersion("replay", 2, 0.9));
    awaitServing(registry, "replay", 2);
    registry.rollback("replay", 1, "bad", "op");
    awaitServing(registry, "replay", 1);
    registry.close();

    try (PolicyRegistry late = new PolicyRegistry(new VersionLoader(fx.base, Optional.of(fx.store.root())), feed,
        RegistrySettings.defaults("late").withDefaultMode(RolloutMode.AUTO), metrics).start()) {
      awaitServing(late, "replay", 1);
      late.awaitLoads();
      assertThat(late.status("replay").mode()).isEqualTo("MANUAL");
      assertThat(feed.rolloutState("replay").getStableVersion()).isEqualTo(1L);
      assertThat(late.versions("replay")).extracting(VersionView::loadState).containsExactly("serving", "available");
    }
  }

  @Test
  void refusesACheckpointWithANonFiniteValueEvenWhenItsManifestIsIntact() throws Exception {
    registry(RolloutMode.AUTO);
    var good = fx.adapter(5);
    var tensors = new java.util.LinkedHashMap<>(good.tensors());
    String name = io.prefstream.model.peft.PeftAdapter.loraB(0, "q_proj");
    float[] data = tensors.get(name).data().clone();
    data[3] = Float.NaN;
    tensors.put(name, new io.prefstream.model.tensor.NamedTensor(name, tensors.get(name).shape(), data));
    var bad = new io.prefstream.model.peft.PeftAdapter(good.config(), tensors, good.baseModelNameOrPath());
    var state = new io.prefstream.model.policy.TrainerState(1, 1, java.util.Map.of(), "base", null, "LORA",
        java.util.Map.of("eval/rewards/accuracies", 0.9));
    // Written around PolicyCheckpoint.writeLora (which refuses NaN): the manifest matches the bytes.
    var cp = fx.store.write("nan", 1, "LORA", dir -> {
      io.prefstream.model.peft.PeftAdapters.write(dir, bad, io.prefstream.model.safetensors.DType.F32);
      java.nio.file.Files.write(dir.resolve(io.prefstream.model.policy.TrainerState.FILE), state.toJson());
    });
    feed.publishUpdate(Fixture.update(cp, 1, 0.9));
    await().atMost(Duration.ofSeconds(20)).until(() -> !registry.status("nan").refused().isEmpty());
    assertThat(registry.status("nan").refused().get(0)).contains("non-finite").contains(name);
    assertThat(registry.status("nan").servingVersion()).isZero();
  }
}
