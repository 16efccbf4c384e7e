package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.RolloutAuthor;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.schemas.topic.Topics;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Instant;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/**
 * A rollout state written by a replica before states carried revisions (v1) still decodes from
 * prefstream.rollout, as revision 0 with no base and an unknown author.
 */
class RolloutStateHistoryTest {
  @Test
  void aV1StateDecodesAsAnUnrevisedStateOfUnknownAuthor() throws IOException {
    List<Schema> history = KnownSchemas.history(RolloutState.getClassSchema().getFullName());
    assertThat(history).hasSize(1);
    Schema v1 = history.getFirst();
    assertThat(v1.getField("revision")).isNull();

    GenericRecord old = new GenericData.Record(v1);
    old.put("policy_id", "p");
    old.put("mode", new GenericData.EnumSymbol(v1.getField("mode").schema(), "MANUAL"));
    old.put("stable_version", 3L);
    old.put("canary_percent", 0.0);
    old.put("updated_by", "op");
    old.put("updated_at", 1_700_000_000_000L);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(SingleObjectCodec.header(KnownSchemas.fingerprint(v1)));
    out.writeBytes(SchemaEvolutionTest.avroBody(old));

    RolloutState s = AvroSerdes.singleObject(RolloutState.class).deserializer().deserialize(Topics.ROLLOUT, out.toByteArray());
    assertThat(s.getPolicyId()).isEqualTo("p");
    assertThat(s.getMode()).isEqualTo(RolloutMode.MANUAL);
    assertThat(s.getStableVersion()).isEqualTo(3L);
    assertThat(s.getUpdatedAt()).isEqualTo(Instant.ofEpochMilli(1_700_000_000_000L));
    assertThat(s.getRevision()).isZero();
    assertThat(s.getBaseRevision()).isNull();
    assertThat(s.getAuthor()).isEqualTo(RolloutAuthor.UNKNOWN);
  }
}
