package io.prefstream.ingest.topology;

import io.prefstream.ingest.metrics.IngestMetrics;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.topic.Topics;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Last step, per policy: gather items into {@link MicroBatch}es, one open batch per (policy,
 * route), the route being training ({@code prefstream.batches}) or evaluation
 * ({@code prefstream.eval}). A batch is emitted when it holds {@code batchSize} items, or, checked by
 * a wall-clock punctuation, when its first item arrived {@code batchMaxAge} ago. Open batches and
 * the next sequence number per (policy, route) live in changelogged stores, so a restart neither
 * loses items nor reuses a sequence number. The emitted batch's {@code created_at} is the emission
 * time and its {@code batch_id} is {@code <application id>/<policy>/<route>/<sequence>}.
 */
final class BatchingProcessor implements Processor<String, Item, String, BatchingProcessor.Outgoing> {
  static final String PENDING_STORE = "pending-batches";
  static final String SEQUENCE_STORE = "batch-sequences";

  /** Where a batch goes. */
  enum Route {
    TRAIN(Topics.BATCHES),
    EVAL(Topics.EVAL);

    final String topic;

    Route(String topic) {
      this.topic = topic;
    }
  }

  /** A finished batch and the topic it goes to. */
  record Outgoing(Route route, MicroBatch batch) {}

  private final String applicationId;
  private final int batchSize;
  private final long maxAgeMs;
  private final IngestMetrics metrics;

  private ProcessorContext<String, Outgoing> context;
  // Open batches: created_at holds the arrival time of the first item until the batch is emitted.
  private KeyValueStore<String, MicroBatch> pending;
  private KeyValueStore<String, Long> sequences;

  BatchingProcessor(String applicationId, int batchSize, Duration maxAge, IngestMetrics metrics) {
    this.applicationId = applicationId;
    this.batchSize = batchSize;
    this.maxAgeMs = maxAge.toMillis();
    this.metrics = metrics;
  }

  /** How often batch ages are checked: a twentieth of the age, between 10 ms and 100 ms. */
  static Duration ageCheckInterval(Duration maxAge) {
    return Duration.ofMillis(Math.clamp(maxAge.toMillis() / 20, 10L, 100L));
  }

  @Override
  public void init(ProcessorContext<String, Outgoing> context) {
    this.context = context;
    this.pending = context.getStateStore(PENDING_STORE);
    this.sequences = context.getStateStore(SEQUENCE_STORE);
    context.schedule(ageCheckInterval(Duration.ofMillis(maxAgeMs)), PunctuationType.WALL_CLOCK_TIME,
        this::emitAged);
  }

  @Override
  public void process(Record<String, Item> record) {
    Item item = record.value();
    Route route = item.heldOut() ? Route.EVAL : Route.TRAIN;
    String key = storeKey(route, item.policyId());
    long now = context.currentSystemTimeMs();
    MicroBatch batch = pending.get(key);
    if (batch == null) {
      batch = MicroBatch.newBuilder()
          .setBatchId("")
          .setPolicyId(item.policyId())
          .setSequence(-1)
          .setPairs(new ArrayList<>())
          .setUnpaired(new ArrayList<>())
          .setEventTimeStart(Instant.ofEpochMilli(item.eventTimeMin()))
          .setEventTimeEnd(Instant.ofEpochMilli(item.eventTimeMax()))
          .setCreatedAt(Instant.ofEpochMilli(now))
          .build();
    } else {
      if (item.eventTimeMin() < batch.getEventTimeStart().toEpochMilli()) {
        batch.setEventTimeStart(Instant.ofEpochMilli(item.eventTimeMin()));
      }
      if (item.eventTimeMax() > batch.getEventTimeEnd().toEpochMilli()) {
        batch.setEventTimeEnd(Instant.ofEpochMilli(item.eventTimeMax()));
      }
    }
    switch (item) {
      case Item.Pair p -> batch.getPairs().add(p.pair());
      case Item.Unpaired u -> batch.getUnpaired().add(u.example());
    }
    if (batch.getPairs().size() + batch.getUnpaired().size() >= batchSize) {
      emit(key, route, batch, now);
    } else {
      pending.put(key, batch);
    }
  }

  private void emitAged(long now) {
    List<KeyValue<String, MicroBatch>> aged = new ArrayList<>();
    try (KeyValueIterator<String, MicroBatch> it = pending.all()) {
      while (it.hasNext()) {
        KeyValue<String, MicroBatch> kv = it.next();
        if (now - kv.value.getCreatedAt().toEpochMilli() >= maxAgeMs) aged.add(kv);
      }
    }
    for (KeyValue<String, MicroBatch> kv : aged) emit(kv.key, routeOf(kv.key), kv.value, now);
  }

  private void emit(String key, Route route, MicroBatch batch, long now) {
    Long stored = sequences.get(key);
    long sequence = stored == null ? 0 : stored;
    long openedAt = batch.getCreatedAt().toEpochMilli();
    batch.setSequence(sequence);
    batch.setBatchId(applicationId + "/" + batch.getPolicyId() + "/" + route.name().toLowerCase() + "/" + sequence);
    batch.setCreatedAt(Instant.ofEpochMilli(now));
    sequences.put(key, sequence + 1);
    pending.delete(key);
    metrics.batch(route.topic, Math.max(0, now - openedAt) / 1000.0);
    context.forward(new Record<>(batch.getPolicyId(), new Outgoing(route, batch), now));
  }

  private static String storeKey(Route route, String policyId) {
    return route.name() + "|" + policyId;
  }

  private static Route routeOf(String storeKey) {
    return Route.valueOf(storeKey.substring(0, storeKey.indexOf('|')));
  }
}
