package io.prefstream.ingest.topology;

import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.ingest.metrics.IngestMetrics;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.schemas.serde.AvroSerdes;
import io.prefstream.schemas.serde.Encoding;
import io.prefstream.schemas.serde.PreferenceEventDecoder;
import io.prefstream.schemas.serde.PreferenceEventSerializer;
import io.prefstream.schemas.topic.Topics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;

/**
 * One TopologyTestDriver around the ingest topology, with the wall clock at {@link #T0}, a fresh
 * state directory and metrics registry, and helpers to write events in any encoding and read the
 * three output topics. Close it (try-with-resources) to release RocksDB and delete the state.
 */
final class Harness implements AutoCloseable {
  static final Instant T0 = Instant.parse("2026-11-26T10:00:00Z");

  final IngestConfig config;
  final IngestMetrics metrics;
  final TopologyTestDriver driver;
  final TestInputTopic<byte[], byte[]> events;
  final TestOutputTopic<String, DeadLetter> dlq;
  final TestOutputTopic<String, MicroBatch> batches;
  final TestOutputTopic<String, MicroBatch> eval;
  private final Path stateDir;
  private final PreferenceEventSerializer singleObject = new PreferenceEventSerializer(Encoding.SINGLE_OBJECT);
  private final PreferenceEventSerializer json = new PreferenceEventSerializer(Encoding.JSON);
  private Instant now = T0;

  /** Defaults, except what {@code tweak} changes; evaluation share 0 unless the tweak sets one. */
  static Harness create(java.util.function.UnaryOperator<IngestConfig.Builder> tweak) {
    return create(tweak, new PreferenceEventDecoder());
  }

  /** As {@link #create(java.util.function.UnaryOperator)}, decoding with {@code decoder}. */
  static Harness create(java.util.function.UnaryOperator<IngestConfig.Builder> tweak, PreferenceEventDecoder decoder) {
    Path dir;
    try {
      // Explicitly under java.io.tmpdir as Surefire sets it (target/tmp): the JDK reads it once, at start.
      dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "ingest-ttd-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    IngestConfig config = tweak.apply(IngestConfig.builder("ttd:9092", dir).evalShare(0.0)).build();
    return new Harness(config, dir, decoder);
  }

  private Harness(IngestConfig config, Path stateDir, PreferenceEventDecoder decoder) {
    this.config = config;
    this.stateDir = stateDir;
    this.metrics = new IngestMetrics(new PrometheusRegistry());
    this.driver = new TopologyTestDriver(IngestTopology.build(config, metrics, decoder),
        config.streamsProperties(), T0);
    this.events = driver.createInputTopic(Topics.EVENTS, new ByteArraySerializer(), new ByteArraySerializer());
    this.dlq = driver.createOutputTopic(Topics.EVENTS_DLQ, new StringDeserializer(),
        AvroSerdes.singleObject(DeadLetter.class).deserializer());
    this.batches = driver.createOutputTopic(Topics.BATCHES, new StringDeserializer(),
        AvroSerdes.singleObject(MicroBatch.class).deserializer());
    this.eval = driver.createOutputTopic(Topics.EVAL, new StringDeserializer(),
        AvroSerdes.singleObject(MicroBatch.class).deserializer());
  }

  Instant now() {
    return now;
  }

  /** Moves the wall clock (and so the punctuations) forward. */
  void advance(Duration d) {
    now = now.plus(d);
    driver.advanceWallClockTime(d);
  }

  /** Writes an event in single-object encoding, record timestamp = now. */
  void send(PreferenceEvent event) {
    sendBytes(null, singleObject.serialize(Topics.EVENTS, event));
  }

  void sendJson(PreferenceEvent event) {
    sendBytes(null, json.serialize(Topics.EVENTS, event));
  }

  void sendBytes(byte[] key, byte[] value) {
    events.pipeInput(new TestRecord<>(key, value, now));
  }

  /** All batches emitted so far on prefstream.batches. */
  List<MicroBatch> readBatches() {
    return batches.readValuesToList();
  }

  List<MicroBatch> readEval() {
    return eval.readValuesToList();
  }

  List<DeadLetter> readDlq() {
    return dlq.readValuesToList();
  }

  @Override
  public void close() {
    driver.close();
    try (Stream<Path> walk = Files.walk(stateDir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  // ---- events ------------------------------------------------------------------------------

  static PreferenceEvent comparison(String id, String prompt, String chosen, String rejected, Instant at) {
    return event(id, "default", prompt, new Comparison(chosen, rejected), at);
  }

  static PreferenceEvent thumb(String id, String prompt, String response, Rating rating, Instant at) {
    return event(id, "default", prompt, new Thumb(response, rating), at);
  }

  static PreferenceEvent event(String id, String policy, String prompt, Object feedback, Instant at) {
    return PreferenceEvent.newBuilder()
        .setEventId(id)
        .setPolicyId(policy)
        .setTimestamp(at)
        .setPrompt(prompt)
        .setFeedback(feedback)
        .setAttributes(Map.of())
        .build();
  }
}
