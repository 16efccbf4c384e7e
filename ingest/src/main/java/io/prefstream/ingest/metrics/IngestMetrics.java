package io.prefstream.ingest.metrics;

import io.prefstream.schemas.avro.DeadLetterReason;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Objects;

/**
 * The ingest's Prometheus metrics, registered on a registry the caller owns (the CLI serves it at
 * {@code /metrics}; tests pass a fresh one). Counters count processing, so after a crash that
 * aborted a transaction the records processed again are counted again: they are operational
 * figures, the exactly-once guarantee is about the topics. Names follow Prometheus conventions:
 * counters get {@code _total} on exposition.
 *
 * <ul>
 *   <li>{@code prefstream_ingest_events_in_total}: records read from {@code prefstream.events};
 *   <li>{@code prefstream_ingest_invalid_total{reason}}: dead-lettered, by reason code;
 *   <li>{@code prefstream_ingest_duplicates_total}: events dropped as re-sent (same event id);
 *   <li>{@code prefstream_ingest_pairs_total}: pairs made (comparisons and UP×DOWN thumbs), held
 *       out ones included;
 *   <li>{@code prefstream_ingest_held_out_total}: pairs sent to {@code prefstream.eval};
 *   <li>{@code prefstream_ingest_unpaired_total{outcome}}: thumbs unpaired at window close,
 *       {@code outcome} = {@code kto} (kept as an example) or {@code dropped};
 *   <li>{@code prefstream_ingest_batches_total{topic}}: micro-batches emitted, per output topic;
 *   <li>{@code prefstream_ingest_batch_fill_seconds}: from a batch's first item to its emission.
 * </ul>
 */
public final class IngestMetrics {
  private final Counter eventsIn;
  private final Counter invalid;
  private final Counter duplicates;
  private final Counter pairs;
  private final Counter heldOut;
  private final Counter unpaired;
  private final Counter batches;
  private final Histogram batchFill;

  public IngestMetrics(PrometheusRegistry registry) {
    Objects.requireNonNull(registry, "registry");
    eventsIn = Counter.builder().name("prefstream_ingest_events_in")
        .help("Records read from prefstream.events").register(registry);
    invalid = Counter.builder().name("prefstream_ingest_invalid")
        .help("Records sent to prefstream.events.dlq, by reason").labelNames("reason").register(registry);
    duplicates = Counter.builder().name("prefstream_ingest_duplicates")
        .help("Events dropped because their event_id was already seen").register(registry);
    pairs = Counter.builder().name("prefstream_ingest_pairs")
        .help("Preference pairs made (held-out ones included)").register(registry);
    heldOut = Counter.builder().name("prefstream_ingest_held_out")
        .help("Pairs held out to prefstream.eval").register(registry);
    unpaired = Counter.builder().name("prefstream_ingest_unpaired")
        .help("Thumbs unpaired when their window closed: kept for KTO or dropped").labelNames("outcome")
        .register(registry);
    batches = Counter.builder().name("prefstream_ingest_batches")
        .help("Micro-batches emitted, by topic").labelNames("topic").register(registry);
    batchFill = Histogram.builder().name("prefstream_ingest_batch_fill_seconds")
        .help("Time from a micro-batch's first item to its emission")
        .classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 30, 60)
        .register(registry);
    // Every reason appears from the start (at 0), so dashboards and alerts see the full set.
    for (DeadLetterReason reason : DeadLetterReason.values()) invalid.labelValues(reason.name());
    unpaired.labelValues("kto");
    unpaired.labelValues("dropped");
  }

  public void eventIn() {
    eventsIn.inc();
  }

  public void invalid(DeadLetterReason reason) {
    invalid.labelValues(reason.name()).inc();
  }

  public void duplicate() {
    duplicates.inc();
  }

  public void pair(boolean wasHeldOut) {
    pairs.inc();
    if (wasHeldOut) heldOut.inc();
  }

  public void unpairedKept() {
    unpaired.labelValues("kto").inc();
  }

  public void unpairedDropped() {
    unpaired.labelValues("dropped").inc();
  }

  public void batch(String topic, double fillSeconds) {
    batches.labelValues(topic).inc();
    batchFill.observe(fillSeconds);
  }

  public long eventsIn() {
    return eventsIn.getLongValue();
  }

  public long invalidCount(DeadLetterReason reason) {
    return (long) invalid.labelValues(reason.name()).get();
  }

  public long invalidTotal() {
    long sum = 0;
    for (DeadLetterReason r : DeadLetterReason.values()) sum += invalidCount(r);
    return sum;
  }

  public long duplicates() {
    return duplicates.getLongValue();
  }

  public long pairs() {
    return pairs.getLongValue();
  }

  public long heldOut() {
    return heldOut.getLongValue();
  }

  public long unpairedKeptCount() {
    return (long) unpaired.labelValues("kto").get();
  }

  public long unpairedDroppedCount() {
    return (long) unpaired.labelValues("dropped").get();
  }

  public long batches(String topic) {
    return (long) batches.labelValues(topic).get();
  }

  public long batchFillCount() {
    return batchFill.getCount();
  }
}
