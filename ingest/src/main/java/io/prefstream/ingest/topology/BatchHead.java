package io.prefstream.ingest.topology;

/**
 * The state of one (route, policy) batch stream, kept by the batching step: the sequence number
 * the next batch gets, and the open batch's item count, the time its oldest item came into being
 * and its event-time range. The items themselves are stored one per key, so adding an item costs
 * the same however full the batch is.
 */
record BatchHead(long nextSequence, int count, long openedAt, long eventTimeMin, long eventTimeMax) {
  static final BatchHead FIRST = new BatchHead(0, 0, 0, Long.MAX_VALUE, Long.MIN_VALUE);

  /** This head with one more item that came into being at {@code itemTime}; the oldest item's time opens it. */
  BatchHead add(Item item, long itemTime) {
    return new BatchHead(nextSequence, count + 1, count == 0 ? itemTime : Math.min(openedAt, itemTime),
        Math.min(eventTimeMin, item.eventTimeMin()), Math.max(eventTimeMax, item.eventTimeMax()));
  }

  /** The head after emitting the open batch: empty, next sequence number. */
  BatchHead emitted() {
    return new BatchHead(nextSequence + 1, 0, 0, Long.MAX_VALUE, Long.MIN_VALUE);
  }
}
