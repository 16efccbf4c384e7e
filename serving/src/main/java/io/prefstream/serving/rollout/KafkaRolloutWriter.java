package io.prefstream.serving.rollout;

import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.schemas.serde.AvroSerdes;
import io.prefstream.schemas.topic.Topics;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.InvalidTxnStateException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes rollout states to prefstream.rollout with compare-and-set. Kafka has no conditional write,
 * so this one is built from transactional-producer fencing: the writers of all replicas share one
 * transactional id ({@value #TRANSACTIONAL_ID}), and starting a session with it
 * ({@code initTransactions}) fences every other writer and aborts any transaction it left open. A
 * proposal (1) starts a session, (2) reads the topic up to its last stable offset, which then holds
 * every state any writer committed, (3) compares the proposal's base revision with the policy's
 * current one ({@link RolloutChain#canWrite}) and (4) only then writes and commits. A writer fenced
 * between (1) and (4) commits nothing and starts over. So no state can be committed between a
 * writer's read and its commit: only states that follow the chain reach the topic, and compaction
 * (which keeps the last record per policy) always keeps an accepted one. Since one transactional id
 * serves all policies, no other rollout transaction can hold the last stable offset back in (2).
 *
 * <p>One thread owns the producer and the consumer; proposals run in order, each within a time
 * budget counted from when it was asked for. Tested over a real broker in {@code RolloutRaceTest}.
 */
final class KafkaRolloutWriter implements AutoCloseable {
  static final String TRANSACTIONAL_ID = "prefstream-rollout-writer";
  private static final Logger LOG = LoggerFactory.getLogger(KafkaRolloutWriter.class);
  private static final Serde<RolloutState> STATES = AvroSerdes.singleObject(RolloutState.class);

  private final Map<String, Object> clientConfig;
  private final String bootstrapServers;
  private final String clientId;
  private final Duration budget;
  private final ExecutorService owner;
  // Owned by the writer thread.
  private KafkaConsumer<byte[], byte[]> consumer;
  private List<TopicPartition> partitions;
  private final Map<String, RolloutState> current = new HashMap<>();

  /** @param budget how long one proposal may take, all attempts together */
  /** @param clientConfig {@code bootstrap.servers} and any other client settings (security) */
  KafkaRolloutWriter(Map<String, Object> clientConfig, String clientId, Duration budget) {
    this.clientConfig = Map.copyOf(clientConfig);
    this.bootstrapServers = String.valueOf(clientConfig.get(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG));
    this.clientId = clientId;
    this.budget = budget;
    this.owner = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, clientId + "-rollout-writer");
      t.setDaemon(true);
      return t;
    });
  }

  CompletableFuture<ProposalOutcome> propose(RolloutState next) {
    CompletableFuture<ProposalOutcome> done = new CompletableFuture<>();
    long deadline = System.nanoTime() + budget.toNanos();
    try {
      owner.execute(() -> {
        try {
          done.complete(proposeNow(next, deadline));
        } catch (RuntimeException e) {
          done.completeExceptionally(e);
        }
      });
    } catch (RejectedExecutionException e) {
      done.completeExceptionally(new IllegalStateException("the rollout writer is closed", e));
    }
    return done;
  }

  private ProposalOutcome proposeNow(RolloutState next, long deadline) {
    String policy = next.getPolicyId();
    RuntimeException last = null;
    for (int attempt = 1; System.nanoTime() < deadline; attempt++) {
      KafkaProducer<String, byte[]> producer = newProducer(deadline);
      boolean open = false;
      try {
        producer.initTransactions(); // fences every other writer and aborts what it left open
        catchUp(deadline);
        RolloutState cur = current.get(policy);
        // An earlier attempt's commit may have landed although its answer was lost.
        if (next.equals(cur)) return new ProposalOutcome.Accepted(next);
        if (!RolloutChain.canWrite(cur, next)) return new ProposalOutcome.Stale(next, cur);
        if (System.nanoTime() >= deadline) break;
        producer.beginTransaction();
        open = true;
        producer.send(new ProducerRecord<>(Topics.ROLLOUT, policy, STATES.serializer().serialize(Topics.ROLLOUT, next)));
        producer.commitTransaction();
        open = false;
        return new ProposalOutcome.Accepted(next);
      } catch (ProducerFencedException | InvalidProducerEpochException e) {
        // Another writer started its session after ours, so nothing of ours was committed: read again.
        last = e;
        LOG.debug("policy '{}': rollout writer fenced on attempt {}; reading again", policy, attempt);
      } catch (InvalidTxnStateException e) {
        // Under transactions v2 the coordinator answers INVALID_TXN_STATE (fatal to this producer, so
        // the client logs an ERROR) when a commit races with an abort it made itself (KAFKA-20785):
        // nothing of this transaction was committed. If it was after all, the next read finds it.
        last = e;
        LOG.debug("policy '{}': rollout transaction rejected on attempt {} ({}); reading again", policy, attempt, e.toString());
      } catch (KafkaException e) {
        last = e;
        if (open) abortQuietly(producer);
        LOG.warn("policy '{}': writing the rollout state failed on attempt {} ({}); trying again", policy, attempt, e.toString());
      } finally {
        producer.close(Duration.ofSeconds(1));
      }
      pause(attempt, deadline);
    }
    throw new IllegalStateException("could not write the rollout state of policy '" + policy + "' (revision "
        + next.getRevision() + ") to " + Topics.ROLLOUT + " at " + bootstrapServers + " within " + budget
        + (last == null ? "" : ": " + last), last);
  }

  /** Reads prefstream.rollout up to its last stable offset, keeping each policy's current state. */
  private void catchUp(long deadline) {
    if (consumer == null) {
      Map<String, Object> c = new HashMap<>(clientConfig);
      c.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId + "-rollout-writer-reader");
      c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
      c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      // Committed states only, and endOffsets then answers the last stable offset.
      c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 50);
      KafkaConsumer<byte[], byte[]> k = new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer());
      try {
        partitions = k.partitionsFor(Topics.ROLLOUT, remaining(deadline)).stream()
            .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
        if (partitions.isEmpty()) throw new IllegalStateException("topic " + Topics.ROLLOUT + " does not exist at " + bootstrapServers);
        k.assign(partitions);
        k.seekToBeginning(partitions);
      } catch (RuntimeException e) {
        k.close(Duration.ZERO);
        throw e;
      }
      consumer = k;
    }
    Map<TopicPartition, Long> end = consumer.endOffsets(partitions, remaining(deadline));
    while (partitions.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
      if (System.nanoTime() >= deadline) throw new TimeoutException("could not read " + Topics.ROLLOUT + " to its end in time");
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
        if (r.value() == null) continue;
        RolloutState s;
        try {
          s = STATES.deserializer().deserialize(r.topic(), r.value());
        } catch (RuntimeException e) {
          LOG.error("skipping the record at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.toString());
          continue;
        }
        if (RolloutChain.follows(current.get(s.getPolicyId()), s)) current.put(s.getPolicyId(), s);
      }
    }
  }

  private KafkaProducer<String, byte[]> newProducer(long deadline) {
    Map<String, Object> p = new HashMap<>(clientConfig);
    p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId + "-rollout-writer");
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, TRANSACTIONAL_ID);
    // A writer that dies mid-transaction holds readers back until its transaction times out (or
    // the next writer's session aborts it): keep that short; a rollout transaction is one record.
    p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 10_000);
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Math.max(1, remaining(deadline).toMillis()));
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  private static void abortQuietly(KafkaProducer<String, byte[]> producer) {
    try {
      producer.abortTransaction();
    } catch (KafkaException e) {
      LOG.debug("aborting the rollout transaction failed: {}", e.toString());
    }
  }

  /** Writers that fence each other back off by a random, growing pause so that one gets through. */
  private static void pause(int attempt, long deadline) {
    long cap = Math.min(1_000, 25L << Math.min(attempt, 6));
    long ms = ThreadLocalRandom.current().nextLong(cap / 2, cap + 1);
    LockSupport.parkNanos(Math.min(TimeUnit.MILLISECONDS.toNanos(ms), Math.max(0, deadline - System.nanoTime())));
  }

  private static Duration remaining(long deadline) {
    return Duration.ofNanos(Math.max(TimeUnit.MILLISECONDS.toNanos(1), deadline - System.nanoTime()));
  }

  @Override
  public void close() {
    try {
      owner.execute(() -> {
        if (consumer != null) consumer.close(Duration.ofSeconds(1));
      });
    } catch (RejectedExecutionException alreadyClosed) {
      return;
    }
    owner.shutdown();
    try {
      if (!owner.awaitTermination(15, TimeUnit.SECONDS)) LOG.warn("the rollout writer did not stop within 15 s");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
