package io.prefstream.deploy.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.ingest.IngestApp;
import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.schemas.avro.DeadLetterReason;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import io.prefstream.schemas.topic.Topics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Events written by producers that share no code with prefstream reach the learner's topic: JSON
 * lines piped through {@code kcat}, and Avro single-object messages built by Python's own Avro
 * library (Debian {@code python3-avro}, with the CRC-64-AVRO fingerprint computed in the script from
 * Python's canonical form) and sent with {@code python3-confluent-kafka}. Each test is skipped, saying
 * which tool is missing, where the tool is not installed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IndependentProducersTest {
  private static final String PYTHON = "/usr/bin/python3";
  private EmbeddedKafka kafka;
  private IngestApp ingest;
  private Path work;

  @BeforeAll
  void start() throws Exception {
    kafka = EmbeddedKafka.start();
    kafka.ensureDefaultTopics();
    work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "ingest-producers-");
    IngestConfig config = IngestConfig.builder(kafka.bootstrapServers(), work.resolve("state"))
        .applicationId("independent-producers").evalShare(0.0).batchMaxAge(Duration.ofMillis(300))
        .pairingWindow(Duration.ofSeconds(1)).replicationFactor(1).build();
    ingest = IngestApp.start(config, new PrometheusRegistry());
  }

  @AfterAll
  void stop() {
    if (ingest != null) ingest.close();
    if (kafka != null) kafka.close();
  }

  private static boolean runs(String... command) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private static String run(Path log, String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("%s finished", command[0]).isTrue();
    String output = Files.readString(log);
    assertThat(p.exitValue()).as("%s exit code; output:%n%s", command[0], output).isZero();
    return output;
  }

  private List<MicroBatch> batchesOf(Outputs out, String policy) {
    return out.batches.stream().filter(b -> b.getPolicyId().equals(policy)).toList();
  }

  @Test
  void jsonLinesFromKcatAreIngestedAndABadLineIsDeadLettered() throws Exception {
    Assumptions.assumeTrue(runs("kcat", "-V"), "kcat is not installed (Debian package kcat)");
    Instant now = Instant.now();
    // One message per line, as kcat -P reads stdin; the third line is not JSON an event can be.
    String lines = String.join("\n",
        "{\"event_id\":\"kcat-1\",\"policy_id\":\"kcat\",\"timestamp\":\"" + now + "\",\"prompt\":\"Say hi\","
            + "\"feedback\":{\"comparison\":{\"chosen\":\"Hi!\",\"rejected\":\"Go away.\"}}}",
        "{\"event_id\":\"kcat-2\",\"policy_id\":\"kcat\",\"timestamp\":" + now.toEpochMilli() + ",\"prompt\":\"Say bye\","
            + "\"feedback\":{\"thumb\":{\"response\":\"Bye!\",\"rating\":\"up\"}},\"attributes\":{\"n\":1}}",
        "{\"event_id\":\"kcat-3\",\"policy_id\":\"kcat\",\"prompt\":\"no timestamp\","
            + "\"feedback\":{\"thumb\":{\"response\":\"x\",\"rating\":\"UP\"}}}") + "\n";
    Path input = work.resolve("kcat-input.jsonl");
    Files.writeString(input, lines, StandardCharsets.UTF_8);

    Path log = work.resolve("kcat.log");
    Process kcat = new ProcessBuilder("kcat", "-b", kafka.bootstrapServers(), "-t", Topics.EVENTS, "-P")
        .redirectInput(input.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    assertThat(kcat.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(kcat.exitValue()).as("kcat: %s", Files.readString(log)).isZero();

    try (Outputs out = new Outputs(kafka.bootstrapServers())) {
      await().atMost(Duration.ofSeconds(60)).until(() -> out.poll().containsAll(Set.of("kcat-1", "kcat-2"))
          && out.deadLetters.stream().anyMatch(d -> "kcat-3".equals(d.getEventId())));
      List<MicroBatch> batches = batchesOf(out, "kcat");
      assertThat(batches).flatExtracting(MicroBatch::getPairs)
          .containsExactly(new PreferencePair("Say hi", "Hi!", "Go away.", List.of("kcat-1"), null, null));
      assertThat(batches).flatExtracting(MicroBatch::getUnpaired)
          .containsExactly(new UnpairedExample("Say bye", "Bye!", true, "kcat-2", null, null));
      assertThat(out.deadLetters).filteredOn(d -> "kcat-3".equals(d.getEventId())).singleElement()
          .satisfies(d -> {
            assertThat(d.getReason()).isEqualTo(DeadLetterReason.MISSING_FIELD);
            assertThat(d.getMessage()).contains("timestamp");
          });
    }
  }

  private static final String PYTHON_PRODUCER = """
      # An independent producer: Python's Avro library writes the body; the single-object header
      # (C3 01 + CRC-64-AVRO of the parsing canonical form, little-endian) is computed here from the
      # Avro specification, not taken from prefstream.
      import datetime, io, json, sys
      import avro.io, avro.schema
      from confluent_kafka import Producer

      schema_path, bootstrap, topic = sys.argv[1:4]
      schema = avro.schema.parse(open(schema_path).read())
      canonical = schema.canonical_form
      canonical = canonical() if callable(canonical) else canonical

      # python3-avro 1.11.1 leaves a primitive that carried extra attributes (logicalType,
      # avro.java.string) as {"type": "long"}; the specification's [PRIMITIVES] rule makes it "long".
      # Without this, the fingerprint differs from every other implementation's.
      PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}

      def collapse(node):
          if isinstance(node, dict):
              node = {k: collapse(v) for k, v in node.items()}
              if list(node) == ["type"] and node["type"] in PRIMITIVES:
                  return node["type"]
              return node
          if isinstance(node, list):
              return [collapse(x) for x in node]
          return node

      canonical = json.dumps(collapse(json.loads(canonical)), separators=(",", ":"))

      EMPTY = 0xC15D213AA4D7A795
      TABLE = []
      for i in range(256):
          fp = i
          for _ in range(8):
              fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
          TABLE.append(fp)

      def fingerprint(data):
          fp = EMPTY
          for b in data:
              fp = (fp >> 8) ^ TABLE[(fp ^ b) & 0xFF]
          return fp

      header = b"\\xc3\\x01" + fingerprint(canonical.encode("utf-8")).to_bytes(8, "little")
      writer = avro.io.DatumWriter(schema)
      now = datetime.datetime.now(datetime.timezone.utc)

      def event(event_id, prompt, feedback):
          return {"event_id": event_id, "policy_id": "python", "policy_version": 4, "timestamp": now,
                  "user_id": "py-user", "prompt": prompt, "feedback": feedback, "attributes": {"client": "python"}}

      events = [
          event("py-1", "Name a colour", {"chosen": "Blue", "rejected": "Loud"}),
          event("py-2", "Tell a joke", {"response": "Why did the log cross the topic?", "rating": "UP"}),
          event("py-3", "Tell a joke", {"response": "No.", "rating": "DOWN"}),
      ]
      producer = Producer({"bootstrap.servers": bootstrap})
      for e in events:
          buf = io.BytesIO()
          writer.write(e, avro.io.BinaryEncoder(buf))
          producer.produce(topic, key=e["policy_id"].encode(), value=header + buf.getvalue())
      remaining = producer.flush(30)
      if remaining:
          sys.exit("%d messages not delivered" % remaining)
      print("sent %d events, fingerprint %016x" % (len(events), fingerprint(canonical.encode("utf-8"))))
      """;

  @Test
  void singleObjectEventsFromPythonAreIngested() throws Exception {
    Assumptions.assumeTrue(runs(PYTHON, "-c", "import avro"),
        "Python's Avro library is not installed (Debian package python3-avro)");
    Assumptions.assumeTrue(runs(PYTHON, "-c", "import confluent_kafka"),
        "Python's Kafka client is not installed (Debian package python3-confluent-kafka)");
    Path schema = work.resolve("PreferenceEvent.avsc");
    Files.writeString(schema, PreferenceEvent.getClassSchema().toString(true));
    Path script = work.resolve("produce.py");
    Files.writeString(script, PYTHON_PRODUCER);

    String output = run(work.resolve("python.log"), PYTHON, script.toString(), schema.toString(),
        kafka.bootstrapServers(), Topics.EVENTS);
    assertThat(output).contains("sent 3 events");

    try (Outputs out = new Outputs(kafka.bootstrapServers())) {
      // Done when all three arrived, or as soon as one was dead-lettered (then the assertions say why).
      await().atMost(Duration.ofSeconds(60)).until(() -> out.poll().containsAll(Set.of("py-1", "py-2", "py-3"))
          || out.deadLetters.stream().anyMatch(d -> d.getMessage().startsWith("SINGLE_OBJECT")));
      assertThat(out.deadLetters).as("no single-object event was dead-lettered")
          .noneMatch(d -> d.getMessage().startsWith("SINGLE_OBJECT"));
      List<PreferencePair> pairs = batchesOf(out, "python").stream().flatMap(b -> b.getPairs().stream()).toList();
      assertThat(pairs).containsExactlyInAnyOrder(
          new PreferencePair("Name a colour", "Blue", "Loud", List.of("py-1"), 4L, null),
          new PreferencePair("Tell a joke", "Why did the log cross the topic?", "No.", List.of("py-2", "py-3"), 4L, null));
    }
  }
}
