package io.prefstream.schemas.serde;

import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;

/**
 * Random instances of any generated record, driven by its schema, so a field added later is covered
 * without touching the tests. Strings mix empty, ASCII, control characters, CJK, combining marks and
 * supplementary code points (emoji: surrogate pairs in Java); nullable fields are null a third of the
 * time; maps and arrays are often empty.
 */
final class RandomRecords {
  private RandomRecords() {}

  private static final int[][] CODE_POINT_RANGES = {
      {0x20, 0x7e}, {0x00, 0x1f}, {0xa0, 0x24f}, {0x300, 0x36f}, {0x4e00, 0x9fff}, {0x1f300, 0x1f64f},
      {0x1f900, 0x1f9ff}, {0x10000, 0x10ffff}, {0xe000, 0xfffd}};

  static <T extends SpecificRecord> Arbitrary<T> of(Class<T> type) {
    Schema schema = KnownSchemas.current(type);
    SpecificData model = SpecificData.getForClass(type);
    return Arbitraries.randomValue(r -> type.cast(value(schema, r, model, 24)));
  }

  /** A string of {@code length} code points from all the ranges above (never a lone surrogate). */
  static String string(Random r, int length) {
    StringBuilder sb = new StringBuilder(length);
    int[] range = CODE_POINT_RANGES[r.nextInt(CODE_POINT_RANGES.length)];
    for (int i = 0; i < length; i++) {
      // Mostly stay in one script, sometimes switch, as real text does.
      if (r.nextInt(8) == 0) range = CODE_POINT_RANGES[r.nextInt(CODE_POINT_RANGES.length)];
      sb.appendCodePoint(range[0] + r.nextInt(range[1] - range[0] + 1));
    }
    return sb.toString();
  }

  static String string(Random r, Schema ignored, int maxLength) {
    return switch (r.nextInt(6)) {
      case 0 -> "";
      case 1 -> "x".repeat(r.nextInt(3));
      default -> string(r, r.nextInt(maxLength + 1));
    };
  }

  static Object value(Schema s, Random r, SpecificData model, int maxLength) {
    return switch (s.getType()) {
      case RECORD -> {
        Object record = model.newRecord(null, s);
        for (Schema.Field f : s.getFields()) model.setField(record, f.name(), f.pos(), value(f.schema(), r, model, maxLength));
        yield record;
      }
      case UNION -> {
        List<Schema> branches = s.getTypes();
        boolean nullable = branches.stream().anyMatch(b -> b.getType() == Schema.Type.NULL);
        if (nullable && r.nextInt(3) == 0) yield null;
        List<Schema> nonNull = branches.stream().filter(b -> b.getType() != Schema.Type.NULL).toList();
        yield value(nonNull.get(r.nextInt(nonNull.size())), r, model, maxLength);
      }
      case ENUM -> model.createEnum(s.getEnumSymbols().get(r.nextInt(s.getEnumSymbols().size())), s);
      case ARRAY -> {
        int n = r.nextInt(3) == 0 ? 0 : r.nextInt(5);
        List<Object> list = new ArrayList<>(n);
        for (int i = 0; i < n; i++) list.add(value(s.getElementType(), r, model, maxLength));
        yield list;
      }
      case MAP -> {
        int n = r.nextInt(3) == 0 ? 0 : r.nextInt(5);
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) map.put(string(r, s, 12), value(s.getValueType(), r, model, maxLength));
        yield map;
      }
      case STRING -> string(r, s, maxLength);
      case BYTES -> {
        byte[] b = new byte[r.nextInt(40)];
        r.nextBytes(b);
        yield ByteBuffer.wrap(b);
      }
      case FIXED -> {
        byte[] b = new byte[s.getFixedSize()];
        r.nextBytes(b);
        yield model.createFixed(null, b, s);
      }
      case INT -> switch (r.nextInt(4)) {
        case 0 -> 0;
        case 1 -> r.nextBoolean() ? Integer.MAX_VALUE : Integer.MIN_VALUE;
        default -> r.nextInt();
      };
      case LONG -> s.getLogicalType() instanceof LogicalTypes.TimestampMillis
          // From 1900 to 2200, at millisecond precision like the Avro field.
          ? Instant.ofEpochMilli(-2_208_988_800_000L + (long) (r.nextDouble() * 9_467_020_800_000L))
          : switch (r.nextInt(4)) {
            case 0 -> 0L;
            case 1 -> r.nextBoolean() ? Long.MAX_VALUE : Long.MIN_VALUE;
            default -> r.nextLong();
          };
      case FLOAT -> (float) r.nextGaussian();
      // No NaN: Avro's record equality compares doubles with ==, so NaN would never equal itself.
      case DOUBLE -> switch (r.nextInt(8)) {
        case 0 -> Double.POSITIVE_INFINITY;
        case 1 -> Double.NEGATIVE_INFINITY;
        case 2 -> -0.0;
        default -> r.nextGaussian() * 1e3;
      };
      case BOOLEAN -> r.nextBoolean();
      case NULL -> null;
    };
  }
}
