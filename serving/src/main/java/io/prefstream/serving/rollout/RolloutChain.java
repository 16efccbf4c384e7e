package io.prefstream.serving.rollout;

import io.prefstream.schemas.avro.RolloutState;
import java.util.Objects;

/**
 * The compare-and-set rule of prefstream.rollout, in one place for writers and readers. The
 * accepted states of a policy form a chain: each names the revision it was computed from
 * ({@code base_revision}, null for a policy's first state) and carries the next one
 * ({@code revision} = base + 1, the first is 1). A writer writes a state only when its base is the
 * current revision ({@link #canWrite}); a reader applies a state only when it follows the one it
 * holds ({@link #follows}). Readers of the same log therefore end on the same state, and a proposal
 * computed from an older state (a stale one) changes nothing wherever it lands. States written
 * before revisions existed (revision 0) are applied as they come, as they always were.
 *
 * <p>Tested in {@code RolloutChainTest}.
 */
public final class RolloutChain {
  private RolloutChain() {}

  /** The revision of {@code state}; null when there is no state. */
  public static Long revisionOf(RolloutState state) {
    return state == null ? null : state.getRevision();
  }

  /** The revision a proposal based on {@code current} carries. */
  public static long nextRevision(RolloutState current) {
    return current == null ? 1 : current.getRevision() + 1;
  }

  /** Whether a writer that holds {@code current} may write {@code next} on top of it (compare-and-set). */
  public static boolean canWrite(RolloutState current, RolloutState next) {
    return Objects.equals(next.getBaseRevision(), revisionOf(current)) && next.getRevision() == nextRevision(current);
  }

  /**
   * Whether a reader that holds {@code current} applies {@code next}: when it holds nothing yet (the
   * first state it reads, also after compaction removed older ones), when {@code next} is unrevised,
   * or when {@code next} was based on {@code current}.
   */
  public static boolean follows(RolloutState current, RolloutState next) {
    if (current == null || next.getRevision() == 0) return true;
    return Objects.equals(next.getBaseRevision(), current.getRevision());
  }
}
