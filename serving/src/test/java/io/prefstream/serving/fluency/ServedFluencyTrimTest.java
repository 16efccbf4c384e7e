package io.prefstream.serving.fluency;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.ConcurrentSkipListMap;
import org.junit.jupiter.api.Test;

/**
 * The per-version means keep the newest versions and always the base weights' (version 0): a policy
 * that published more than {@link ServedFluency#VERSIONS_KEPT} versions still has the yardstick that
 * the promotion gate and the demo hold later versions against.
 */
class ServedFluencyTrimTest {
  /** Versions {@code first..last} recorded one after the other, trimmed after each as the replica does. */
  private static ConcurrentSkipListMap<Long, String> recorded(long first, long last) {
    ConcurrentSkipListMap<Long, String> perVersion = new ConcurrentSkipListMap<>();
    for (long v = first; v <= last; v++) {
      perVersion.put(v, "v" + v);
      ServedFluency.trim(perVersion);
    }
    return perVersion;
  }

  @Test
  void keepsTheBaseVersionAndTheNewestOnes() {
    var perVersion = recorded(0, 100);
    assertThat(perVersion).hasSize(ServedFluency.VERSIONS_KEPT).containsKey(0L).containsKey(100L)
        .doesNotContainKey(1L);
    assertThat(perVersion.higherKey(0L)).isEqualTo(100L - ServedFluency.VERSIONS_KEPT + 2);
  }

  @Test
  void aPolicyWhoseBaseRepliesWereNeverScoredKeepsTheNewest() {
    var perVersion = recorded(5, 100);
    assertThat(perVersion).hasSize(ServedFluency.VERSIONS_KEPT);
    assertThat(perVersion.firstKey()).isEqualTo(100L - ServedFluency.VERSIONS_KEPT + 1);
  }
}
