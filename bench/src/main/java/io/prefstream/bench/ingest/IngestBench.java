package io.prefstream.bench.ingest;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.ingest.IngestApp;
import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.schemas.avro.UnpairedExample;
import io.prefstream.schemas.serde.AvroSerdes;
import io.prefstream.schemas.serde.Encoding;
import io.prefstream.schemas.serde.PreferenceEventSerializer;
import io.prefstream.schemas.topic.Topics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The ingest on the embedded broker, exactly-once on, everything in one JVM (broker, Streams,
 * producer, consumer), as on a single small machine. Two measurements:
 *
 * <ol>
 *   <li><b>Throughput</b>: {@code --events} events (70% comparisons, 30% thumbs in UP/DOWN pairs on
 *       shared prompts, single-object encoding) are loaded into {@code prefstream.events} first; then
 *       the ingest starts and the clock runs from its RUNNING state to the moment a read_committed
 *       consumer has seen every expected item on {@code prefstream.batches} and {@code prefstream.eval}.
 *   <li><b>Latency</b>: comparisons published at {@code --rate} events/s for {@code --seconds}; for
 *       each, the time from {@code send()} to the moment the batch holding it is read (read_committed,
 *       so after the transaction commits). p50/p99 over all events.
 * </ol>
 *
 * Usage: {@code IngestBench [--events 200000] [--rate 5000] [--seconds 20] [--batch-age-ms 2000]
 * [--threads 1]}. Prints results; asserts nothing.
 */
public final class IngestBench {
  private IngestBench() {}

