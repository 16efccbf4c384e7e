package io.prefstream.ingest.topology;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * Record time for {@code prefstream.events}: the record's own timestamp (producer create time, or
 * log append time), and when that is missing (negative: old clients, hand-made records) the
 * partition's time so far, else the wall clock. Kafka's default extractor would stop the stream on
 * such a record, and the skipping one would drop it silently; an event with a bad record timestamp
 * is still an event. (The event's own {@code timestamp} field is validated separately.)
 */
final class ArrivalTimestamps implements TimestampExtractor {
  @Override
  public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
    if (record.timestamp() >= 0) return record.timestamp();
    return partitionTime >= 0 ? partitionTime : System.currentTimeMillis();
  }
}
