package io.prefstream.learner.loop;

import io.prefstream.learner.eval.HeldOutEvaluator;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.TrainingBatch;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * The most recent held-out pairs of one policy from {@code prefstream.eval} (at most
 * {@code evalMaxPairs}; at start the last {@code evalLookbackRecords} records of each partition),
 * scored at each update by {@link HeldOutEvaluator}. Evaluation only reports: it never changes
 * weights, so it plays no part in what a replay computes. Owned by the learner's thread.
 */
final class HeldOutFeed implements AutoCloseable {
  private final LearnerConfig config;
  private final KafkaConsumer<String, byte[]> eval;
  private final Deque<TrainingBatch.Pair> pairs = new ArrayDeque<>();

  HeldOutFeed(LearnerConfig config) {
    this.config = config;
    this.eval = LearnerClients.consumer(config, null, 500);
    try {
      List<TopicPartition> tps = LearnerClients.partitions(eval, config.evalTopic());
      eval.assign(tps);
      Map<TopicPartition, Long> begin = eval.beginningOffsets(tps);
      Map<TopicPartition, Long> end = eval.endOffsets(tps);
      for (TopicPartition tp : tps) {
        eval.seek(tp, Math.max(begin.get(tp), end.get(tp) - config.evalLookbackRecords()));
      }
    } catch (RuntimeException e) {
      eval.close(Duration.ZERO);
      throw e;
    }
  }

  /** Reads the pairs published since the last call and scores the most recent ones (empty when none or off). */
  Map<String, Double> evaluate(DpoTrainer trainer) {
    if (config.evalMaxPairs() == 0) return Map.of();
    Map<TopicPartition, Long> end = eval.endOffsets(eval.assignment());
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (end.entrySet().stream().anyMatch(e -> eval.position(e.getKey()) < e.getValue())
        && System.nanoTime() < deadline) {
      for (ConsumerRecord<String, byte[]> r : eval.poll(Duration.ofMillis(100))) {
        if (!config.policyId().equals(r.key()) || r.value() == null) continue;
        for (TrainingBatch.Pair p : EvalRecords.pairs(r.value(), config.policyId())) {
          pairs.addLast(p);
          while (pairs.size() > config.evalMaxPairs()) pairs.removeFirst();
        }
      }
    }
    if (pairs.isEmpty()) return Map.of();
    return HeldOutEvaluator.evaluate(trainer, List.copyOf(pairs));
  }

  @Override
  public void close() {
    eval.close(Duration.ofSeconds(5));
  }
}