  public static void main(String[] args) throws Exception {
    int events = 200_000;
    int rate = 5_000;
    int seconds = 20;
    long batchAgeMs = 2_000;
    int threads = 1;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--events" -> events = Integer.parseInt(args[++i]);
        case "--rate" -> rate = Integer.parseInt(args[++i]);
        case "--seconds" -> seconds = Integer.parseInt(args[++i]);
        case "--batch-age-ms" -> batchAgeMs = Long.parseLong(args[++i]);
        case "--threads" -> threads = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + "; expected --events, --rate, --seconds, --batch-age-ms, --threads");
      }
    }
    System.out.println(machine() + ", stream threads " + threads);
    Path work = Files.createTempDirectory("ingest-bench-");
    try {
      // A broker per measurement: a new application reads prefstream.events from the beginning.
      try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
        kafka.ensureDefaultTopics();
        throughput(kafka, work.resolve("t-state"), events, batchAgeMs, threads);
      }
      if (seconds > 0) {
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
          kafka.ensureDefaultTopics();
          latency(kafka, work.resolve("l-state"), rate, seconds, batchAgeMs, threads);
        }
      }
    } finally {
      deleteRecursively(work);
    }
  }

  private static IngestConfig config(EmbeddedKafka kafka, Path state, String appId, long batchAgeMs, int threads) {
    return IngestConfig.builder(kafka.bootstrapServers(), state).applicationId(appId).replicationFactor(1)
        .batchMaxAge(Duration.ofMillis(batchAgeMs)).pairingWindow(Duration.ofSeconds(5)).streamThreads(threads)
        .build();
  }

  private static KafkaProducer<byte[], byte[]> producer(EmbeddedKafka kafka) {
    return new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.LINGER_MS_CONFIG, 5, ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024),
        new ByteArraySerializer(), new ByteArraySerializer());
  }

  private static KafkaConsumer<String, byte[]> outputConsumer(EmbeddedKafka kafka) {
    KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false),
        new StringDeserializer(), new ByteArrayDeserializer());
    List<TopicPartition> parts = java.util.stream.Stream.of(Topics.BATCHES, Topics.EVAL)
        .flatMap(t -> consumer.partitionsFor(t, Duration.ofSeconds(30)).stream().map(i -> new TopicPartition(t, i.partition())))
        .toList();
    consumer.assign(parts);
    consumer.seekToEnd(parts);
    parts.forEach(consumer::position); // resolve the end now, before anything is produced
    return consumer;
  }

  /** Items in a batch: pairs + unpaired examples. */
  private static int items(MicroBatch b) {
    return b.getPairs().size() + b.getUnpaired().size();
  }

  private static void throughput(EmbeddedKafka kafka, Path state, int events, long batchAgeMs, int threads)
      throws Exception {
    PreferenceEventSerializer serializer = new PreferenceEventSerializer(Encoding.SINGLE_OBJECT);
    Instant now = Instant.now();
    // 70% comparisons; 30% thumbs, an UP and a DOWN per prompt (each pair of thumbs gives one pair).
    int thumbPrompts = (int) (events * 0.15);
    int comparisons = events - 2 * thumbPrompts;
    long expectedItems = comparisons + thumbPrompts;
    try (KafkaProducer<byte[], byte[]> producer = producer(kafka)) {
      for (int i = 0; i < comparisons; i++) {
        PreferenceEvent e = event("c" + i, "prompt " + i, new Comparison("a good answer " + i, "a worse answer " + i), now);
        producer.send(new ProducerRecord<>(Topics.EVENTS, serializer.serialize(Topics.EVENTS, e)));
        if (i < thumbPrompts) {
          producer.send(new ProducerRecord<>(Topics.EVENTS, serializer.serialize(Topics.EVENTS,
              event("u" + i, "thumb prompt " + i, new Thumb("liked " + i, Rating.UP), now))));
          producer.send(new ProducerRecord<>(Topics.EVENTS, serializer.serialize(Topics.EVENTS,
              event("d" + i, "thumb prompt " + i, new Thumb("disliked " + i, Rating.DOWN), now))));
        }
      }
      producer.flush();
    }
    Deserializer<MicroBatch> reader = AvroSerdes.singleObject(MicroBatch.class).deserializer();
    try (KafkaConsumer<String, byte[]> consumer = outputConsumer(kafka);
        IngestApp app = IngestApp.start(config(kafka, state, "bench-throughput", batchAgeMs, threads), new PrometheusRegistry())) {
      app.awaitRunning(Duration.ofMinutes(2));
      long t0 = System.nanoTime();
      long seen = 0;
      long deadline = t0 + Duration.ofMinutes(10).toNanos();
      while (seen < expectedItems && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          seen += items(reader.deserialize(r.topic(), r.value()));
        }
      }
      double s = (System.nanoTime() - t0) / 1e9;
      System.out.printf(Locale.ROOT, "throughput: %d events (%d comparisons, %d thumbs) -> %d items in %.2f s"
              + " = %.0f events/s (exactly_once_v2, batch %d, commit %d ms)%s%n",
          events, comparisons, 2 * thumbPrompts, seen, s, events / s, app.config().batchSize(),
          app.config().commitInterval().toMillis(), seen < expectedItems ? " INCOMPLETE" : "");
    }
  }

  private static void latency(EmbeddedKafka kafka, Path state, int rate, int seconds, long batchAgeMs, int threads)
      throws Exception {
    PreferenceEventSerializer serializer = new PreferenceEventSerializer(Encoding.SINGLE_OBJECT);
    Deserializer<MicroBatch> reader = AvroSerdes.singleObject(MicroBatch.class).deserializer();
    Map<String, Long> sentAt = new ConcurrentHashMap<>();
    List<Long> latencies = new ArrayList<>();
    List<Long> emitToRead = new ArrayList<>();
    int total = rate * seconds;
    try (KafkaConsumer<String, byte[]> consumer = outputConsumer(kafka);
        IngestApp app = IngestApp.start(config(kafka, state, "bench-latency", batchAgeMs, threads), new PrometheusRegistry())) {
      app.awaitRunning(Duration.ofMinutes(2));
      Thread sender = Thread.ofPlatform().name("bench-producer").start(() -> {
        try (KafkaProducer<byte[], byte[]> producer = producer(kafka)) {
          long start = System.nanoTime();
          for (int i = 0; i < total; i++) {
            // Open loop: event i is due at start + i / rate, whatever happened before.
            long due = start + (long) (i * 1e9 / rate);
            long wait = due - System.nanoTime();
            if (wait > 0) java.util.concurrent.locks.LockSupport.parkNanos(wait);
            String id = "l" + i;
            byte[] value = serializer.serialize(Topics.EVENTS,
                event(id, "latency prompt " + i, new Comparison("yes " + i, "no " + i), Instant.now()));
            sentAt.put(id, System.nanoTime());
            producer.send(new ProducerRecord<>(Topics.EVENTS, value));
          }
        }
      });
      long deadline = System.nanoTime() + Duration.ofSeconds(seconds + 60).toNanos();
      while (latencies.size() < total && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(20))) {
          long at = System.nanoTime();
          MicroBatch b = reader.deserialize(r.topic(), r.value());
          // Emission (created_at, the ingest's clock = ours) to read: commit and poll delay.
          emitToRead.add(System.currentTimeMillis() - b.getCreatedAt().toEpochMilli());
          for (PreferencePair p : b.getPairs()) record(sentAt, latencies, p.getSourceEventIds().getFirst(), at);
          for (UnpairedExample u : b.getUnpaired()) record(sentAt, latencies, u.getSourceEventId(), at);
        }
      }
      sender.join();
      long[] ms = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
      System.out.printf(Locale.ROOT, "latency: %d/%d events at %d events/s over %d s, publication -> batch read"
              + " (read_committed): p50 %.0f ms, p99 %.0f ms, max %.0f ms (batch age %d ms)%n",
          ms.length, total, rate, seconds, pct(ms, 0.50), pct(ms, 0.99), ms.length == 0 ? Double.NaN : ms[ms.length - 1] / 1e6,
          batchAgeMs);
      long[] e = emitToRead.stream().mapToLong(Long::longValue).sorted().toArray();
      System.out.printf(Locale.ROOT, "  of which batch emission -> read (commit + poll), over %d batches: p50 %.0f ms,"
          + " p99 %.0f ms%n", e.length, quantile(e, 0.50), quantile(e, 0.99));
    }
  }

  private static void record(Map<String, Long> sentAt, List<Long> latencies, String id, long at) {
    Long sent = sentAt.remove(id);
    if (sent != null) latencies.add(at - sent);
  }

  /** The q-quantile of nanosecond values, in milliseconds. */
  private static double pct(long[] sortedNanos, double q) {
    return quantile(sortedNanos, q) / 1e6;
  }

  private static double quantile(long[] sorted, double q) {
    if (sorted.length == 0) return Double.NaN;
    return sorted[Math.max(0, Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1))];
  }

  private static PreferenceEvent event(String id, String prompt, Object feedback, Instant at) {
    return PreferenceEvent.newBuilder().setEventId(id).setTimestamp(at).setPrompt(prompt).setFeedback(feedback)
        .setAttributes(Map.of()).build();
  }

  static String machine() {
    return String.format(Locale.ROOT, "%s %s, %d CPUs, JDK %s, max heap %d MiB", System.getProperty("os.name"),
        System.getProperty("os.arch"), Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"),
        Runtime.getRuntime().maxMemory() >> 20);
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) return;
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    }
  }
}
