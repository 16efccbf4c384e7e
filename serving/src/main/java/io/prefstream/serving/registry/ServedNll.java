package io.prefstream.serving.registry;

import java.util.OptionalDouble;

/**
 * The fluency guard's evidence on this replica: the pinned reference's NLL per token of a version's
 * sampled served replies (version 0: the base model's own replies). Automation reads it through
 * {@link PolicyRegistry#watchServedNll}; the serving side measures it
 * ({@code io.prefstream.serving.fluency.ServedFluency}).
 */
@FunctionalInterface
public interface ServedNll {
  ServedNll NONE = (policyId, version) -> OptionalDouble.empty();

  /** Empty until enough of the version's replies were scored on this replica. */
  OptionalDouble perToken(String policyId, long version);

  /**
   * The standard error of {@link #perToken}, from the same replies; empty when not measured (the gate then compares
   * the figures as they are).
   */
  default OptionalDouble standardError(String policyId, long version) {
    return OptionalDouble.empty();
  }
}
