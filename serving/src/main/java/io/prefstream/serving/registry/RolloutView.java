package io.prefstream.serving.registry;

import java.util.List;
import java.util.Optional;

/**
 * A replica's view of one policy: the desired state (from the rollout feed) and what it actually
 * serves, which differ while a version loads or when the desired one was refused.
 *
 * @param refused           "v&lt;n&gt;: reason" for each version this replica refused to load
 * @param residentVersions  one entry per version copy in memory, the base (0) first: routed, preloaded,
 *                          a reference snapshot, or held by requests still running on it
 * @param revision          revision of the desired state (0: none, or written before revisions)
 */
public record RolloutView(String policyId, String mode, Optional<Long> stableVersion, Optional<Long> canaryVersion,
    double canaryPercent, Optional<String> pinnedReference, long servingVersion, Optional<Long> canaryServingVersion,
    List<String> refused, List<Long> residentVersions, String referenceId, long revision) {}
