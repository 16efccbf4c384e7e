package io.prefstream.serving.registry;

import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;

/**
 * The resident budget's bookkeeping: the bytes all version copies hold beyond the base (every copy
 * not yet freed, leased or not), a logical clock that orders policies by last use, and the choice
 * of what to evict. It decides; the {@link PolicyRegistry} evicts ({@link Slot#evict}) under the
 * slot's monitor.
 *
 * <p>A victim is the least recently used policy that holds bytes, has no users (no lease, no
 * request waiting for a load) and is not the most recently used one, so the policy a request just
 * used is never evicted to make room, even when it alone exceeds the budget. When no policy
 * qualifies the set stays over budget until a lease closes. Evictions run one at a time (this
 * object's monitor, taken before any slot's and never while one is held). Tested in
 * {@code ResidentBudgetTest}.
 */
final class ResidentSet {
  private final long budget;
  private final AtomicLong bytes = new AtomicLong();
  private final AtomicLong clock = new AtomicLong();

  /** @param budget bytes; {@link RegistrySettings#UNLIMITED} for none */
  ResidentSet(long budget) {
    this.budget = budget;
  }

  /** A lease was taken on the policy: it becomes the most recently used. */
  void used(Slot s) {
    s.lastUse = clock.incrementAndGet();
  }

  void added(LoadedPolicy lp) {
    bytes.addAndGet(lp.bytes());
  }

  void released(LoadedPolicy lp) {
    bytes.addAndGet(-lp.bytes());
  }

  long bytes() {
    return bytes.get();
  }

  boolean overBudget() {
    return budget != RegistrySettings.UNLIMITED && bytes.get() > budget;
  }

  /**
   * Evicts victims, least recently used first, until the copies fit the budget or none is left.
   * {@code evict} returns false when the slot could not be evicted (a request arrived meanwhile);
   * each slot is tried once per call.
   */
  synchronized void enforce(Collection<Slot> slots, Predicate<Slot> evict) {
    Set<Slot> tried = new HashSet<>();
    while (overBudget()) {
      Optional<Slot> victim = victim(slots, tried);
      if (victim.isEmpty()) return;
      tried.add(victim.get());
      evict.test(victim.get());
    }
  }

  private static Optional<Slot> victim(Collection<Slot> slots, Set<Slot> tried) {
    long newest = slots.stream().mapToLong(s -> s.lastUse).max().orElse(0);
    return slots.stream()
        .filter(s -> !tried.contains(s) && s.users.get() == 0 && bytesOf(s) > 0 && (newest == 0 || s.lastUse != newest))
        .min(Comparator.comparingLong(s -> s.lastUse));
  }

  /** Bytes of a policy's copies not yet freed. */
  static long bytesOf(Slot s) {
    return s.alive.stream().mapToLong(LoadedPolicy::bytes).sum();
  }
}
