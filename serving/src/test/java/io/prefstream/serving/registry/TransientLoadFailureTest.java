package io.prefstream.serving.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.serving.Fixture;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.rollout.InMemoryRolloutFeed;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint that cannot be read yet (not yet visible, a transient read error) is retried with
 * backoff until it loads; only an integrity failure (hash, shape, non-finite) refuses a version.
 */
class TransientLoadFailureTest {
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

  /** The real loader, counting its calls; before a chosen call it runs a step (e.g. makes a file appear). */
  static final class CountingLoader extends ForwardingLoader {
    final AtomicInteger calls = new AtomicInteger();
    final int stepBeforeCall;
    final Runnable step;

    CountingLoader(VersionLoader real, int stepBeforeCall, Runnable step) {
      super(real);
      this.stepBeforeCall = stepBeforeCall;
      this.step = step;
    }

    @Override
    public LoadedPolicy load(PolicyUpdate u, Consumer<LoadedPolicy> onRelease) throws RefusedVersionException, java.io.IOException {
      if (calls.incrementAndGet() == stepBeforeCall) step.run();
      return super.load(u, onRelease);
    }
  }

  private PolicyRegistry registry(PolicyLoader loader) {
    registry = new PolicyRegistry(loader, feed, RegistrySettings.defaults("test").withDefaultMode(RolloutMode.AUTO), metrics,
        RegistryHooks.NONE).start();
    return registry;
  }

  private VersionLoader realLoader() {
    return new VersionLoader(fx.base, Optional.of(fx.store.root()));
  }

  private static Path dir(PolicyUpdate u) {
    return Path.of(URI.create(u.getCheckpointUri()));
  }

  @Test
  void aCheckpointThatIsNotYetVisibleIsRetriedUntilItLoads() throws Exception {
    PolicyUpdate u = fx.writeVersion("late-file", 1, 0.8);
    Path hidden = root.resolve("not-yet-visible");
    Files.move(dir(u), hidden);
    // The first two attempts find no directory (NoSuchFileException); the third finds it in place.
    CountingLoader loader = new CountingLoader(realLoader(), 3, () -> {
      try {
        Files.move(hidden, dir(u));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
    registry(loader);
    feed.publishUpdate(u);

    await().atMost(Duration.ofSeconds(30)).until(() -> registry.status("late-file").servingVersion() == 1);
    assertThat(loader.calls.get()).isEqualTo(3);
    assertThat(metrics.loadRetries.labelValues("late-file").get()).isEqualTo(2.0);
    assertThat(registry.status("late-file").refused()).isEmpty();
    assertThat(registry.versions("late-file")).singleElement().satisfies(v -> assertThat(v.loadState()).isEqualTo("serving"));
  }

  @Test
  void aLoadCutShortByAnInterruptIsRetriedNotRefused() throws Exception {
    PolicyUpdate u = fx.writeVersion("interrupted", 1, 0.8);
    // The first attempt is interrupted half way, as a parallel verification reports it (an unchecked failure
    // with the thread's interrupt flag set); the second loads.
    CountingLoader loader = new CountingLoader(realLoader(), 1, () -> {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for parallel tasks");
    });
    registry(loader);
    feed.publishUpdate(u);

    await().atMost(Duration.ofSeconds(30)).until(() -> registry.status("interrupted").servingVersion() == 1);
    assertThat(loader.calls.get()).isEqualTo(2);
    assertThat(registry.status("interrupted").refused()).isEmpty();
    assertThat(metrics.versionsRefused.labelValues("interrupted").get()).isZero();
  }

  @Test
  void aVersionStillUnreadableAfterTheLastAttemptIsUnavailableNotRefusedAndPromotingItTriesAgain() throws Exception {
    PolicyUpdate u = fx.writeVersion("gone", 1, 0.8);
    Path hidden = root.resolve("gone-for-now");
    Files.move(dir(u), hidden);
    CountingLoader loader = new CountingLoader(realLoader(), -1, () -> {});
    registry = new PolicyRegistry(loader, feed, RegistrySettings.defaults("test").withDefaultMode(RolloutMode.AUTO)
        .withLoadRetry(new LoadRetry(3, Duration.ofMillis(10), Duration.ofMillis(20))), metrics, RegistryHooks.NONE).start();
    feed.publishUpdate(u);

    await().atMost(Duration.ofSeconds(20)).until(() -> registry.versions("gone").getFirst().loadState().startsWith("unavailable"));
    assertThat(registry.versions("gone").getFirst().loadState()).startsWith("unavailable: unreadable after 3 attempts: ")
        .contains("cannot read the checkpoint now");
    assertThat(loader.calls.get()).isEqualTo(3);
    assertThat(metrics.loadRetries.labelValues("gone").get()).isEqualTo(2.0);
    assertThat(metrics.versionsUnavailable.labelValues("gone").get()).isEqualTo(1.0);
    assertThat(registry.status("gone").refused()).isEmpty();

    Files.move(hidden, dir(u));
    registry.promote("gone", 1, "it is there now", "op");
    await().atMost(Duration.ofSeconds(20)).until(() -> registry.status("gone").servingVersion() == 1);
    assertThat(loader.calls.get()).isEqualTo(4);
  }

  @Test
  void backoffDoublesUpToItsCap() {
    LoadRetry r = new LoadRetry(8, Duration.ofMillis(250), Duration.ofSeconds(1));
    assertThat(java.util.stream.IntStream.rangeClosed(1, 5).mapToObj(r::backoffAfter).map(Duration::toMillis))
        .containsExactly(250L, 500L, 1000L, 1000L, 1000L);
  }

  @Test
  void anIntegrityFailureIsRefusedAtOnceAndNotRetried() throws Exception {
    PolicyUpdate bad = fx.writeVersion("tampered", 1, 0.9);
    try (RandomAccessFile f = new RandomAccessFile(dir(bad).resolve("adapter_model.safetensors").toFile(), "rw")) {
      f.seek(f.length() - 3);
      f.write(0x7f);
    }
    CountingLoader loader = new CountingLoader(realLoader(), -1, () -> {});
    registry(loader);
    feed.publishUpdate(bad);

    await().atMost(Duration.ofSeconds(20)).until(() -> !registry.status("tampered").refused().isEmpty());
    assertThat(registry.status("tampered").refused()).singleElement().asString().startsWith("v1: ").contains("sha256");
    assertThat(loader.calls.get()).isEqualTo(1);
    assertThat(metrics.loadRetries.labelValues("tampered").get()).isZero();
    assertThat(registry.status("tampered").servingVersion()).isZero();
    assertThatThrownBy(() -> registry.promote("tampered", 1, "", "op")).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("refused");
  }
}
