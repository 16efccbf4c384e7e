package io.prefstream.serving.registry;

import java.util.List;
import java.util.Optional;

/**
 * A replica's view of one policy: the desired state (from the rollout feed) and what it actually
 * serves, which differ while a version loads or when the desired one was refused.
 *
 * @param refused           "v&lt;n&gt;: reason" for each version this replica refused to load
 * @param residentVersions  versions in memory: routed, preloaded, or draining their last requests
 */
public record RolloutView(String policyId, String mode, Optional<Long> stableVersion, Optional<Long> canaryVersion,
    double canaryPercent, Optional<String> pinnedReference, long servingVersion, Optional<Long> canaryServingVersion,
    List<String> refused, List<Long> residentVersions, String referenceId) {}
