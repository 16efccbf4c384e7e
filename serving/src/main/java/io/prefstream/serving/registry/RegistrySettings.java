package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.serving.rollout.PromotionGate;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * How a replica's {@link PolicyRegistry} behaves.
 *
 * @param defaultPolicy policy served before any update arrives (by the base weights, as version 0)
 * @param defaultMode   rollout mode of a policy whose desired state was never written
 * @param gate          the auto-promotion gate
 * @param replicaId     names this replica in the states it writes ({@code updated_by})
 * @param adminWait     how long an admin call waits for its write and then to see its state come back
 *                      from the feed; past it the call fails
 * @param loadRetry     how checkpoints that cannot be read yet are retried
 * @param servedPolicies the policies this replica serves; empty: every policy that appears on the feed
 * @param residentBytes  memory budget, in bytes, for the policy version copies held beyond the base
 *                       weights (adapters, full-weight versions, reference snapshots); when it is
 *                       exceeded the least recently used policies' copies go and are loaded again on
 *                       their next request. 0 (the default) means no budget: every served policy is
 *                       loaded as its updates arrive and stays resident, as a replica serving one or a
 *                       few policies wants (no request ever waits for a load). A budget only makes
 *                       sense against the accelerator's free memory, which the registry cannot know, so
 *                       it is set explicitly ({@code serve --resident-budget}) by whoever serves many
 *                       policies on one base model. See {@link PolicyRegistry} for the rules.
 */
public record RegistrySettings(String defaultPolicy, RolloutMode defaultMode, PromotionGate gate, String replicaId,
    Duration adminWait, LoadRetry loadRetry, Set<String> servedPolicies, long residentBytes) {
  /** No budget: every served policy stays resident. */
  public static final long UNLIMITED = 0;

  public RegistrySettings {
    Objects.requireNonNull(defaultPolicy, "defaultPolicy");
    Objects.requireNonNull(defaultMode, "defaultMode");
    Objects.requireNonNull(gate, "gate");
    Objects.requireNonNull(replicaId, "replicaId");
    Objects.requireNonNull(adminWait, "adminWait");
    Objects.requireNonNull(loadRetry, "loadRetry");
    servedPolicies = Set.copyOf(servedPolicies);
    if (!servedPolicies.isEmpty() && !servedPolicies.contains(defaultPolicy)) {
      throw new IllegalArgumentException("the default policy '" + defaultPolicy + "' is not among the served policies "
          + new TreeSet<>(servedPolicies) + "; add it to the list or choose another default");
    }
    if (residentBytes < 0) {
      throw new IllegalArgumentException("the resident budget must be >= 0 bytes (0 = no budget), got " + residentBytes);
    }
  }

  /** Without a resident budget. */
  public RegistrySettings(String defaultPolicy, RolloutMode defaultMode, PromotionGate gate, String replicaId,
      Duration adminWait, LoadRetry loadRetry, Set<String> servedPolicies) {
    this(defaultPolicy, defaultMode, gate, replicaId, adminWait, loadRetry, servedPolicies, UNLIMITED);
  }

  /** Serving every policy on the feed. */
  public RegistrySettings(String defaultPolicy, RolloutMode defaultMode, PromotionGate gate, String replicaId,
      Duration adminWait, LoadRetry loadRetry) {
    this(defaultPolicy, defaultMode, gate, replicaId, adminWait, loadRetry, Set.of(), UNLIMITED);
  }

  /** Whether this replica serves {@code policyId}. */
  public boolean serves(String policyId) {
    return servedPolicies.isEmpty() || servedPolicies.contains(policyId);
  }

  /** With the default {@link LoadRetry}. */
  public RegistrySettings(String defaultPolicy, RolloutMode defaultMode, PromotionGate gate, String replicaId,
      Duration adminWait) {
    this(defaultPolicy, defaultMode, gate, replicaId, adminWait, LoadRetry.defaults());
  }

  /** Policy "default", AUTO, margin 0.05, a 10 s admin wait, {@link LoadRetry#defaults()}. */
  public static RegistrySettings defaults(String replicaId) {
    return new RegistrySettings("default", RolloutMode.AUTO, new PromotionGate(0.05), replicaId, Duration.ofSeconds(10));
  }

  public RegistrySettings withDefaultMode(RolloutMode mode) {
    return new RegistrySettings(defaultPolicy, mode, gate, replicaId, adminWait, loadRetry, servedPolicies, residentBytes);
  }

  public RegistrySettings withGate(PromotionGate g) {
    return new RegistrySettings(defaultPolicy, defaultMode, g, replicaId, adminWait, loadRetry, servedPolicies, residentBytes);
  }

  public RegistrySettings withDefaultPolicy(String policy) {
    return new RegistrySettings(policy, defaultMode, gate, replicaId, adminWait, loadRetry, servedPolicies, residentBytes);
  }

  public RegistrySettings withAdminWait(Duration wait) {
    return new RegistrySettings(defaultPolicy, defaultMode, gate, replicaId, wait, loadRetry, servedPolicies, residentBytes);
  }

  public RegistrySettings withLoadRetry(LoadRetry retry) {
    return new RegistrySettings(defaultPolicy, defaultMode, gate, replicaId, adminWait, retry, servedPolicies, residentBytes);
  }

  public RegistrySettings withServedPolicies(Set<String> policies) {
    return new RegistrySettings(defaultPolicy, defaultMode, gate, replicaId, adminWait, loadRetry, policies, residentBytes);
  }

  /** With a memory budget for resident version copies ({@link #UNLIMITED}: none). */
  public RegistrySettings withResidentBytes(long bytes) {
    return new RegistrySettings(defaultPolicy, defaultMode, gate, replicaId, adminWait, loadRetry, servedPolicies, bytes);
  }

  /** Whether a resident budget is set (policies are then loaded on first use and may be evicted). */
  public boolean budgeted() {
    return residentBytes != UNLIMITED;
  }
}
