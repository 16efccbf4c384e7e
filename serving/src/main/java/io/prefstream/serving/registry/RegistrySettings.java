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
 * @param adminWait     how long an admin call waits to see its own state come back from the feed
 */
public record RegistrySettings(String defaultPolicy, RolloutMode defaultMode, PromotionGate gate, String replicaId,
    Duration adminWait) {
  public RegistrySettings {
    Objects.requireNonNull(defaultPolicy, "defaultPolicy");
    Objects.requireNonNull(defaultMode, "defaultMode");
    Objects.requireNonNull(gate, "gate");
    Objects.requireNonNull(replicaId, "replicaId");
    Objects.requireNonNull(adminWait, "adminWait");
  }

  /** Policy "default", AUTO, margin 0.05, a 10 s admin wait. */
  public static RegistrySettings defaults(String replicaId) {
    return new RegistrySettings("default", RolloutMode.AUTO, new PromotionGate(0.05), replicaId, Duration.ofSeconds(10));
  }

  public RegistrySettings withDefaultMode(RolloutMode mode) {
    return new RegistrySettings(defaultPolicy, mode, gate, replicaId, adminWait);
  }

  public RegistrySettings withGate(PromotionGate g) {
    return new RegistrySettings(defaultPolicy, defaultMode, g, replicaId, adminWait);
  }

  public RegistrySettings withDefaultPolicy(String policy) {
    return new RegistrySettings(policy, defaultMode, gate, replicaId, adminWait);
  }
}
