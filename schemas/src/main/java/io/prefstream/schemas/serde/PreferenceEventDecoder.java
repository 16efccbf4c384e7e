package io.prefstream.schemas.serde;

import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.registry.RegistryException;
import io.prefstream.schemas.registry.SchemaRegistryClient;
import java.util.HexFormat;
import org.apache.avro.Schema;

/**
 * Decodes a {@link PreferenceEvent} from any of the three encodings apps may publish, chosen by the
 * first byte: {@code 0x00} the Confluent wire format (writer schema fetched from the registry by id and
 * cached), {@code 0xC3 0x01} Avro single-object encoding (writer schema found by fingerprint among
 * {@link KnownSchemas}), {@code '{'} after optional whitespace or a UTF-8 BOM, JSON in the shape of
 * {@link PreferenceEventJson}. Avro data written with another schema (older, or a producer's newer one)
 * is resolved to the current one by Avro's rules (see {@link AvroBodyReader}). Every failure is a
 * {@link DecodeException} naming the encoding and the reason. Thread-safe.
 */
public final class PreferenceEventDecoder {
  static final int CONFLUENT_HEADER_LENGTH = 5;

  private final SchemaRegistryClient registry;
  private final SingleObjectCodec<PreferenceEvent> avro = new SingleObjectCodec<>(PreferenceEvent.class);

  /** A decoder without a registry: Confluent-framed bytes fail with {@link DecodeFailure#UNKNOWN_SCHEMA}. */
  public PreferenceEventDecoder() {
    this(null);
  }

  /** A decoder resolving Confluent schema ids through {@code registry}; null means none is configured. */
  public PreferenceEventDecoder(SchemaRegistryClient registry) {
    this.registry = registry;
  }

  /** The encoding the first bytes announce, or {@link Encoding#UNKNOWN}. */
  public static Encoding detect(byte[] bytes) {
    if (bytes == null || bytes.length == 0) return Encoding.UNKNOWN;
    if (bytes[0] == 0x00) return Encoding.CONFLUENT;
    if (bytes[0] == SingleObjectCodec.MAGIC_0) return Encoding.SINGLE_OBJECT;
    return jsonStart(bytes) >= 0 ? Encoding.JSON : Encoding.UNKNOWN;
  }

  /** Decodes one event; throws {@link DecodeException} when the bytes are not one. */
  public PreferenceEvent decode(byte[] bytes) {
    if (bytes == null || bytes.length == 0) {
      throw new DecodeException(Encoding.UNKNOWN, DecodeFailure.EMPTY, "the message has no bytes",
          "a PreferenceEvent in the Confluent wire format, Avro single-object encoding or JSON");
    }
    return switch (detect(bytes)) {
      case CONFLUENT -> decodeConfluent(bytes);
      case SINGLE_OBJECT -> avro.decode(bytes, 0, bytes.length);
      case JSON -> {
        int start = jsonStart(bytes);
        yield PreferenceEventJson.read(bytes, start, bytes.length - start);
      }
      case UNKNOWN -> throw new DecodeException(Encoding.UNKNOWN, DecodeFailure.BAD_MAGIC,
          "the message starts with 0x" + HexFormat.of().formatHex(bytes, 0, Math.min(4, bytes.length)),
          "0x00 (Confluent wire format), 0xC3 0x01 (Avro single-object) or '{' (JSON)");
    };
  }

  private PreferenceEvent decodeConfluent(byte[] bytes) {
    if (bytes.length < CONFLUENT_HEADER_LENGTH) {
      throw new DecodeException(Encoding.CONFLUENT, DecodeFailure.TRUNCATED, "only " + bytes.length + " bytes",
          "magic byte 0, a 4-byte schema id and an Avro body");
    }
    int id = (bytes[1] & 0xff) << 24 | (bytes[2] & 0xff) << 16 | (bytes[3] & 0xff) << 8 | (bytes[4] & 0xff);
    String label = "schema id " + id;
    if (registry == null) {
      throw new DecodeException(Encoding.CONFLUENT, DecodeFailure.UNKNOWN_SCHEMA,
          label + " cannot be resolved because no schema registry is configured",
          "a schema registry URL (schema.registry.url) to decode Confluent-framed events");
    }
    Schema writer;
    try {
      writer = registry.schemaById(id);
    } catch (RegistryException e) {
      if (e.isUnavailable()) {
        throw new DecodeException(Encoding.CONFLUENT, DecodeFailure.REGISTRY_UNAVAILABLE,
            label + " could not be fetched: " + e.getMessage(), "a reachable schema registry", null, e);
      }
      throw new DecodeException(Encoding.CONFLUENT, DecodeFailure.UNKNOWN_SCHEMA,
          label + " is not known to the registry: " + e.getMessage(),
          "a schema id registered in " + registry.config().baseUrl(), null, e);
    }
    return avro.readBody(Encoding.CONFLUENT, writer, label, bytes, CONFLUENT_HEADER_LENGTH,
        bytes.length - CONFLUENT_HEADER_LENGTH);
  }

  /** The index of the '{' that starts a JSON message (after a BOM and whitespace), or -1. */
  private static int jsonStart(byte[] b) {
    int i = 0;
    if (b.length >= 3 && (b[0] & 0xff) == 0xEF && (b[1] & 0xff) == 0xBB && (b[2] & 0xff) == 0xBF) i = 3;
    while (i < b.length && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')) i++;
    return i < b.length && b[i] == '{' ? i : -1;
  }
}
