package io.prefstream.schemas.serde;

import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.RolloutState;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.message.SchemaStore;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;

/**
 * Every Avro writer schema this build can read: the current schema of each top-level record and the
 * older versions kept as resources under {@code avro-history/} (listed in its {@code index.txt}).
 * Single-object decoding looks writer schemas up here by their CRC-64-AVRO fingerprint, which is how
 * events written by producers on an older schema still decode after the schema grew.
 */
public final class KnownSchemas {
  private KnownSchemas() {}

  /** The top-level records of {@code src/main/avro}, i.e. the types that travel on topics. */
  public static final List<Class<? extends SpecificRecord>> RECORD_TYPES = List.of(
      PreferenceEvent.class, MicroBatch.class, PolicyUpdate.class, RolloutState.class, ControlCommand.class,
      DeadLetter.class);

  private static final String HISTORY = "avro-history/";
  private static final Map<String, List<Schema>> HISTORY_BY_NAME = loadHistory();
  private static final SchemaStore.Cache STORE = buildStore();

  /** The schema a generated class was built from. */
  public static Schema current(Class<? extends SpecificRecord> type) {
    return SpecificData.getForClass(type).getSchema(type);
  }

  /** The older writer schemas of a record, by full name (oldest first); empty when there are none. */
  public static List<Schema> history(String fullName) {
    return HISTORY_BY_NAME.getOrDefault(fullName, List.of());
  }

  /** All known writer schemas of a record: its history, then the current one. */
  public static List<Schema> writerSchemas(Class<? extends SpecificRecord> type) {
    Schema current = current(type);
    List<Schema> all = new ArrayList<>(history(current.getFullName()));
    all.add(current);
    return List.copyOf(all);
  }

  /** A schema store holding every known writer schema, for Avro's {@code BinaryMessageDecoder}. */
  public static SchemaStore store() {
    return STORE;
  }

  /** The writer schema with this single-object fingerprint, or null when none is known. */
  public static Schema byFingerprint(long fingerprint) {
    return STORE.findByFingerprint(fingerprint);
  }

  /** The CRC-64-AVRO fingerprint of the schema's parsing canonical form, as single-object encoding uses. */
  public static long fingerprint(Schema schema) {
    return SchemaNormalization.parsingFingerprint64(schema);
  }

  private static SchemaStore.Cache buildStore() {
    SchemaStore.Cache store = new SchemaStore.Cache();
    for (Class<? extends SpecificRecord> type : RECORD_TYPES) {
      writerSchemas(type).forEach(store::addSchema);
    }
    return store;
  }

  private static Map<String, List<Schema>> loadHistory() {
    Map<String, List<Schema>> byName = new HashMap<>();
    for (String resource : readLines(HISTORY + "index.txt")) {
      try (InputStream in = open(HISTORY + resource)) {
        Schema schema = new Schema.Parser().parse(in);
        byName.computeIfAbsent(schema.getFullName(), k -> new ArrayList<>()).add(schema);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read historical schema " + HISTORY + resource, e);
      }
    }
    byName.replaceAll((k, v) -> List.copyOf(v));
    return Map.copyOf(byName);
  }

  private static List<String> readLines(String resource) {
    try (InputStream in = open(resource);
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      return r.lines().map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + resource, e);
    }
  }

  private static InputStream open(String resource) throws IOException {
    InputStream in = KnownSchemas.class.getClassLoader().getResourceAsStream(resource);
    if (in == null) throw new IOException("resource " + resource + " is not on the class path");
    return in;
  }
}
