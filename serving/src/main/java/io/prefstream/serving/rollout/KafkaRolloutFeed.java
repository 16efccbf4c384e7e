package io.prefstream.serving.rollout;

import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.schemas.serde.AvroSerdes;
import io.prefstream.schemas.topic.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The rollout feed on Kafka. One consumer thread reads prefstream.policy-updates and the compacted
 * prefstream.rollout from the beginning with manual assignment (no consumer group: every replica
 * must see every record, and the compacted topic holds the last state per policy), decoding Avro
 * single-object records and handing them to the listener in order. Undecodable records are logged
 * and skipped, since a replica must not stop serving over one bad record. Rollout states are written
 * with compare-and-set by a {@link KafkaRolloutWriter} (transactional, fenced); control commands
 * and updates go through one idempotent producer (acks=all) keyed by policy id.
 */
public final class KafkaRolloutFeed implements RolloutFeed {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaRolloutFeed.class);
  private static final Serde<PolicyUpdate> UPDATES = AvroSerdes.singleObject(PolicyUpdate.class);
  private static final Serde<RolloutState> STATES = AvroSerdes.singleObject(RolloutState.class);
  private static final Serde<ControlCommand> CONTROL = AvroSerdes.singleObject(ControlCommand.class);
  /** A rollout write gives up after this, before a replica's 10 s admin wait would. */
  private static final Duration WRITE_BUDGET = Duration.ofSeconds(8);
  /** The transactional id every replica's rollout writer shares (fencing is the compare-and-set). */
  public static final String WRITER_TRANSACTIONAL_ID = KafkaRolloutWriter.TRANSACTIONAL_ID;

  private final Map<String, Object> clientConfig;
  private final String bootstrapServers;
  private final String clientId;
  private final KafkaProducer<String, byte[]> producer;
  private final AtomicBoolean running = new AtomicBoolean();
  private KafkaConsumer<byte[], byte[]> consumer;
  private Thread thread;
  private KafkaRolloutWriter writer;
  private boolean closed;

  public KafkaRolloutFeed(String bootstrapServers, String clientId) {
    this(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers), clientId);
  }

  /**
   * @param clientConfig {@code bootstrap.servers} and any other client settings (security), given
   *     to every client of the feed and of its rollout writer
   */
  public KafkaRolloutFeed(Map<String, Object> clientConfig, String clientId) {
    this.clientConfig = Map.copyOf(clientConfig);
    this.bootstrapServers = String.valueOf(clientConfig.get(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG));
    this.clientId = clientId;
    Map<String, Object> p = new HashMap<>(this.clientConfig);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId + "-producer");
    producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  @Override
  public synchronized void start(Listener listener) {
    if (!running.compareAndSet(false, true)) throw new IllegalStateException("the feed is already started");
    Map<String, Object> c = new HashMap<>(clientConfig);
    c.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId + "-consumer");
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    // Read only committed records: the learner may publish updates transactionally.
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 50);
    consumer = new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    List<TopicPartition> rollout = partitions(Topics.ROLLOUT);
    List<TopicPartition> updates = partitions(Topics.POLICY_UPDATES);
    // The desired states first, up to their end: a replica replaying old updates must know the
    // current mode and stable version before it judges them, or it could auto-promote past an
    // operator's rollback.
    consumer.assign(rollout);
    consumer.seekToBeginning(rollout);
    Map<TopicPartition, Long> end = consumer.endOffsets(rollout, Duration.ofSeconds(30));
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (rollout.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("could not read " + Topics.ROLLOUT + " to its end within 60 s at " + bootstrapServers);
      }
      deliver(consumer.poll(Duration.ofMillis(200)), listener);
    }
    Map<TopicPartition, Long> positions = new HashMap<>();
    for (TopicPartition tp : rollout) positions.put(tp, consumer.position(tp));
    List<TopicPartition> all = new ArrayList<>(rollout);
    all.addAll(updates);
    consumer.assign(all);
    positions.forEach(consumer::seek);
    consumer.seekToBeginning(updates);
    thread = new Thread(() -> poll(listener), clientId + "-rollout-feed");
    thread.setDaemon(true);
    thread.start();
  }

  private List<TopicPartition> partitions(String topic) {
    List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
    if (infos == null || infos.isEmpty()) {
      throw new IllegalStateException("topic " + topic + " does not exist at " + bootstrapServers
          + "; create the prefstream topics first (the serve command does)");
    }
    List<TopicPartition> parts = new ArrayList<>();
    for (PartitionInfo i : infos) parts.add(new TopicPartition(i.topic(), i.partition()));
    return parts;
  }

  private static void deliver(Iterable<ConsumerRecord<byte[], byte[]>> records, Listener listener) {
    for (ConsumerRecord<byte[], byte[]> r : records) {
      if (r.value() == null) continue; // a tombstone: nothing to apply
      try {
        if (r.topic().equals(Topics.POLICY_UPDATES)) {
          listener.onPolicyUpdate(UPDATES.deserializer().deserialize(r.topic(), r.value()));
        } else {
          listener.onRolloutState(STATES.deserializer().deserialize(r.topic(), r.value()));
        }
      } catch (RuntimeException e) {
        LOG.error("skipping the record at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.toString(), e);
      }
    }
  }

  private void poll(Listener listener) {
    try {
      while (running.get()) {
        try {
          deliver(consumer.poll(Duration.ofMillis(200)), listener);
        } catch (WakeupException e) {
          if (running.get()) throw e;
        } catch (RuntimeException e) {
          // A replica keeps serving what it has; it retries the feed rather than dying with it.
          LOG.error("reading the rollout feed failed; retrying in 1 s", e);
          java.util.concurrent.locks.LockSupport.parkNanos(1_000_000_000L);
        }
      }
    } finally {
      consumer.close();
    }
  }

  /** Compare-and-set through the {@link KafkaRolloutWriter} (created on first use). */
  @Override
  public CompletableFuture<ProposalOutcome> propose(RolloutState next) {
    return writer().propose(next);
  }

  private synchronized KafkaRolloutWriter writer() {
    if (closed) throw new IllegalStateException("the rollout feed is closed");
    if (writer == null) writer = new KafkaRolloutWriter(clientConfig, clientId, WRITE_BUDGET);
    return writer;
  }

  @Override
  public CompletableFuture<Void> publishControl(ControlCommand command) {
    return send(Topics.CONTROL, command.getPolicyId(), CONTROL.serializer().serialize(Topics.CONTROL, command));
  }

  /** Publishes an update as the learner does (for tests and tools). */
  public CompletableFuture<Void> publishUpdate(PolicyUpdate update) {
    return send(Topics.POLICY_UPDATES, update.getPolicyId(), UPDATES.serializer().serialize(Topics.POLICY_UPDATES, update));
  }

  private CompletableFuture<Void> send(String topic, String key, byte[] value) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    producer.send(new ProducerRecord<>(topic, key, value), (md, err) -> {
      if (err != null) done.completeExceptionally(err);
      else done.complete(null);
    });
    return done;
  }

  @Override
  public void close() {
    KafkaRolloutWriter w;
    synchronized (this) {
      closed = true;
      w = writer;
    }
    if (w != null) w.close();
    boolean wasRunning = running.getAndSet(false);
    if (wasRunning && consumer != null) {
      consumer.wakeup();
      try {
        thread.join(10_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    producer.close(Duration.ofSeconds(5));
  }
}
