package io.prefstream.learner.loop;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Learner instances as one Kafka consumer group ({@code prefstream learn --fleet}): the group spreads
 * the partitions of {@code prefstream.batches} over the instances, and each instance trains every
 * policy whose batches are in its partitions, one {@link Learner} per policy (own adapter, optimiser
 * state, reference pin, checkpoint lineage and transactional id), on one base model in memory.
 *
 * <p>The group consumer here only decides ownership and finds the policies: it reads the keys
 * (policy ids) of its partitions from their beginning and starts a learner for each new one; the
 * learners read their batches themselves, from their checkpoint's offsets. When a partition moves
 * (another instance joined, left or died), its learners are closed without a checkpoint and the new
 * owner starts them from the last checkpoint: what they replay is computed bit for bit as before
 * ({@code ExactlyOnceLearnerTest}), so exactly-once holds across the move. An owner that is presumed
 * dead but still runs is fenced: the new owner's transactional producer (id
 * {@code prefstream-learner-<policy>}) fences its PolicyUpdates, and the checkpoint store refuses a
 * version that is not above every existing one. The cost of a move is the consumer session timeout
 * (for a crash; a clean leave is immediate) plus the restore and the replay since the last
 * checkpoint. Tested by {@code LearnerFleetTest} (an instance killed with SIGKILL; every policy's
 * final adapter equals a single uninterrupted learner's, bit for bit).
 *
 * <p>Owned by one thread: {@link #run} / {@link #runOnce} and {@link #close} from the same one;
 * the policies' learners take turns on it, one batch each.
 */
public final class LearnerFleet implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(LearnerFleet.class);
  public static final String DEFAULT_GROUP = "prefstream-learners";
  /** After a policy's learner failed to start (e.g. its old owner still holds its lock), wait this long. */
  private static final Duration RETRY = Duration.ofSeconds(5);

  /** Starts the learner of one policy (the CLI builds its session and configuration). */
  @FunctionalInterface
  public interface Starter {
    Learner start(String policyId) throws IOException;
  }

  private final String batchesTopic;
  private final Starter starter;
  private final KafkaConsumer<String, byte[]> group;
  private final Set<TopicPartition> owned = new LinkedHashSet<>();
  private final Map<String, TopicPartition> known = new HashMap<>();
  private final Map<String, Learner> running = new LinkedHashMap<>();
  private final Map<String, Long> retryAt = new HashMap<>();
  private final Counter moves;

  /**
   * @param clientConfig bootstrap servers and client settings (security); the group settings are added
   * @param sessionTimeout how long the group waits for a silent instance before moving its partitions
   */
  public LearnerFleet(Map<String, Object> clientConfig, String groupId, String batchesTopic, Duration sessionTimeout,
      Starter starter, PrometheusRegistry registry) {
    this.batchesTopic = batchesTopic;
    this.starter = starter;
    Map<String, Object> c = new HashMap<>(clientConfig);
    c.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    c.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, (int) sessionTimeout.toMillis());
    c.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, (int) Math.max(100, sessionTimeout.toMillis() / 3));
    // Partitions that stay put keep their learners running through a rebalance.
    c.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
    group = new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer());
    group.subscribe(List.of(batchesTopic), new ConsumerRebalanceListener() {
      @Override
      public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        release(partitions, "revoked");
      }

      @Override
      public void onPartitionsLost(Collection<TopicPartition> partitions) {
        release(partitions, "lost");
      }

      @Override
      public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        owned.addAll(partitions);
        if (!partitions.isEmpty()) {
          log.info("learner fleet: now owns {}", new TreeSet<>(partitions.stream().map(TopicPartition::partition).toList()));
          group.seekToBeginning(partitions); // find every policy these partitions hold
        }
      }
    });
    moves = Counter.builder().name("prefstream_learner_fleet_policy_moves")
        .help("Policies this instance stopped training because their partition moved to another instance, or started after one moved here")
        .labelNames("direction").register(registry);
    GaugeWithCallback.builder().name("prefstream_learner_fleet_policies").help("Policies this instance trains now")
        .callback(cb -> cb.call(running.size())).register(registry);
  }

  private void release(Collection<TopicPartition> partitions, String how) {
    owned.removeAll(partitions);
    for (var it = running.entrySet().iterator(); it.hasNext(); ) {
      var e = it.next();
      if (!partitions.contains(known.get(e.getKey()))) continue;
      log.info("learner fleet: policy {} {} with its partition; the next owner resumes from its last checkpoint", e.getKey(), how);
      e.getValue().close(); // no checkpoint: the next owner replays from the last one, bit for bit
      it.remove();
      moves.labelValues("out").inc();
    }
  }

  /** Policies this instance trains now, in the order they started. */
  public Set<String> policies() {
    return java.util.Collections.unmodifiableSet(running.keySet());
  }

  /** The learner of {@code policy} if this instance trains it. */
  public Learner learner(String policy) {
    return running.get(policy);
  }

  /**
   * One turn: reads the group (ownership, new policies), starts the learners of newly found policies
   * of owned partitions, then gives each running learner one {@link Learner#runOnce}. Returns the
   * batches read by all learners.
   */
  public int runOnce() throws IOException {
    for (ConsumerRecord<String, byte[]> r : group.poll(Duration.ofMillis(running.isEmpty() ? 200 : 0))) {
      if (r.key() != null) known.putIfAbsent(r.key(), new TopicPartition(r.topic(), r.partition()));
    }
    long now = System.nanoTime();
    for (Map.Entry<String, TopicPartition> e : known.entrySet()) {
      String policy = e.getKey();
      if (running.containsKey(policy) || !owned.contains(e.getValue()) || retryAt.getOrDefault(policy, now) > now) continue;
      try {
        Learner l = starter.start(policy);
        running.put(policy, l);
        retryAt.remove(policy);
        moves.labelValues("in").inc();
        log.info("learner fleet: training policy {} from v{}", policy, l.version());
      } catch (IOException | RuntimeException ex) {
        log.warn("learner fleet: could not start policy {} (retrying in {} s): {}", policy, RETRY.toSeconds(), ex.toString());
        retryAt.put(policy, now + RETRY.toNanos());
      }
    }
    int n = 0;
    for (Learner l : List.copyOf(running.values())) n += l.runOnce();
    return n;
  }

  /** Runs until {@code stop}, then checkpoints every policy with pending steps (as {@link Learner#run}). */
  public void run(BooleanSupplier stop) throws IOException {
    while (!stop.getAsBoolean()) runOnce();
    for (Learner l : running.values()) l.checkpointIfPending();
  }

  @Override
  public void close() {
    for (Learner l : running.values()) l.close();
    running.clear();
    group.close(Duration.ofSeconds(5));
  }
}
