package io.prefstream.schemas.serde;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HexFormat;
import java.util.Objects;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DatumWriter;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;

/**
 * Avro single-object encoding of one generated record type: {@code C3 01}, the writer schema's
 * CRC-64-AVRO fingerprint as 8 little-endian bytes, then the Avro binary body. Writes with the
 * current schema; reads any writer schema in {@link KnownSchemas} (current or historical), resolved
 * to the current one. Thread-safe.
 */
public final class SingleObjectCodec<T extends SpecificRecord> {
  static final byte MAGIC_0 = (byte) 0xC3;
  static final byte MAGIC_1 = 0x01;
  static final int HEADER_LENGTH = 10;

  private final Class<T> type;
  private final Schema schema;
  private final byte[] header;
  private final DatumWriter<T> writer;
  private final AvroBodyReader<T> reader;

  public SingleObjectCodec(Class<T> type) {
    this.type = Objects.requireNonNull(type, "type");
    this.schema = KnownSchemas.current(type);
    this.header = header(KnownSchemas.fingerprint(schema));
    @SuppressWarnings("unchecked")
    DatumWriter<T> w = (DatumWriter<T>) SpecificData.getForClass(type).createDatumWriter(schema);
    this.writer = w;
    this.reader = new AvroBodyReader<>(type);
  }

  public Class<T> type() {
    return type;
  }

  public Schema schema() {
    return schema;
  }

  /** The 10-byte header for a writer schema with this fingerprint. */
  static byte[] header(long fingerprint) {
    byte[] h = new byte[HEADER_LENGTH];
    h[0] = MAGIC_0;
    h[1] = MAGIC_1;
    for (int i = 0; i < 8; i++) h[2 + i] = (byte) (fingerprint >>> (8 * i));
    return h;
  }

  /** Encodes with the current schema. Throws {@link SerializationException} for a record that breaks its schema. */
  public byte[] encode(T value) {
    Objects.requireNonNull(value, "value");
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    out.writeBytes(header);
    writeBody(value, out);
    return out.toByteArray();
  }

  /** Writes the plain Avro binary body (no header), as the Confluent wire format also uses. */
  void writeBody(T value, ByteArrayOutputStream out) {
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
    try {
      writer.write(value, encoder);
      encoder.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (RuntimeException e) {
      // Avro reports a null in a non-null field as an NPE or a ClassCast for a wrong type: say which record.
      throw new SerializationException("cannot encode " + type.getSimpleName() + " with its Avro schema: " + e.getMessage(), e);
    }
  }

  /** Decodes single-object bytes written with any known schema of this type. */
  public T decode(byte[] bytes) {
    if (bytes == null || bytes.length == 0) {
      throw new DecodeException(Encoding.SINGLE_OBJECT, DecodeFailure.EMPTY, "no bytes",
          "a single-object encoded " + type.getSimpleName() + " (C3 01 + 8-byte fingerprint + Avro body)");
    }
    return decode(bytes, 0, bytes.length);
  }

  /** Decodes a single-object message in {@code bytes[offset, offset+length)}. */
  T decode(byte[] bytes, int offset, int length) {
    if (bytes[offset] != MAGIC_0 || (length > 1 && bytes[offset + 1] != MAGIC_1)) {
      throw new DecodeException(Encoding.SINGLE_OBJECT, DecodeFailure.BAD_MAGIC,
          "header starts with " + HexFormat.of().formatHex(bytes, offset, offset + Math.min(2, length)),
          "C3 01 (Avro single-object encoding) for " + type.getSimpleName());
    }
    if (length < HEADER_LENGTH) {
      throw new DecodeException(Encoding.SINGLE_OBJECT, DecodeFailure.TRUNCATED,
          "only " + length + " bytes", "at least " + HEADER_LENGTH + " (C3 01 + 8-byte fingerprint) and an Avro body");
    }
    long fingerprint = 0;
    for (int i = 7; i >= 0; i--) fingerprint = (fingerprint << 8) | (bytes[offset + 2 + i] & 0xff);
    Schema writerSchema = KnownSchemas.byFingerprint(fingerprint);
    String label = "fingerprint " + HexFormat.of().toHexDigits(fingerprint); // as %016x, without a Formatter per event
    if (writerSchema == null || !writerSchema.getFullName().equals(schema.getFullName())) {
      throw new DecodeException(Encoding.SINGLE_OBJECT, DecodeFailure.UNKNOWN_FINGERPRINT,
          label + (writerSchema == null ? " matches no known schema" : " is a " + writerSchema.getFullName() + " schema"),
          "one of the " + KnownSchemas.writerSchemas(type).size() + " known " + schema.getFullName() + " schema versions");
    }
    return reader.read(Encoding.SINGLE_OBJECT, writerSchema, label, bytes, offset + HEADER_LENGTH, length - HEADER_LENGTH);
  }

  /** Reads a plain Avro body written with {@code writerSchema} (used by the Confluent path). */
  T readBody(Encoding encoding, Schema writerSchema, String label, byte[] bytes, int offset, int length) {
    return reader.read(encoding, writerSchema, label, bytes, offset, length);
  }
}
