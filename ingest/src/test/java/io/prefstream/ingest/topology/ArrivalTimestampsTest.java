package io.prefstream.ingest.topology;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

class ArrivalTimestampsTest {
  private static ConsumerRecord<Object, Object> recordAt(long timestamp) {
    return new ConsumerRecord<>("prefstream.events", 0, 0L, timestamp, TimestampType.CREATE_TIME, 0, 0, null,
        new byte[0], new RecordHeaders(), Optional.empty());
  }

  @Test
  void usesTheRecordTimestampWhenThereIsOne() {
    assertThat(new ArrivalTimestamps().extract(recordAt(1234), 99)).isEqualTo(1234);
  }

  @Test
  void aMissingTimestampTakesThePartitionTimeRatherThanStoppingTheStream() {
    assertThat(new ArrivalTimestamps().extract(recordAt(-1), 99)).isEqualTo(99);
  }

  @Test
  void withNoPartitionTimeYetItTakesTheWallClock() {
    long before = System.currentTimeMillis();
    assertThat(new ArrivalTimestamps().extract(recordAt(-1), -1)).isBetween(before, System.currentTimeMillis());
  }
}
