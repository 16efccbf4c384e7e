package io.prefstream.ingest.topology;

import io.prefstream.ingest.metrics.IngestMetrics;
import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.DeadLetterReason;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.serde.DecodeException;
import io.prefstream.schemas.serde.PreferenceEventDecoder;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.Optional;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * First step: raw bytes from {@code prefstream.events} to a checked event. Decoding happens here
 * rather than in a serde so that bytes which do not parse become dead letters (with the original
 * key and value and their topic, partition and offset) instead of stopping the stream. A decoded
 * event then passes {@link EventValidator}; accepted events are re-keyed by {@link PromptKey} so
 * the repartition after this step brings a prompt's thumbs together. A schema registry outage is
 * not the data's fault: it is thrown, so the task stops uncommitted and retries after the thread is
 * replaced, rather than dead-lettering good events.
 */
final class DecodeValidateProcessor implements Processor<byte[], byte[], String, Checked> {
  private static final Logger LOG = LoggerFactory.getLogger(DecodeValidateProcessor.class);
  /** Half of Kafka's default 1 MiB message limit, leaving room for the key and the other fields. */
  static final int MAX_ORIGINAL_VALUE_BYTES = 512 * 1024;

  private final PreferenceEventDecoder decoder;
  private final EventValidator validator;
  private final IngestMetrics metrics;
  private ProcessorContext<String, Checked> context;

  DecodeValidateProcessor(PreferenceEventDecoder decoder, EventValidator validator, IngestMetrics metrics) {
    this.decoder = decoder;
    this.validator = validator;
    this.metrics = metrics;
  }

  @Override
  public void init(ProcessorContext<String, Checked> context) {
    this.context = context;
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    metrics.eventIn();
    PreferenceEvent event;
    try {
      event = decoder.decode(record.value());
    } catch (DecodeException e) {
      if (!e.reason().isDataError()) throw e;
      reject(record, e.reason().toDeadLetterReason(), e.getMessage(), e.eventId().orElse(null), null);
      return;
    }
    Optional<EventValidator.Violation> violation = validator.check(event, context.currentSystemTimeMs());
    if (violation.isPresent()) {
      reject(record, violation.get().reason(), violation.get().message(), event.getEventId(), event.getPolicyId());
      return;
    }
    String key = PromptKey.of(event.getPolicyId(), event.getPrompt());
    context.forward(new Record<>(key, new Checked.Accepted(event), record.timestamp()));
  }

  private void reject(Record<byte[], byte[]> record, DeadLetterReason reason, String message, String eventId,
      String policyId) {
    metrics.invalid(reason);
    byte[] value = record.value();
    if (value != null && value.length > MAX_ORIGINAL_VALUE_BYTES) {
      // A dead letter must fit in one Kafka message next to the key and our fields; one that did
      // not would stop the stream (the producer refuses it), so a huge original keeps its head only.
      message = message + " (original_value holds the first " + MAX_ORIGINAL_VALUE_BYTES + " of " + value.length
          + " bytes)";
      value = java.util.Arrays.copyOf(value, MAX_ORIGINAL_VALUE_BYTES);
    }
    Optional<RecordMetadata> source = context.recordMetadata();
    DeadLetter letter = DeadLetter.newBuilder()
        .setReason(reason)
        .setMessage(message)
        .setOriginalKey(record.key() == null ? null : ByteBuffer.wrap(record.key()))
        .setOriginalValue(value == null ? null : ByteBuffer.wrap(value))
        .setSourceTopic(source.map(RecordMetadata::topic).orElse("unknown"))
        .setSourcePartition(source.map(RecordMetadata::partition).orElse(-1))
        .setSourceOffset(source.map(RecordMetadata::offset).orElse(-1L))
        .setEventId(eventId)
        .setFailedAt(Instant.ofEpochMilli(context.currentSystemTimeMs()))
        .build();
    LOG.debug("dead-lettering {}-{}@{}: {}", letter.getSourceTopic(), letter.getSourcePartition(),
        letter.getSourceOffset(), message);
    // Keyed by policy id like every prefstream topic when the event said which; null when unreadable.
    // A policy id that failed its pattern is not used as a key (it may be huge or hostile).
    String key = reason == DeadLetterReason.BAD_POLICY_ID ? null : policyId;
    context.forward(new Record<>(key, new Checked.Rejected(letter), record.timestamp()));
  }
}
