package io.prefstream.ingest.topology;

import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.ingest.metrics.IngestMetrics;
import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.serde.AvroSerdes;
import io.prefstream.schemas.serde.PreferenceEventDecoder;
import io.prefstream.schemas.topic.Topics;
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.state.Stores;

/**
 * The ingest topology, built by one function from an {@link IngestConfig}:
 *
 * <pre>
 * prefstream.events (bytes, any encoding)
 *   → decode-validate ──rejected──▶ prefstream.events.dlq   (DeadLetter, key = policy id or null)
 *   → repartition "events-by-prompt" (key = policy|sha256(prompt); value = single-object event)
 *   → dedup-pair  [stores: dedup-event-ids (window), thumb-windows, thumb-deadlines]
 *   → repartition "items-by-policy" (key = policy id)
 *   → batch       [stores: batch-heads, batch-items]
 *        ├──train──▶ prefstream.batches  (MicroBatch, key = policy id)
 *        └──eval───▶ prefstream.eval     (MicroBatch of held-out pairs only, key = policy id)
 * </pre>
 *
 * Two repartitions: thumbs of one prompt must meet in one task to be paired, and a policy's
 * batches must come from one task for their sequence numbers to be monotonic. Every store is
 * changelogged (Kafka Streams' default): the de-duplication ids in RocksDB, the small rest in memory.
 *
 * <p>Contract with the learner: {@code prefstream.batches} and {@code prefstream.eval} both carry
 * {@link MicroBatch} values in Avro single-object encoding ({@code AvroSerdes.singleObject
 * (MicroBatch.class)}), keyed by policy id (UTF-8 string). On each topic, {@code sequence} starts at 0
 * and grows by 1 per batch for each policy. Eval batches hold only pairs ({@code unpaired} is empty);
 * a pair is held out by a hash of (prompt, chosen, rejected), so the same texts are always on the same
 * side. Read both with {@code isolation.level=read_committed}.
 */
public final class IngestTopology {
  private IngestTopology() {}

  /** The topology for {@code config}, counting into {@code metrics}, decoding with {@code decoder}. */
  public static Topology build(IngestConfig config, IngestMetrics metrics, PreferenceEventDecoder decoder) {
    StreamsBuilder builder = new StreamsBuilder();
    Serde<String> keys = Serdes.String();
    Serde<PreferenceEvent> events = AvroSerdes.preferenceEvents(null);
    Serde<MicroBatch> batches = AvroSerdes.singleObject(MicroBatch.class);
    Serde<DeadLetter> deadLetters = AvroSerdes.singleObject(DeadLetter.class);

    // De-duplication ids are the one large state (every event id of the retention period): RocksDB,
    // on disk. The window store drops whole segments once stream time passes the retention. No
    // cache: each id is read once and written once, so a cache only adds a merge on every fetch.
    builder.addStateStore(Stores.windowStoreBuilder(
            Stores.persistentWindowStore(PairingProcessor.DEDUP_STORE, config.dedupRetention(),
                config.dedupRetention(), false),
            keys, Serdes.Long())
        .withCachingDisabled());
    // The rest is small (open windows and open batches) and lives in memory; their changelogs make
    // them as durable as RocksDB: a restart restores them from Kafka. Caching collapses the many
    // updates of one key between two commits into one changelog write.
    builder.addStateStore(Stores.keyValueStoreBuilder(
            Stores.inMemoryKeyValueStore(PairingProcessor.WINDOW_STORE), keys, InternalSerdes.thumbWindows())
        .withCachingEnabled());
    builder.addStateStore(Stores.keyValueStoreBuilder(
            Stores.inMemoryKeyValueStore(PairingProcessor.DEADLINE_STORE), keys, keys)
        .withCachingEnabled());
    builder.addStateStore(Stores.keyValueStoreBuilder(
            Stores.inMemoryKeyValueStore(BatchingProcessor.HEAD_STORE), keys, InternalSerdes.batchHeads())
        .withCachingEnabled());
    builder.addStateStore(Stores.keyValueStoreBuilder(
            Stores.inMemoryKeyValueStore(BatchingProcessor.ITEM_STORE), keys, InternalSerdes.items())
        .withCachingEnabled());

    EventValidator validator = new EventValidator(config);
    // Bytes in: a serde that threw on bad input would stop the stream (or skip silently with a
    // handler); decoding inside a processor turns bad bytes into dead letters with their origin.
    KStream<String, Checked> checked = builder
        .stream(Topics.EVENTS, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray())
            .withTimestampExtractor(new ArrivalTimestamps()).withName("events-in"))
        .process(() -> new DecodeValidateProcessor(decoder, validator, metrics), Named.as("decode-validate"));

    Map<String, KStream<String, Checked>> outcome = checked.split(Named.as("checked-"))
        .branch((k, v) -> v instanceof Checked.Rejected, Branched.as("rejected"))
        .defaultBranch(Branched.as("accepted"));
    outcome.get("checked-rejected")
        .mapValues(v -> ((Checked.Rejected) v).deadLetter(), Named.as("dead-letter"))
        .to(Topics.EVENTS_DLQ, Produced.with(keys, deadLetters).withName("dlq-out"));

    KStream<String, Item> items = outcome.get("checked-accepted")
        .mapValues(v -> ((Checked.Accepted) v).event(), Named.as("accepted-event"))
        .repartition(Repartitioned.with(keys, events).withName("events-by-prompt"))
        .process(() -> new PairingProcessor(config, metrics), Named.as("dedup-pair"),
            PairingProcessor.DEDUP_STORE, PairingProcessor.WINDOW_STORE, PairingProcessor.DEADLINE_STORE);

    Map<String, KStream<String, BatchingProcessor.Outgoing>> routed = items
        .repartition(Repartitioned.with(keys, InternalSerdes.items()).withName("items-by-policy"))
        .process(() -> new BatchingProcessor(config.applicationId(), config.batchSize(), config.batchMaxAge(), metrics),
            Named.as("batch"), BatchingProcessor.HEAD_STORE, BatchingProcessor.ITEM_STORE)
        .split(Named.as("route-"))
        .branch((k, v) -> v.route() == BatchingProcessor.Route.EVAL, Branched.as("eval"))
        .defaultBranch(Branched.as("train"));
    routed.get("route-train")
        .mapValues(BatchingProcessor.Outgoing::batch, Named.as("train-batch"))
        .to(Topics.BATCHES, Produced.with(keys, batches).withName("batches-out"));
    routed.get("route-eval")
        .mapValues(BatchingProcessor.Outgoing::batch, Named.as("eval-batch"))
        .to(Topics.EVAL, Produced.with(keys, batches).withName("eval-out"));
    return builder.build();
  }

  /** The wall-clock punctuation periods the topology uses, for tests that step the clock. */
  public static Duration finestPunctuation(IngestConfig config) {
    Duration a = PairingProcessor.closeCheckInterval(config.pairingWindow());
    Duration b = BatchingProcessor.ageCheckInterval(config.batchMaxAge());
    return a.compareTo(b) < 0 ? a : b;
  }
}
