package io.prefstream.learner.loop;

import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The learner's two inputs, the policy's partition of {@code prefstream.batches} and of
 * {@code prefstream.control} (both keyed by policy), each read by its own consumer from the offsets a
 * checkpoint stored (or from the beginning), and the next offset of each: what the next checkpoint
 * records. An offset moves only when the learner says a
 * record is {@link #consumed}, so a checkpoint taken between two commands of one poll records the
 * first as done and the second as not. One batch per poll, so a command read between two batches
 * takes effect before the next one. Owned by the learner's thread.
 */
final class InputLog implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(InputLog.class);

  private final LearnerConfig config;
  private final KafkaConsumer<String, byte[]> batches;
  private final KafkaConsumer<String, byte[]> control;
  private final Map<TopicPartition, Long> next = new LinkedHashMap<>();

  /** Opens both consumers and seeks every partition to {@code saved} (a checkpoint's offsets) or its beginning. */
  InputLog(LearnerConfig config, Map<String, Long> saved) {
    this.config = config;
    KafkaConsumer<String, byte[]> b = null, c = null;
    try {
      b = LearnerClients.consumer(config, "prefstream-learner-" + config.policyId(), 1);
      c = LearnerClients.consumer(config, null, 500);
      // Batches and commands are keyed by policy: this policy's are in one partition of each topic.
      seek(b, List.of(LearnerClients.policyPartition(b, config.batchesTopic(), config.policyId())), saved);
      seek(c, List.of(LearnerClients.policyPartition(c, config.controlTopic(), config.policyId())), saved);
    } catch (RuntimeException e) {
      if (b != null) b.close(Duration.ZERO);
      if (c != null) c.close(Duration.ZERO);
      throw e;
    }
    batches = b;
    control = c;
  }

  private void seek(KafkaConsumer<String, byte[]> c, List<TopicPartition> tps, Map<String, Long> saved) {
    c.assign(tps);
    Map<TopicPartition, Long> begin = c.beginningOffsets(tps);
    for (TopicPartition tp : tps) {
      Long at = saved.get(LearnerClients.key(tp));
      long pos = at == null ? begin.get(tp) : Math.max(at, begin.get(tp));
      if (at != null && at < begin.get(tp)) {
        log.warn("{}: checkpoint offset {} is before the log start {} (retention); records in between are lost",
            tp, at, begin.get(tp));
      }
      c.seek(tp, pos);
      next.put(tp, pos);
    }
  }

  ConsumerRecords<String, byte[]> pollBatches(Duration timeout) {
    return batches.poll(timeout);
  }

  ConsumerRecords<String, byte[]> pollControl(Duration timeout) {
    return control.poll(timeout);
  }

  /** The learner is done with {@code r}: the next checkpoint starts after it. */
  void consumed(ConsumerRecord<?, ?> r) {
    next.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
  }

  /** The next offset of every input partition, keyed as {@code trainer_state.json} keys them. */
  Map<String, Long> offsets() {
    Map<String, Long> out = new LinkedHashMap<>();
    next.forEach((tp, o) -> out.put(LearnerClients.key(tp), o));
    return out;
  }

  /** The next offset of each batches partition. */
  Map<String, Long> batchPositions() {
    Map<String, Long> out = new LinkedHashMap<>();
    next.forEach((tp, o) -> {
      if (tp.topic().equals(config.batchesTopic())) out.put(LearnerClients.key(tp), o);
    });
    return out;
  }

  /**
   * Whether every batch committed to the batches topic so far has been read: each partition's next
   * offset is at its end (the last stable offset, as the learner reads committed records only). A
   * replay after a crash is never caught up before it has re-read every batch the crashed run read,
   * since those are still in the log; a broker that does not answer in time counts as not caught up.
   */
  boolean caughtUp() {
    Map<TopicPartition, Long> end;
    try {
      end = batches.endOffsets(batches.assignment(), Duration.ofSeconds(5));
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      log.warn("end offsets of {} unknown ({}); a time-due checkpoint waits", config.batchesTopic(), e.getMessage());
      return false;
    }
    for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
      if (batches.position(e.getKey()) < e.getValue()) return false;
    }
    return true;
  }

  /** Commits the batches offsets of a checkpoint to the learner's group, for lag monitoring only. */
  void commitForMonitoring(Map<String, Long> offsets) {
    Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
    for (TopicPartition tp : batches.assignment()) {
      Long o = offsets.get(LearnerClients.key(tp));
      if (o != null) commit.put(tp, new OffsetAndMetadata(o));
    }
    try {
      batches.commitSync(commit);
    } catch (KafkaException e) {
      // Lag monitoring only: the offsets that count are inside the checkpoint.
      log.warn("could not commit offsets for monitoring: {}", e.getMessage());
    }
  }

  @Override
  public void close() {
    try {
      control.close(Duration.ofSeconds(5));
    } finally {
      batches.close(Duration.ofSeconds(5));
    }
  }
}
