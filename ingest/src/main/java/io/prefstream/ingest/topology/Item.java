package io.prefstream.ingest.topology;

import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;

/**
 * One training item on its way from pairing to batching, keyed by policy id on the internal
 * {@code items-by-policy} repartition topic: a {@link Pair} (from a comparison or an UP×DOWN of
 * thumbs; {@code heldOut} routes it to {@code prefstream.eval}) or an {@link Unpaired} thumb for
 * KTO. The event-time range spans the source events' timestamps (epoch ms).
 */
sealed interface Item {
  String policyId();

  long eventTimeMin();

  long eventTimeMax();

  /** True for items bound for {@code prefstream.eval}. */
  boolean heldOut();

  record Pair(String policyId, PreferencePair pair, boolean heldOut, long eventTimeMin, long eventTimeMax)
      implements Item {}

  record Unpaired(String policyId, UnpairedExample example, long eventTime) implements Item {
    @Override
    public long eventTimeMin() {
      return eventTime;
    }

    @Override
    public long eventTimeMax() {
      return eventTime;
    }

    @Override
    public boolean heldOut() {
      return false;
    }
  }
}
