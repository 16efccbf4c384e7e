package io.prefstream.schemas.serde;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificRecord;

/**
 * Writer schemas that other producers might register (a record's schema with fields added, removed,
 * reordered or retyped), and the Avro body such a producer would write for one of our records. The
 * body is written by Avro's generic writer from the writer schema alone, so it shares nothing with
 * the reader under test.
 */
final class WriterSchemas {
  private WriterSchemas() {}

  private static final ObjectMapper JSON = new ObjectMapper();

  /** A writer-only field of every Avro type, so skipping it goes through every skip path. */
  static final String DEVICE_FIELD = """
      {"name":"device","type":{"type":"record","name":"Device","fields":[
        {"name":"model","type":"string"},
        {"name":"blob","type":"bytes"},
        {"name":"hash","type":{"type":"fixed","name":"Hash","size":4}},
        {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["PHONE","DESKTOP"]}},
        {"name":"tags","type":{"type":"array","items":"string"}},
        {"name":"counters","type":{"type":"map","values":"long"}},
        {"name":"battery","type":["null","float"]},
        {"name":"load","type":"double"},
        {"name":"charging","type":"boolean"},
        {"name":"build","type":"int"},
        {"name":"nothing","type":"null"}]}}""";

  /** A value for {@link #DEVICE_FIELD} in {@code writer}, which has that field. */
  static GenericRecord device(Schema writer) {
    Schema s = writer.getField("device").schema();
    GenericRecord d = new GenericData.Record(s);
    d.put("model", "Pixel 11");
    d.put("blob", ByteBuffer.wrap(new byte[] {1, 2, 3}));
    d.put("hash", new GenericData.Fixed(s.getField("hash").schema(), new byte[] {9, 8, 7, 6}));
    d.put("kind", new GenericData.EnumSymbol(s.getField("kind").schema(), "DESKTOP"));
    d.put("tags", List.of("beta", "", "dark-mode"));
    d.put("counters", Map.of("opens", 12L, "crashes", 0L));
    d.put("battery", 0.5f);
    d.put("load", 1.25);
    d.put("charging", true);
    d.put("build", -7);
    d.put("nothing", null);
    return d;
  }

  /** {@code base} with {@code fieldJson} inserted as field number {@code index}. */
  static Schema withField(Schema base, int index, String fieldJson) {
    ObjectNode root = tree(base);
    ((ArrayNode) root.get("fields")).insert(index, parse(fieldJson));
    return schema(root);
  }

  /** {@code base} without the named top-level fields. */
  static Schema without(Schema base, String... names) {
    ObjectNode root = tree(base);
    Set<String> drop = Set.of(names);
    ((ArrayNode) root.get("fields")).removeIf(f -> drop.contains(f.get("name").asText()));
    return schema(root);
  }

  /** {@code base} with its top-level fields in reverse order. */
  static Schema reversed(Schema base) {
    ObjectNode root = tree(base);
    ArrayNode fields = (ArrayNode) root.get("fields");
    ArrayNode reversed = JSON.createArrayNode();
    for (int i = fields.size() - 1; i >= 0; i--) reversed.add(fields.get(i));
    root.set("fields", reversed);
    return schema(root);
  }

  /** {@code base} with the type of top-level field {@code name} replaced by {@code typeJson} (its default dropped). */
  static Schema retyped(Schema base, String name, String typeJson) {
    ObjectNode root = tree(base);
    for (JsonNode f : root.get("fields")) {
      if (f.get("name").asText().equals(name)) {
        ((ObjectNode) f).set("type", parse(typeJson));
        ((ObjectNode) f).remove("default");
        return schema(root);
      }
    }
    throw new IllegalArgumentException(base.getFullName() + " has no field " + name);
  }

  /** The schema parsed from JSON text. */
  static Schema parseSchema(String json) {
    return new Schema.Parser().parse(json);
  }

  /**
   * The Avro body a producer on {@code writer} would send for {@code value}: each writer field takes
   * its value from {@code extra} when named there (already in Avro's generic form), else from the
   * record's field of the same name, converted to the writer's type (int, bytes, float ...).
   */
  static byte[] body(SpecificRecord value, Schema writer, Map<String, Object> extra) {
    GenericRecord record = new GenericData.Record(writer);
    for (Schema.Field f : writer.getFields()) {
      Object v = extra.containsKey(f.name()) ? extra.get(f.name()) : convert(value.get(value.getSchema().getField(f.name()).pos()), f.schema());
      record.put(f.pos(), v);
    }
    return write(record);
  }

  /** Avro binary of a generic record, written with its own schema. */
  static byte[] write(GenericRecord record) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
    try {
      new GenericDatumWriter<GenericRecord>(record.getSchema()).write(record, enc);
      enc.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** A value of one of our records in the generic form of {@code type}. */
  private static Object convert(Object v, Schema type) {
    if (v == null) return null;
    return switch (type.getType()) {
      case UNION -> convert(v, branchFor(v, type));
      case RECORD -> {
        SpecificRecord r = (SpecificRecord) v;
        GenericRecord g = new GenericData.Record(type);
        for (Schema.Field f : type.getFields()) g.put(f.pos(), convert(r.get(r.getSchema().getField(f.name()).pos()), f.schema()));
        yield g;
      }
      case ENUM -> new GenericData.EnumSymbol(type, v.toString());
      case INT -> v instanceof Instant t ? Math.toIntExact(t.toEpochMilli()) : ((Number) v).intValue();
      case LONG -> v instanceof Instant t ? t.toEpochMilli() : ((Number) v).longValue();
      case FLOAT -> ((Number) v).floatValue();
      case DOUBLE -> ((Number) v).doubleValue();
      case STRING -> v instanceof ByteBuffer b ? StandardCharsets.UTF_8.decode(b.duplicate()).toString() : v.toString();
      case BYTES -> v instanceof ByteBuffer b ? b.duplicate() : ByteBuffer.wrap(v.toString().getBytes(StandardCharsets.UTF_8));
      case MAP -> {
        Map<String, Object> m = new LinkedHashMap<>();
        ((Map<?, ?>) v).forEach((k, x) -> m.put(k.toString(), convert(x, type.getValueType())));
        yield m;
      }
      case ARRAY -> ((List<?>) v).stream().map(x -> convert(x, type.getElementType())).toList();
      default -> v;
    };
  }

  /** The non-null union branch a value goes in: the record of the same name, else the first non-null one. */
  private static Schema branchFor(Object v, Schema union) {
    for (Schema s : union.getTypes()) {
      if (v instanceof SpecificRecord r ? s.getType() == Schema.Type.RECORD && s.getName().equals(r.getSchema().getName())
          : s.getType() != Schema.Type.NULL) {
        return s;
      }
    }
    throw new IllegalArgumentException("no branch of " + union + " for " + v);
  }

  private static ObjectNode tree(Schema s) {
    return (ObjectNode) parse(s.toString());
  }

  private static JsonNode parse(String json) {
    try {
      return JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("not JSON: " + json, e);
    }
  }

  private static Schema schema(ObjectNode root) {
    return parseSchema(root.toString());
  }
}
