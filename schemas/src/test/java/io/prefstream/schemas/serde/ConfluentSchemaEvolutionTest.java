package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.DeadLetterReason;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.schemas.registry.ApicurioRegistry;
import io.prefstream.schemas.registry.RegistryConfig;
import io.prefstream.schemas.registry.SchemaRegistryClient;
import io.prefstream.schemas.topic.Topics;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Producers evolve their schema first: events whose writer schema differs from our current
 * {@link PreferenceEvent}, registered in a real Apicurio Registry under {@code prefstream.events-value}
 * and framed in the Confluent wire format, decode into the current record by Avro's resolution rules
 * (added fields skipped, missing ones defaulted, fields matched by name, promoted types widened); writer
 * schemas those rules cannot read fail as {@link DecodeFailure#SCHEMA_INCOMPATIBLE} naming the field and
 * the schema id, as does one Avro could read but the bounded decoder cannot (an array of zero-byte
 * items). Where {@code PreferenceEvent} has no field of the kind a rule needs (float → double,
 * string → bytes, an enum with a default), the same reader code is exercised with {@code RolloutState}
 * and {@code DeadLetter}. One test has Python's Avro library (Debian {@code python3-avro}) register the
 * schema and write the messages, sharing no code with prefstream; it is skipped, saying so, without it.
 */
class ConfluentSchemaEvolutionTest {
  private static final String SUBJECT = ConfluentWireSerializer.subjectFor(Topics.EVENTS);
  private static final Schema CURRENT = PreferenceEvent.getClassSchema();
  private static final String PYTHON = "/usr/bin/python3";

  private static ApicurioRegistry registry;
  /** Registers writer schemas, as the producers' serializers would. */
  private static SchemaRegistryClient producer;
  /** Our side: fetches writer schemas by id only. */
  private static SchemaRegistryClient consumer;
  private static PreferenceEventDecoder decoder;

  @BeforeAll
  static void start() throws IOException {
    registry = ApicurioRegistry.start();
    producer = client();
    consumer = client();
    decoder = new PreferenceEventDecoder(consumer);
  }

  @AfterAll
  static void stop() {
    if (producer != null) producer.close();
    if (consumer != null) consumer.close();
    if (registry != null) registry.close();
  }

  private static SchemaRegistryClient client() {
    return new SchemaRegistryClient(RegistryConfig.of(registry.ccompatUrl())
        .withRetries(2, Duration.ofMillis(50), Duration.ofMillis(100)));
  }

  /** Registers {@code writer} under {@code subject} and frames the body with the id the registry gave it. */
  private static byte[] produce(String subject, Schema writer, byte[] body) {
    return ConfluentRegistryTest.confluentFrame(producer.register(subject, writer), body);
  }

  private static byte[] produceEvent(Schema writer, PreferenceEvent event, Map<String, Object> extra) {
    return produce(SUBJECT, writer, WriterSchemas.body(event, writer, extra));
  }

  private static int idOf(byte[] message) {
    return (message[1] & 0xff) << 24 | (message[2] & 0xff) << 16 | (message[3] & 0xff) << 8 | (message[4] & 0xff);
  }

  // (a) The bug report's case: a new string field with a default, at the end or in the middle.
  @ParameterizedTest
  @ValueSource(ints = {8, 6, 0})
  void newStringFieldWithDefaultIsSkipped(int position) {
    Schema writer = WriterSchemas.withField(CURRENT, position, """
        {"name":"client","type":"string","default":""}""");
    for (PreferenceEvent event : List.of(Events.thumb(), Events.comparison())) {
      for (String client : List.of("", "ios-7.2")) {
        byte[] message = produceEvent(writer, event, Map.of("client", client));
        assertThat(decoder.decode(message)).as("client %s at field %d", client, position).isEqualTo(event);
      }
    }
  }

  // (b) A new field without a default: writers may add fields freely, the reader skips them.
  @Test
  void newFieldsWithoutDefaultOfEveryTypeAreSkipped() {
    Schema writer = WriterSchemas.withField(WriterSchemas.withField(CURRENT, 1, WriterSchemas.DEVICE_FIELD), 9, """
        {"name":"session_ms","type":"long"}""");
    for (PreferenceEvent event : List.of(Events.thumb(), Events.comparison())) {
      byte[] message = produceEvent(writer, event, Map.of("device", WriterSchemas.device(writer), "session_ms", 86_400_000L));
      assertThat(decoder.decode(message)).isEqualTo(event);
    }
  }

  // (c) An older writer with fewer fields: the reader's defaults fill them.
  @Test
  void olderWriterWithFewerFieldsGetsTheReadersDefaults() {
    Schema writer = WriterSchemas.without(CURRENT, "policy_id", "policy_version", "user_id", "attributes");
    PreferenceEvent sent = PreferenceEvent.newBuilder(Events.thumb()).setPolicyId("not-sent").build();
    PreferenceEvent decoded = decoder.decode(produceEvent(writer, sent, Map.of()));
    assertThat(decoded).isEqualTo(PreferenceEvent.newBuilder(sent)
        .setPolicyId("default").setPolicyVersion(null).setUserId(null).setAttributes(Map.of()).build());
  }

  // (d) Fields in another order are matched by name.
  @Test
  void reorderedFieldsAreMatchedByName() {
    Schema writer = WriterSchemas.reversed(CURRENT);
    assertThat(writer.getFields().getFirst().name()).isEqualTo(CURRENT.getFields().getLast().name());
    for (PreferenceEvent event : List.of(Events.thumb(), Events.comparison())) {
      assertThat(decoder.decode(produceEvent(writer, event, Map.of()))).isEqualTo(event);
    }
  }

  // (e) Promoted types, where PreferenceEvent has a field of the wider type.
  @Test
  void promotedTypesAreWidenedIntoTheEventsFields() {
    List<Schema> writers = List.of(
        WriterSchemas.retyped(CURRENT, "policy_version", "[\"null\",\"int\"]"), // union int -> union long
        WriterSchemas.retyped(CURRENT, "policy_version", "\"int\""), // int -> [null, long]
        WriterSchemas.retyped(CURRENT, "prompt", "\"bytes\""), // bytes -> string
        WriterSchemas.retyped(WriterSchemas.retyped(CURRENT, "event_id", "\"bytes\""), "user_id", "[\"null\",\"bytes\"]"));
    for (Schema writer : writers) {
      assertThat(decoder.decode(produceEvent(writer, Events.thumb(), Map.of()))).as("writer %s", writer).isEqualTo(Events.thumb());
    }
    // int -> long for the timestamp, with a time an int of milliseconds can hold.
    PreferenceEvent early = PreferenceEvent.newBuilder(Events.comparison()).setTimestamp(Instant.ofEpochMilli(2_000_000_000L)).build();
    Schema intTime = WriterSchemas.retyped(CURRENT, "timestamp", "\"int\"");
    assertThat(decoder.decode(produceEvent(intTime, early, Map.of()))).isEqualTo(early);
  }

  // (e) Promotions PreferenceEvent has no field for (float -> double, int/long -> double, string -> bytes,
  // int -> long), through the same reader code with the RolloutState and DeadLetter records.
  @Test
  void promotedTypesAreWidenedInOtherRecordsThroughTheSameReader() {
    RolloutState rollout = RolloutState.newBuilder().setPolicyId("p").setMode(RolloutMode.MANUAL).setStableVersion(3L)
        .setCanaryVersion(4L).setCanaryPercent(0.25).setUpdatedAt(Events.T0).build();
    AvroBodyReader<RolloutState> rollouts = new AvroBodyReader<>(RolloutState.class);
    String rolloutSubject = ConfluentWireSerializer.subjectFor(Topics.ROLLOUT);
    for (String type : List.of("\"float\"", "\"int\"", "\"long\"")) {
      Schema writer = WriterSchemas.retyped(RolloutState.getClassSchema(), "canary_percent", type);
      RolloutState sent = type.equals("\"float\"") ? rollout : RolloutState.newBuilder(rollout).setCanaryPercent(7).build();
      byte[] message = produce(rolloutSubject, writer, WriterSchemas.body(sent, writer, Map.of()));
      assertThat(readBody(rollouts, message)).as("canary_percent written as %s", type).isEqualTo(sent);
    }

    DeadLetter letter = DeadLetter.newBuilder().setReason(DeadLetterReason.TOO_LONG).setMessage("too long")
        .setOriginalValue(ByteBuffer.wrap("{\"a\":1}".getBytes(StandardCharsets.UTF_8))).setSourceTopic(Topics.EVENTS)
        .setSourcePartition(2).setSourceOffset(77).setFailedAt(Events.T0).build();
    Schema writer = WriterSchemas.retyped(WriterSchemas.retyped(DeadLetter.getClassSchema(),
        "original_value", "[\"null\",\"string\"]"), "source_offset", "\"int\"");
    byte[] message = produce(ConfluentWireSerializer.subjectFor(Topics.EVENTS_DLQ), writer, WriterSchemas.body(letter, writer, Map.of()));
    assertThat(readBody(new AvroBodyReader<>(DeadLetter.class), message)).isEqualTo(letter);
  }

  // (f) An enum symbol the reader does not know becomes the reader enum's default. PreferenceEvent's
  // Rating has no default (see the next test), so DeadLetter's reason enum (default OTHER) is used.
  @Test
  void unknownEnumSymbolBecomesTheReadersDefault() {
    Schema reader = DeadLetter.getClassSchema();
    Schema writer = WriterSchemas.retyped(reader, "reason", """
        {"type":"enum","name":"DeadLetterReason","symbols":["OTHER","RATE_LIMITED","TOO_LONG","UNPARSEABLE"]}""");
    Schema writerEnum = writer.getField("reason").schema();
    AvroBodyReader<DeadLetter> letters = new AvroBodyReader<>(DeadLetter.class);
    DeadLetter letter = DeadLetter.newBuilder().setReason(DeadLetterReason.TOO_LONG).setMessage("m")
        .setSourceTopic(Topics.EVENTS).setSourcePartition(0).setSourceOffset(1).setFailedAt(Events.T0).build();
    String subject = ConfluentWireSerializer.subjectFor(Topics.EVENTS_DLQ);
    assertThat(readBody(letters, produce(subject, writer, WriterSchemas.body(letter, writer, Map.of()))).getReason())
        .as("a symbol both know, at another index").isEqualTo(DeadLetterReason.TOO_LONG);
    byte[] unknown = produce(subject, writer, WriterSchemas.body(letter, writer,
        Map.of("reason", new GenericData.EnumSymbol(writerEnum, "RATE_LIMITED"))));
    assertThat(readBody(letters, unknown)).isEqualTo(DeadLetter.newBuilder(letter).setReason(DeadLetterReason.OTHER).build());
  }

  // (g) Writer schemas the rules cannot read: a clear error naming the field and the schema id.
  @ParameterizedTest
  @ValueSource(strings = {
      "without|prompt|field prompt: not in the writer schema, and the reader has no default for it",
      "retyped|prompt|\"int\"|field prompt: reader type: STRING not compatible with writer type: INT",
      "retyped|timestamp|\"string\"|field timestamp: reader type: LONG not compatible with writer type: STRING",
      "rating|MEH|field feedback.Thumb.rating: the writer's enum symbols [MEH] are not in the reader's enum Rating",
      // Resolvable by Avro's rules, refused to keep item counts bounded by the message size.
      "pings|field pings: an array whose items can be zero bytes long",
  })
  void unresolvableWriterIsSchemaIncompatibleNamingTheField(String spec) {
    String[] p = spec.split("\\|");
    Schema writer = switch (p[0]) {
      case "without" -> WriterSchemas.without(CURRENT, p[1]);
      case "retyped" -> WriterSchemas.retyped(CURRENT, p[1], p[2]);
      case "pings" -> WriterSchemas.withField(CURRENT, 8, "{\"name\":\"pings\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}");
      default -> WriterSchemas.parseSchema(CURRENT.toString().replace("[\"UP\",\"DOWN\"]", "[\"UP\",\"DOWN\",\"" + p[1] + "\"]"));
    };
    byte[] message = produce(SUBJECT, writer, new byte[] {2, 'x'});
    DecodeException e = catchThrowableOfType(DecodeException.class, () -> decoder.decode(message));
    assertThat(e).isNotNull();
    assertThat(e.encoding()).isEqualTo(Encoding.CONFLUENT);
    assertThat(e.reason()).as(e.getMessage()).isEqualTo(DecodeFailure.SCHEMA_INCOMPATIBLE);
    assertThat(e.getMessage()).contains("schema id " + idOf(message), p[p.length - 1]);
  }

  @Test
  void compatibilityIsCheckedOncePerWriterSchema() {
    Schema incompatible = WriterSchemas.without(CURRENT, "prompt");
    Schema compatible = WriterSchemas.withField(CURRENT, 8, "{\"name\":\"client\",\"type\":\"string\",\"default\":\"\"}");
    byte[] bad = produce(SUBJECT, incompatible, new byte[] {2, 'x'});
    byte[] good = produceEvent(compatible, Events.thumb(), Map.of("client", "web"));
    AvroBodyReader<PreferenceEvent> reader = new AvroBodyReader<>(PreferenceEvent.class);
    for (int i = 0; i < 5; i++) {
      // A fresh client each time, so each message comes with its own (equal) schema object from the registry.
      try (SchemaRegistryClient c = client()) {
        assertThat(catchThrowableOfType(DecodeException.class, () -> readBody(reader, bad, c)).reason())
            .isEqualTo(DecodeFailure.SCHEMA_INCOMPATIBLE);
        assertThat(readBody(reader, good, c)).isEqualTo(Events.thumb());
      }
    }
    assertThat(reader.resolutionsComputed()).as("one verdict per writer schema").isEqualTo(2);
  }

  @Test
  void trailingBytesAfterAResolvedRecordAreMalformed() {
    Schema writer = WriterSchemas.withField(CURRENT, 8, "{\"name\":\"client\",\"type\":\"string\",\"default\":\"\"}");
    byte[] valid = produceEvent(writer, Events.thumb(), Map.of("client", ""));
    byte[] longer = Arrays.copyOf(valid, valid.length + 2);
    DecodeException e = catchThrowableOfType(DecodeException.class, () -> decoder.decode(longer));
    assertThat(e.reason()).as(e.getMessage()).isEqualTo(DecodeFailure.MALFORMED);
    assertThat(e.getMessage()).contains("2 bytes are left", "schema id " + idOf(valid));
  }

  @Test
  void evolvedMessageTruncatedAtEveryPositionIsTruncated() {
    Schema writer = WriterSchemas.withField(CURRENT, 1, WriterSchemas.DEVICE_FIELD);
    byte[] valid = produceEvent(writer, Events.thumb(), Map.of("device", WriterSchemas.device(writer)));
    assertThat(decoder.decode(valid)).isEqualTo(Events.thumb());
    for (int n = 5; n < valid.length; n++) {
      byte[] cut = Arrays.copyOf(valid, n);
      DecodeException e = catchThrowableOfType(DecodeException.class, () -> decoder.decode(cut));
      assertThat(e).as("prefix of %d bytes", n).isNotNull();
      assertThat(e.reason()).as(e.getMessage()).isEqualTo(DecodeFailure.TRUNCATED);
    }
  }

  /**
   * An independent producer: Python's Avro library, with the schema evolved, registered and the
   * Confluent framing written in the script from the wire format's definition.
   */
  private static final String PYTHON_PRODUCER = """
      import datetime, io, json, sys, urllib.request
      import avro.io, avro.schema

      current_path, ccompat, subject = sys.argv[1:4]
      writer = json.load(open(current_path))
      # Evolving first, as producers do: a new string with a default after the prompt, and a new
      # record without a default at the end.
      writer["fields"].insert(6, {"name": "source", "type": "string", "default": ""})
      writer["fields"].append({"name": "session", "type": {"type": "record", "name": "Session", "fields": [
          {"name": "id", "type": "string"},
          {"name": "started_ms", "type": "long"},
          {"name": "tags", "type": {"type": "array", "items": "string"}}]}})
      text = json.dumps(writer)

      request = urllib.request.Request(ccompat + "/subjects/" + subject + "/versions",
          data=json.dumps({"schema": text}).encode("utf-8"), method="POST",
          headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
      with urllib.request.urlopen(request, timeout=30) as response:
          schema_id = json.load(response)["id"]

      schema = avro.schema.parse(text)
      datum_writer = avro.io.DatumWriter(schema)
      t0 = datetime.datetime(2026, 11, 26, 10, 0, 0, 123000, tzinfo=datetime.timezone.utc)
      events = [
          {"event_id": "py-1", "policy_id": "python", "policy_version": 4, "timestamp": t0, "user_id": "py-user",
           "prompt": "Name a colour", "source": "android", "feedback": {"chosen": "Blue", "rejected": "Loud"},
           "attributes": {"client": "python"},
           "session": {"id": "s-1", "started_ms": 1234567890123, "tags": ["a", "bb"]}},
          {"event_id": "py-2", "policy_id": "default", "policy_version": None, "timestamp": t0, "user_id": None,
           "prompt": "Tell a joke", "source": "", "feedback": {"response": "No.", "rating": "DOWN"},
           "attributes": {}, "session": {"id": "", "started_ms": 0, "tags": []}},
      ]
      for event in events:
          body = io.BytesIO()
          datum_writer.write(event, avro.io.BinaryEncoder(body))
          # Confluent wire format: magic byte 0, the schema id as a 4-byte big-endian int, the Avro body.
          print((b"\\x00" + schema_id.to_bytes(4, "big") + body.getvalue()).hex())
      """;

  @Test
  void eventsFromPythonWithAnEvolvedSchemaDecode(@TempDir Path work) throws Exception {
    Assumptions.assumeTrue(runs(PYTHON, "-c", "import avro"),
        "Python's Avro library is not installed (Debian package python3-avro)");
    Path current = work.resolve("PreferenceEvent.avsc");
    Files.writeString(current, CURRENT.toString(true));
    Path script = work.resolve("produce.py");
    Files.writeString(script, PYTHON_PRODUCER);
    Path log = work.resolve("python.log");
    Process p = new ProcessBuilder(PYTHON, script.toString(), current.toString(), registry.ccompatUrl(), SUBJECT)
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("python finished").isTrue();
    String output = Files.readString(log);
    assertThat(p.exitValue()).as("python exit code; output:%n%s", output).isZero();

    List<PreferenceEvent> decoded = output.lines().map(HexFormat.of()::parseHex).map(decoder::decode).toList();
    assertThat(decoded).containsExactly(
        PreferenceEvent.newBuilder().setEventId("py-1").setPolicyId("python").setPolicyVersion(4L)
            .setTimestamp(Events.T0).setUserId("py-user").setPrompt("Name a colour")
            .setFeedback(new Comparison("Blue", "Loud")).setAttributes(Map.of("client", "python")).build(),
        PreferenceEvent.newBuilder().setEventId("py-2").setTimestamp(Events.T0).setPrompt("Tell a joke")
            .setFeedback(new Thumb("No.", Rating.DOWN)).build());
  }

  private static <T extends SpecificRecord> T readBody(AvroBodyReader<T> reader, byte[] message) {
    return readBody(reader, message, consumer);
  }

  /** Decodes a Confluent-framed message through {@code reader}, with the writer schema fetched by id. */
  private static <T extends SpecificRecord> T readBody(
      AvroBodyReader<T> reader, byte[] message, SchemaRegistryClient client) {
    int id = idOf(message);
    return reader.read(Encoding.CONFLUENT, client.schemaById(id), "schema id " + id, message,
        PreferenceEventDecoder.CONFLUENT_HEADER_LENGTH, message.length - PreferenceEventDecoder.CONFLUENT_HEADER_LENGTH);
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
}
