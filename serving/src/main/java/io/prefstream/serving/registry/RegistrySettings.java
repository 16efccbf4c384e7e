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
 */
public record RegistrySettings(String defaultPolicy, RolloutMode defaultMode, PromotionGate gate, String replicaId,
    Duration adminWait, LoadRetry loadRetry, Set<String> servedPolicies) {
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
  }

  /** Serving every policy on the feed. */
  public RegistrySettings(String defaultPolicy, RolloutMode defaultMode, PromotionGate gate, String replicaId,
      Duration adminWait, LoadRetry loadRetry) {
    this(defaultPolicy, defaultMode, gate, replicaId, adminWait, loadRetry, Set.of());
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
    return new RegistrySettings(defaultPolicy, mode, gate, replicaId, adminWait, loadRetry, servedPolicies);
  }

  public RegistrySettings withGate(PromotionGate g) {
    return new RegistrySettings(defaultPolicy, defaultMode, g, replicaId, adminWait, loadRetry, servedPolicies);
  }

  public RegistrySettings withDefaultPolicy(String policy) {
    return new RegistrySettings(policy, defaultMode, gate, replicaId, adminWait, loadRetry, servedPolicies);
  }

  public RegistrySettings withAdminWait(Duration wait) {
    return new RegistrySettings(defaultPolicy, defaultMode, gate, replicaId, wait, loadRetry, servedPolicies);
  }

  public RegistrySettings withLoadRetry(LoadRetry retry) {
    return new RegistrySettings(defaultPolicy, defaultMode, gate, replicaId, adminWait, retry, servedPolicies);
  }

  public RegistrySettings withServedPolicies(Set<String> policies) {
    return new RegistrySettings(defaultPolicy, defaultMode, gate, replicaId, adminWait, loadRetry, policies);
  }
}
