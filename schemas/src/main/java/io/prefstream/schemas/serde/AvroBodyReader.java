package io.prefstream.schemas.serde;

import java.io.EOFException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.avro.Schema;
import org.apache.avro.io.DatumReader;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;

/**
 * Reads an Avro binary body written with some writer schema into the generated class of the current
 * reader schema by Avro's resolution rules: fields are matched by name, writer fields the reader lacks
 * are skipped, reader fields the writer lacks take their defaults, promotions (int to long, float to
 * double, string to bytes ...) widen, unknown enum symbols take the reader enum's default. Each writer
 * schema is judged once by {@link WriterSchemaCheck} and the verdict cached with its resolving reader,
 * keyed by the schema (equal schemas under two registry ids share one entry): an incompatible one fails
 * every message as {@link DecodeFailure#SCHEMA_INCOMPATIBLE}, naming the field. The body must be exactly
 * one record; it is read through {@link BoundedBinaryDecoder}. Every failure becomes a
 * {@link DecodeException}; nothing from Avro escapes. Tested by {@code ConfluentSchemaEvolutionTest},
 * {@code SchemaEvolutionTest}, {@code CorruptInputTest} and {@code MutatedInputTest}.
 */
final class AvroBodyReader<T extends SpecificRecord> {
  private sealed interface Resolution permits Readable, Incompatible {}

  private record Readable<T>(DatumReader<T> reader) implements Resolution {}

  private record Incompatible(String why) implements Resolution {}

  private final Class<T> type;
  private final Schema readerSchema;
  private final SpecificData model;
  private final Map<Schema, Resolution> resolutions = new ConcurrentHashMap<>();
  private final AtomicInteger resolutionsComputed = new AtomicInteger();

  AvroBodyReader(Class<T> type) {
    this.type = type;
    this.readerSchema = KnownSchemas.current(type);
    this.model = SpecificData.getForClass(type);
  }

  Schema readerSchema() {
    return readerSchema;
  }

  /** How many writer schemas have been resolved against the reader so far (each once, whatever the verdict). */
  int resolutionsComputed() {
    return resolutionsComputed.get();
  }

  /**
   * Decodes {@code length} bytes at {@code offset}, which must hold exactly one record.
   *
   * @param writerLabel how the writer schema was found, for messages ("schema id 7", "fingerprint …")
   */
  T read(Encoding encoding, Schema writer, String writerLabel, byte[] buf, int offset, int length) {
    Resolution resolution = resolutions.computeIfAbsent(writer, this::resolve);
    if (resolution instanceof Incompatible(String why)) {
      throw new DecodeException(encoding, DecodeFailure.SCHEMA_INCOMPATIBLE,
          "writer schema " + writer.getFullName() + " (" + writerLabel + ") cannot be read as " + type.getSimpleName()
              + ": " + why,
          "a writer schema compatible with the current " + readerSchema.getFullName() + " schema");
    }
    @SuppressWarnings("unchecked")
    DatumReader<T> reader = ((Readable<T>) resolution).reader();
    BoundedBinaryDecoder in = new BoundedBinaryDecoder(buf, offset, length);
    T value;
    try {
      value = reader.read(null, in);
    } catch (EOFException e) {
      throw new DecodeException(encoding, DecodeFailure.TRUNCATED,
          "the Avro body (" + length + " bytes, " + writerLabel + ") ends early: " + e.getMessage(),
          "a complete " + writer.getFullName() + " record", null, e);
    } catch (Exception e) {
      // Avro signals corrupt data with assorted runtime exceptions (AvroTypeException for an enum or
      // union index out of range, IndexOutOfBounds deep in the resolver); all of them mean the same.
      throw new DecodeException(encoding, DecodeFailure.MALFORMED,
          "the Avro body (" + writerLabel + ") is not a valid " + writer.getFullName() + " record at byte "
              + (in.position() - offset) + ": " + e.getClass().getSimpleName() + ": " + e.getMessage(),
          "Avro binary data matching the writer schema", null, e);
    }
    if (!in.isEnd()) {
      throw new DecodeException(encoding, DecodeFailure.MALFORMED,
          in.remaining() + " bytes are left after the " + writer.getFullName() + " record (" + writerLabel + ")",
          "the record to end at the end of the message");
    }
    return value;
  }

  @SuppressWarnings("unchecked")
  private Resolution resolve(Schema writer) {
    resolutionsComputed.incrementAndGet();
    List<String> problems = WriterSchemaCheck.problems(readerSchema, writer);
    if (!problems.isEmpty()) return new Incompatible(String.join("; ", problems));
    return new Readable<>((DatumReader<T>) model.createDatumReader(writer, readerSchema));
  }
}
