package io.prefstream.ingest.topology;

import io.prefstream.ingest.metrics.IngestMetrics;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import io.prefstream.schemas.topic.Topics;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
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
 * a wall-clock punctuation, when its oldest item is {@code batchMaxAge} old, an item's age counting
 * from its record time (the publication of the event that completed it). A {@link BatchHead}
 * per (route, policy) holds the next sequence number and the open batch's count, opening time and
 * event-time range; the open batch's items are stored one per key ({@code <route>|<policy>#<index>}),
 * so adding an item does not rewrite the batch. Both stores are changelogged, so a restart neither
 * loses items nor reuses a sequence number. The emitted batch's {@code created_at} is the emission
 * time and its {@code batch_id} is {@code <application id>/<policy>/<route>/<sequence>}.
 */
final class BatchingProcessor implements Processor<String, Item, String, BatchingProcessor.Outgoing> {
  static final String HEAD_STORE = "batch-heads";
  static final String ITEM_STORE = "batch-items";

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
  private KeyValueStore<String, BatchHead> heads;
  private KeyValueStore<String, Item> items;

  BatchingProcessor(String applicationId, int batchSize, Duration maxAge, IngestMetrics metrics) {
    this.applicationId = applicationId;
    this.batchSize = batchSize;
    this.maxAgeMs = maxAge.toMillis();
    this.metrics = metrics;
  }

  /** How often batch ages are checked: a fortieth of the age, between 10 ms and 50 ms. */
  static Duration ageCheckInterval(Duration maxAge) {
    return Duration.ofMillis(Math.clamp(maxAge.toMillis() / 40, 10L, 50L));
  }

  @Override
  public void init(ProcessorContext<String, Outgoing> context) {
    this.context = context;
    this.heads = context.getStateStore(HEAD_STORE);
    this.items = context.getStateStore(ITEM_STORE);
    context.schedule(ageCheckInterval(Duration.ofMillis(maxAgeMs)), PunctuationType.WALL_CLOCK_TIME,
        this::emitAged);
  }

  @Override
  public void process(Record<String, Item> record) {
    Item item = record.value();
    Route route = item.heldOut() ? Route.EVAL : Route.TRAIN;
    String key = route.name() + "|" + item.policyId();
    long now = context.currentSystemTimeMs();
    BatchHead head = heads.get(key);
    if (head == null) head = BatchHead.FIRST;
    items.put(itemKey(key, head.count()), item);
    // An item's age counts from its record time (the publication of the event that completed it),
    // not from its arrival here, so the time spent in the two hops before counts against the
    // batch age. A clock ahead of ours cannot make an item younger than its arrival.
    head = head.add(item, Math.min(now, record.timestamp()));
    if (head.count() >= batchSize) {
      emit(key, route, item.policyId(), head, now);
    } else {
      heads.put(key, head);
    }
  }

  private void emitAged(long now) {
    List<KeyValue<String, BatchHead>> aged = new ArrayList<>();
    try (KeyValueIterator<String, BatchHead> it = heads.all()) {
      while (it.hasNext()) {
        KeyValue<String, BatchHead> kv = it.next();
        if (kv.value.count() > 0 && now - kv.value.openedAt() >= maxAgeMs) aged.add(kv);
      }
    }
    for (KeyValue<String, BatchHead> kv : aged) {
      int bar = kv.key.indexOf('|');
      emit(kv.key, Route.valueOf(kv.key.substring(0, bar)), kv.key.substring(bar + 1), kv.value, now);
    }
  }

  private void emit(String key, Route route, String policyId, BatchHead head, long now) {
    List<PreferencePair> pairs = new ArrayList<>();
    List<UnpairedExample> unpaired = new ArrayList<>();
    for (int i = 0; i < head.count(); i++) {
      Item item = items.delete(itemKey(key, i));
      switch (item) {
        case Item.Pair p -> pairs.add(p.pair());
        case Item.Unpaired u -> unpaired.add(u.example());
        case null -> throw new IllegalStateException("open batch " + key + " misses item " + i + " of " + head.count());
      }
    }
    long sequence = head.nextSequence();
    MicroBatch batch = MicroBatch.newBuilder()
        .setBatchId(applicationId + "/" + policyId + "/" + route.name().toLowerCase(Locale.ROOT) + "/" + sequence)
        .setPolicyId(policyId)
        .setSequence(sequence)
        .setPairs(pairs)
        .setUnpaired(unpaired)
        .setEventTimeStart(Instant.ofEpochMilli(head.eventTimeMin()))
        .setEventTimeEnd(Instant.ofEpochMilli(head.eventTimeMax()))
        .setCreatedAt(Instant.ofEpochMilli(now))
        .build();
    heads.put(key, head.emitted());
    metrics.batch(route.topic, Math.max(0, now - head.openedAt()) / 1000.0);
    context.forward(new Record<>(policyId, new Outgoing(route, batch), now));
  }

  private static String itemKey(String headKey, int index) {
    return headKey + "#" + index;
  }
}
