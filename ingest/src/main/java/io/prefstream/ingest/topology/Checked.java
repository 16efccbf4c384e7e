package io.prefstream.ingest.topology;

import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.PreferenceEvent;

/**
 * The outcome of decoding and validating one input record: an {@link Accepted} event continues to
 * de-duplication and pairing, a {@link Rejected} one goes to the dead-letter topic. Lives only
 * between two processors of one sub-topology, so it needs no serde.
 */
sealed interface Checked {
  record Accepted(PreferenceEvent event) implements Checked {}

  record Rejected(DeadLetter deadLetter) implements Checked {}
}
