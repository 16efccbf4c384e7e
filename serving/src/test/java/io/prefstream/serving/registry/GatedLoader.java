package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.PolicyUpdate;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * A real {@link VersionLoader} that counts loads per policy, and whose loads of the updates
 * {@code gated} picks wait until the test counts {@link #release} down ({@link #entered} says one
 * began): for tests of what the registry does while a load is in flight.
 */
final class GatedLoader extends ForwardingLoader {
  final Predicate<PolicyUpdate> gated;
  final Map<String, AtomicInteger> loads = new ConcurrentHashMap<>();
  final CountDownLatch entered = new CountDownLatch(1);
  final CountDownLatch release = new CountDownLatch(1);

  GatedLoader(VersionLoader real, Predicate<PolicyUpdate> gated) {
    super(real);
    this.gated = gated;
  }

  int loads(String policy) {
    return loads.computeIfAbsent(policy, p -> new AtomicInteger()).get();
  }

  @Override
  public LoadedPolicy load(PolicyUpdate u, Consumer<LoadedPolicy> onRelease) throws RefusedVersionException, IOException {
    loads.computeIfAbsent(u.getPolicyId(), p -> new AtomicInteger()).incrementAndGet();
    if (gated.test(u)) {
      entered.countDown();
      try {
        if (!release.await(60, TimeUnit.SECONDS)) throw new IllegalStateException("the test never released the load");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
    return super.load(u, onRelease);
  }
}
