package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.serving.rollout.PromotionGate;
import java.time.Duration;
import java.util.Objects;

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
 */
public record RegistrySettings(String defaultPolicy, RolloutMode defaultMode, PromotionGate gate, String replicaId,
    Duration adminWait, LoadRetry loadRetry) {
  public RegistrySettings {
    Objects.requireNonNull(defaultPolicy, "defaultPolicy");
    Objects.requireNonNull(defaultMode, "defaultMode");
    Objects.requireNonNull(gate, "gate");
    Objects.requireNonNull(replicaId, "replicaId");
    Objects.requireNonNull(adminWait, "adminWait");
    Objects.requireNonNull(loadRetry, "loadRetry");
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
    return new RegistrySettings(defaultPolicy, mode, gate, replicaId, adminWait, loadRetry);
  }

  public RegistrySettings withGate(PromotionGate g) {
    return new RegistrySettings(defaultPolicy, defaultMode, g, replicaId, adminWait, loadRetry);
  }

  public RegistrySettings withDefaultPolicy(String policy) {
    return new RegistrySettings(policy, defaultMode, gate, replicaId, adminWait, loadRetry);
  }

  public RegistrySettings withAdminWait(Duration wait) {
    return new RegistrySettings(defaultPolicy, defaultMode, gate, replicaId, wait, loadRetry);
  }

  public RegistrySettings withLoadRetry(LoadRetry retry) {
    return new RegistrySettings(defaultPolicy, defaultMode, gate, replicaId, adminWait, retry);
  }
}
