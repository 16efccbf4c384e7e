package io.prefstream.deploy.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.prefstream.deploy.cli.Main;
import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.ingest.IngestApp;
import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.ingest.topology.HoldOut;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.schemas.serde.Encoding;
import io.prefstream.schemas.serde.PreferenceEventSerializer;
import io.prefstream.schemas.topic.Topics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Exactly once across a crash, on the embedded broker. A stream of comparisons, thumbs, re-sent
 * events and garbage is produced steadily while {@code prefstream ingest} runs as a child JVM; once
 * its first batch is visible the child is killed with SIGKILL (no close, no commit: an open
 * transaction is left behind and its local state is not trusted). A new ingest with the same
 * application id and state directory then takes over while the producer carries on. Read with
 * {@code read_committed}, as the learner does, every valid event appears exactly once across
 * {@code prefstream.batches} and {@code prefstream.eval}, every garbage record once in the DLQ,
 * and sequence numbers run without gaps or repeats.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IngestCrashRestartTest {
  private static final String APP_ID = "crash-restart";
  private static final int BEFORE_OUTPUT = 120;
  private EmbeddedKafka kafka;
  private Path work;

  @BeforeAll
  void startBroker() throws IOException {
    kafka = EmbeddedKafka.start();
    kafka.ensureDefaultTopics();
    work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "ingest-crash-");
  }

  @AfterAll
  void stopBroker() {
    if (kafka != null) kafka.close();
  }

  /** The settings both ingests run with, as flags and as the config record. */
  private List<String> flags(Path stateDir) {
    return List.of("ingest", "--bootstrap-servers", kafka.bootstrapServers(), "--application-id", APP_ID,
        "--state-dir", stateDir.toString(), "--metrics-port", "-1", "--replication-factor", "1",
        "--pairing-window", "2s", "--batch-size", "8", "--batch-max-age", "500ms", "--eval-share", "0.2",
        // A killed member is noticed after the session timeout: keep it at the broker's minimum.
        "--streams-property", "consumer.session.timeout.ms=6000");
  }

  private IngestConfig config(Path stateDir) {
    return IngestConfig.builder(kafka.bootstrapServers(), stateDir).applicationId(APP_ID)
        .pairingWindow(Duration.ofSeconds(2)).batchSize(8).batchMaxAge(Duration.ofMillis(500)).evalShare(0.2)
        .replicationFactor(1).streamsOverrides(Map.of("consumer.session.timeout.ms", "6000")).build();
  }

  @Test
  void aKilledIngestRestartedMidStreamLosesAndDuplicatesNothing() throws Exception {
    // Events: 300 comparisons; 40 prompts with one UP and one DOWN thumb (sent far apart, so many
    // straddle the crash); 20 lone thumbs; 40 re-sends of earlier events; 6 garbage records.
    List<byte[]> stream = new ArrayList<>();
    Set<String> valid = new HashSet<>();
    PreferenceEventSerializer avro = new PreferenceEventSerializer(Encoding.SINGLE_OBJECT);
    PreferenceEventSerializer json = new PreferenceEventSerializer(Encoding.JSON);
    List<PreferenceEvent> sent = new ArrayList<>();
    Instant now = Instant.now();
    int garbage = 0;
    for (int i = 0; i < 400; i++) {
      PreferenceEvent e;
      if (i < 300) {
        e = event("c" + i, i % 3 == 0 ? "beta" : "default", "prompt " + i, new Comparison("good " + i, "bad " + i), now);
      } else if (i < 340) {
        int k = i - 300;
        e = event("up" + k, "default", "thumb prompt " + k, new Thumb("liked " + k, Rating.UP), now);
      } else if (i < 360) {
        e = event("lone" + i, "default", "lonely prompt " + i, new Thumb("alone " + i, Rating.DOWN), now);
      } else {
        int k = i - 360;
        e = event("down" + k, "default", "thumb prompt " + k, new Thumb("disliked " + k, Rating.DOWN), now);
      }
      // Interleave: the DOWN thumbs come last, most comparisons are in between.
      sent.add(e);
      valid.add(e.getEventId());
    }
    java.util.Collections.shuffle(sent.subList(0, 360), new java.util.Random(7));
    for (int i = 0; i < sent.size(); i++) {
      stream.add((i % 4 == 0 ? json : avro).serialize(Topics.EVENTS, sent.get(i)));
      if (i % 10 == 5) stream.add(avro.serialize(Topics.EVENTS, sent.get(i / 2)));
      if (i % 70 == 3) {
        stream.add(("garbage " + i).getBytes(StandardCharsets.UTF_8));
        garbage++;
      }
    }

    Path stateDir = work.resolve("state");
    Process first = startChildIngest(flags(stateDir));
    CountDownLatch firstOutput = new CountDownLatch(1);
    CompletableFuture<Void> producing = CompletableFuture.runAsync(() -> produce(stream, firstOutput));
    try (Outputs out = new Outputs(kafka.bootstrapServers())) {
      // Wait until the first ingest has committed output, let the producer go on, and kill the
      // ingest without warning while events keep arriving.
      await().atMost(Duration.ofSeconds(90)).until(() -> !out.poll().batches.isEmpty() || !out.eval.isEmpty());
      firstOutput.countDown();
      first.destroyForcibly();
      assertThat(first.waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(producing).as("the crash happened mid-stream").isNotDone();

      try (IngestApp second = IngestApp.start(config(stateDir), new PrometheusRegistry())) {
        producing.get(60, TimeUnit.SECONDS);
        int expectedDead = garbage;
        await().atMost(Duration.ofSeconds(120))
            .until(() -> out.poll().containsAll(valid) && out.deadLetters.size() >= expectedDead);
        // One more read for anything committed just behind.
        out.poll();
      }

      Map<String, Integer> seen = out.appearances();
      assertThat(seen.keySet()).isEqualTo(valid);
      assertThat(seen).allSatisfy((id, times) -> assertThat(times).as("appearances of %s", id).isEqualTo(1));
      assertThat(out.deadLetters).hasSize(garbage);
      out.assertContiguousSequences();
      HoldOut rule = new HoldOut(0.2);
      for (MicroBatch b : out.eval) {
        for (PreferencePair p : b.getPairs()) assertThat(rule.isHeldOut(p.getPrompt(), p.getChosen(), p.getRejected())).isTrue();
      }
      assertThat(out.eval).isNotEmpty();
    } finally {
      if (first.isAlive()) first.destroyForcibly();
    }
  }

  private static PreferenceEvent event(String id, String policy, String prompt, Object feedback, Instant at) {
    return PreferenceEvent.newBuilder().setEventId(id).setPolicyId(policy).setTimestamp(at).setPrompt(prompt)
        .setFeedback(feedback).setAttributes(Map.of()).build();
  }

  /**
   * Sends the first {@value #BEFORE_OUTPUT} records at once, waits for the ingest's first output,
   * then sends the rest at about 200 records a second, so the crash lands in the middle of them.
   */
  private void produce(List<byte[]> stream, CountDownLatch firstOutput) {
    Map<String, Object> config = Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.LINGER_MS_CONFIG, 0);
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(config, new ByteArraySerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < stream.size(); i++) {
        producer.send(new ProducerRecord<>(Topics.EVENTS, null, stream.get(i)));
        if (i == BEFORE_OUTPUT - 1) {
          producer.flush();
          if (!firstOutput.await(120, TimeUnit.SECONDS)) throw new IllegalStateException("no ingest output");
        } else if (i >= BEFORE_OUTPUT && i % 10 == 9) {
          // Pacing, not synchronisation: the assertions hold wherever the crash falls.
          producer.flush();
          Thread.sleep(50);
        }
      }
      producer.flush();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("producer interrupted", e);
    }
  }

  private Process startChildIngest(List<String> args) throws Exception {
    Path log = work.resolve("child-ingest.log");
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
        "--sun-misc-unsafe-memory-access=allow",
        "-cp", System.getProperty("java.class.path"),
        Main.class.getName()));
    command.addAll(args);
    Process p = new ProcessBuilder(command).redirectError(log.toFile()).start();
    BufferedReader stdout = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    String line = CompletableFuture.supplyAsync(() -> {
      try {
        return stdout.readLine();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }).get(90, TimeUnit.SECONDS);
    assertThat(line).as("child ingest's first line (log: %s)", log).startsWith("ingest running");
    return p;
  }
}
