package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferenceEvent;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.statistics.Statistics;
import org.apache.avro.Schema;

/**
 * Randomly damaged messages either still decode or fail with a {@link DecodeException}; no other
 * exception (NPE, index out of bounds, Avro's runtime exceptions, out-of-memory) ever escapes.
 */
class MutatedInputTest {
  private final PreferenceEventDecoder decoder = new PreferenceEventDecoder();
  private final SingleObjectCodec<MicroBatch> batches = new SingleObjectCodec<>(MicroBatch.class);

  @Provide
  Arbitrary<PreferenceEvent> events() {
    return RandomRecords.of(PreferenceEvent.class);
  }

  @Provide
  Arbitrary<MicroBatch> microBatches() {
    return RandomRecords.of(MicroBatch.class);
  }

  @Property(tries = 300)
  void damagedEventsFailOnlyWithDecodeException(@ForAll("events") PreferenceEvent event, @ForAll long seed) {
    Random r = new Random(seed);
    for (byte[] valid : List.of(new SingleObjectCodec<>(PreferenceEvent.class).encode(event), PreferenceEventJson.write(event))) {
      byte[] damaged = damage(valid, r);
      try {
        decoder.decode(damaged);
        Statistics.label("outcome").collect("decoded");
      } catch (DecodeException e) {
        Statistics.label("outcome").collect(e.encoding() + " " + e.reason());
        assertThat(e.getMessage()).contains("expected");
      }
    }
  }

  /** A writer that added fields of every type, so damage also lands in the fields resolution skips. */
  private static final Schema EVOLVED = WriterSchemas.withField(
      WriterSchemas.withField(PreferenceEvent.getClassSchema(), 1, WriterSchemas.DEVICE_FIELD), 7,
      "{\"name\":\"client\",\"type\":\"string\",\"default\":\"\"}");
  private final AvroBodyReader<PreferenceEvent> resolving = new AvroBodyReader<>(PreferenceEvent.class);

  @Property(tries = 200)
  void damagedEventsFromAnEvolvedWriterFailOnlyWithDecodeException(@ForAll("events") PreferenceEvent event, @ForAll long seed) {
    byte[] valid = WriterSchemas.body(event, EVOLVED, Map.of("device", WriterSchemas.device(EVOLVED), "client", "web"));
    assertThat(resolving.read(Encoding.CONFLUENT, EVOLVED, "schema id 1", valid, 0, valid.length)).isEqualTo(event);
    byte[] damaged = damage(valid, new Random(seed));
    try {
      resolving.read(Encoding.CONFLUENT, EVOLVED, "schema id 1", damaged, 0, damaged.length);
      Statistics.label("outcome").collect("decoded");
    } catch (DecodeException e) {
      Statistics.label("outcome").collect(e.reason());
      assertThat(e.getMessage()).contains("schema id 1", "expected");
    }
  }

  @Property(tries = 200)
  void damagedBatchesFailOnlyWithDecodeException(@ForAll("microBatches") MicroBatch batch, @ForAll long seed) {
    Random r = new Random(seed);
    byte[] damaged = damage(batches.encode(batch), r);
    // Keep the header so the damage reaches the Avro body most of the time.
    System.arraycopy(batches.encode(batch), 0, damaged, 0, Math.min(10, damaged.length));
    try {
      batches.decode(damaged);
      Statistics.label("outcome").collect("decoded");
    } catch (DecodeException e) {
      Statistics.label("outcome").collect(e.reason());
      assertThat(e.encoding()).isEqualTo(Encoding.SINGLE_OBJECT);
    }
  }

  /** Flips, overwrites, deletes or inserts a few bytes, or cuts the message short. */
  private static byte[] damage(byte[] valid, Random r) {
    byte[] b = valid.clone();
    int edits = 1 + r.nextInt(3);
    for (int i = 0; i < edits && b.length > 1; i++) {
      // Spare the first byte most of the time so that damage reaches past the encoding detection.
      int at = 1 + r.nextInt(b.length - 1);
      switch (r.nextInt(5)) {
        case 0 -> b[at] ^= (byte) (1 << r.nextInt(8));
        case 1 -> b[at] = (byte) r.nextInt(256);
        case 2 -> b = Arrays.copyOf(b, at);
        case 3 -> {
          byte[] longer = new byte[b.length + 1];
          System.arraycopy(b, 0, longer, 0, at);
          longer[at] = (byte) r.nextInt(256);
          System.arraycopy(b, at, longer, at + 1, b.length - at);
          b = longer;
        }
        default -> {
          byte[] shorter = new byte[b.length - 1];
          System.arraycopy(b, 0, shorter, 0, at);
          System.arraycopy(b, at + 1, shorter, at, b.length - at - 1);
          b = shorter;
        }
      }
    }
    return b;
  }
}
