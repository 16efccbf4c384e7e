package io.prefstream.model.checkpoint.kafka;

import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointBundle;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.checkpoint.CorruptCheckpointException;
import io.prefstream.model.checkpoint.VersionStore;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link VersionStore} that needs nothing but Kafka: a LoRA checkpoint's files (adapter, adapter
 * config, optimiser state, trainer state) are cut into chunks under the broker's message size limit
 * and written, followed by the checkpoint's own {@code manifest.json}, to one partition (chosen by
 * policy id) of a compacted topic ({@code prefstream.checkpoints}). Keys name the policy, version,
 * file and chunk ({@link ChunkRecords}), so compaction keeps every chunk of every version and a
 * republished version replaces itself. The announced URI is {@code
 * kafka:///<topic>/<policy>/<version>?partition=P&offset=O}, the offset of the version's first
 * record. Opening reads forward from there until the manifest, reassembles the files, checks every
 * chunk is present and every file's size and sha256 against the manifest and the manifest's sha256
 * against the announcement, and installs the version in a local cache directory (reused on the next
 * open). Retention: when a version is published, the versions of its policy older than the newest
 * {@code keepVersions} are tombstoned (keys computed from the learner's local manifests), so
 * compaction removes them; a reader that then meets only the manifest's tombstone is told the
 * version was retired. Full fine-tunes are refused: they stay on the {@link io.prefstream.model.checkpoint.DirectoryVersionStore}.
 * Thread-safe: publishing uses one idempotent producer, each open its own consumer.
 */
public final class KafkaVersionStore implements VersionStore {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaVersionStore.class);
  public static final String SCHEME = "kafka";
  private static final Duration TIMEOUT = Duration.ofSeconds(60);
  /** Versions of each policy kept in the topic by default: enough to roll back a few versions. */
  public static final int DEFAULT_KEEP_VERSIONS = 10;

  private final Map<String, Object> clientConfig;
  private final String topic;
  private final CheckpointStore cache;
  private final int chunkBytes;
  private final int keepVersions;
  /** Per policy: the versions below this were tombstoned by this store already. */
  private final Map<String, Long> retiredBelow = new HashMap<>();
  private KafkaProducer<String, byte[]> producer;

  /**
   * @param clientConfig bootstrap servers and any client settings (security) for producer and consumers
   * @param topic the compacted checkpoints topic
   * @param cacheRoot where opened versions are installed (a local directory; no other process needs it)
   * @param chunkBytes the largest chunk; keep it under the topic's {@code max.message.bytes} minus
   *     the record's key and headers ({@link ChunkRecords#chunkBytesFor})
   */
  public KafkaVersionStore(Map<String, Object> clientConfig, String topic, Path cacheRoot, int chunkBytes) {
    this(clientConfig, topic, cacheRoot, chunkBytes, DEFAULT_KEEP_VERSIONS);
  }

  /**
   * @param keepVersions each policy's newest versions kept in the topic; when a version is published,
   *     older ones are tombstoned (0 keeps every version)
   */
  public KafkaVersionStore(Map<String, Object> clientConfig, String topic, Path cacheRoot, int chunkBytes,
      int keepVersions) {
    if (keepVersions < 0) throw new IllegalArgumentException("versions to keep must be >= 0 (0: all), got " + keepVersions);
    this.keepVersions = keepVersions;
    this.clientConfig = Map.copyOf(clientConfig);
    this.topic = Objects.requireNonNull(topic, "topic");
    this.cache = new CheckpointStore(cacheRoot);
    if (chunkBytes < 1024) throw new IllegalArgumentException("chunk size must be >= 1024 bytes, got " + chunkBytes);
    this.chunkBytes = chunkBytes;
  }

  /**
   * A store on {@code topic} whose chunks fit the topic's {@code max.message.bytes} (as the cluster
   * reports it, topic override or broker default), read once here.
   *
   * @throws IllegalStateException when the topic's settings cannot be read (no such topic, no access)
   */
  public static KafkaVersionStore connect(Map<String, Object> clientConfig, String topic, Path cacheRoot) {
    return connect(clientConfig, topic, cacheRoot, DEFAULT_KEEP_VERSIONS);
  }

  /** {@link #connect(Map, String, Path)} keeping {@code keepVersions} versions of each policy (0: all). */
  public static KafkaVersionStore connect(Map<String, Object> clientConfig, String topic, Path cacheRoot,
      int keepVersions) {
    Map<String, Object> c = new HashMap<>(clientConfig);
    c.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
    try (Admin admin = Admin.create(c)) {
      ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
      Config config = admin.describeConfigs(List.of(r)).all().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(r);
      ConfigEntry max = config.get(TopicConfig.MAX_MESSAGE_BYTES_CONFIG);
      int maxMessageBytes = max == null || max.value() == null ? 1_048_588 : Integer.parseInt(max.value());
      // Producers send at most 1 MiB per request unless told otherwise; stay under both limits.
      int chunk = ChunkRecords.chunkBytesFor(Math.min(maxMessageBytes, 1_048_576));
      return new KafkaVersionStore(clientConfig, topic, cacheRoot, chunk, keepVersions);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading the settings of topic " + topic, e);
    } catch (ExecutionException | TimeoutException | KafkaException e) {
      throw new IllegalStateException("cannot read the settings of checkpoint topic " + topic + ": " + e.getMessage(), e);
    }
  }

  public String topic() {
    return topic;
  }

  public int chunkBytes() {
    return chunkBytes;
  }

  @Override
  public boolean reads(URI uri) {
    return SCHEME.equals(uri.getScheme());
  }

  @Override
  public synchronized URI publish(Checkpoint local) throws IOException {
    if (!"LORA".equals(local.format())) {
      throw new IllegalArgumentException("checkpoint " + local.uri() + " has format " + local.format()
          + "; the Kafka store carries LoRA adapters only, full weights stay on a directory store");
    }
    CheckpointBundle bundle = CheckpointBundle.read(local);
    KafkaProducer<String, byte[]> p = producer();
    int partition = ChunkRecords.partitionFor(local.policy(), p.partitionsFor(topic).size());
    List<ProducerRecord<String, byte[]>> records = ChunkRecords.of(topic, partition, bundle, chunkBytes);
    List<Future<RecordMetadata>> sent = new ArrayList<>(records.size());
    try {
      for (ProducerRecord<String, byte[]> r : records) sent.add(p.send(r));
      p.flush();
      long first = sent.getFirst().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).offset();
      for (Future<RecordMetadata> f : sent) f.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      URI uri = ChunkRecords.uri(topic, local.policy(), local.version(), partition, first);
      LOG.info("policy {} v{} published to {} ({} records of at most {} bytes)", local.policy(), local.version(), uri,
          records.size(), chunkBytes);
      try {
        retireOlder(local, p, partition);
      } catch (IOException | ExecutionException | TimeoutException | KafkaException e) {
        // The new version is out; old ones linger until a later publish retires them.
        LOG.warn("policy {}: could not retire versions older than the newest {} from {}: {}", local.policy(),
            keepVersions, topic, e.toString());
      }
      return uri;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while publishing " + local.uri() + " to " + topic, e);
    } catch (ExecutionException | TimeoutException | KafkaException e) {
      throw new IOException("publishing " + local.uri() + " to topic " + topic + " failed: " + e.getMessage(), e);
    }
  }

  /**
   * Tombstones the versions of {@code local}'s policy older than the newest {@code keepVersions},
   * computing their keys from the learner's own copies of their manifests (in the directory store
   * {@code local} lies in). A version whose manifest is gone locally stays in the topic.
   */
  private void retireOlder(Checkpoint local, KafkaProducer<String, byte[]> p, int partition)
      throws IOException, InterruptedException, ExecutionException, TimeoutException {
    if (keepVersions == 0) return;
    long below = local.version() - keepVersions + 1;
    long done = retiredBelow.getOrDefault(local.policy(), 0L);
    if (below <= done) return;
    CheckpointStore learnerStore = new CheckpointStore(local.dir().getParent().getParent());
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    List<Long> retired = new ArrayList<>();
    for (long v : learnerStore.list(local.policy())) {
      if (v < done || v >= below) continue;
      for (ProducerRecord<String, byte[]> r : ChunkRecords.tombstones(topic, partition,
          learnerStore.manifest(local.policy(), v), chunkBytes)) {
        sent.add(p.send(r));
      }
      retired.add(v);
    }
    p.flush();
    for (Future<RecordMetadata> f : sent) f.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    retiredBelow.put(local.policy(), below);
    if (!retired.isEmpty()) LOG.info("policy {}: versions {} retired from {}", local.policy(), retired, topic);
  }

  private KafkaProducer<String, byte[]> producer() {
    if (producer == null) {
      Map<String, Object> c = new HashMap<>(clientConfig);
      c.put(ProducerConfig.ACKS_CONFIG, "all");
      c.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
      // One chunk per request at most, plus room for the key and headers.
      c.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, chunkBytes + ChunkRecords.RECORD_OVERHEAD);
      c.put(ProducerConfig.CLIENT_ID_CONFIG, "prefstream-checkpoints-" + topic);
      producer = new KafkaProducer<>(c, new StringSerializer(), new ByteArraySerializer());
    }
    return producer;
  }

  @Override
  public Checkpoint open(URI uri, String policy, long version, String manifestSha256) throws IOException {
    ChunkRecords.Location at = ChunkRecords.parse(uri, policy, version);
    if (!at.topic().equals(topic)) {
      throw new IllegalArgumentException("checkpoint " + uri + " is on topic " + at.topic() + ", this store reads " + topic);
    }
    if (cache.list(policy).contains(version)) {
      // Opened before: the local copy is verified again, and must be the announced one.
      Checkpoint cached = cache.open(policy, version);
      if (manifestSha256 != null && !manifestSha256.equalsIgnoreCase(cached.manifestSha256())) {
        throw new CorruptCheckpointException("checkpoint " + uri + ": the cached copy in " + cached.dir()
            + " has manifest sha256 " + cached.manifestSha256() + ", not the announced " + manifestSha256);
      }
      return cached;
    }
    CheckpointBundle bundle = read(uri, at);
    bundle.verify("checkpoint " + uri, manifestSha256);
    return bundle.installInto(cache);
  }

  /** The version's records from the announced offset up to its manifest, reassembled. */
  private CheckpointBundle read(URI uri, ChunkRecords.Location at) throws IOException {
    Map<String, Object> c = new HashMap<>(clientConfig);
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    c.remove(ConsumerConfig.GROUP_ID_CONFIG);
    TopicPartition tp = new TopicPartition(at.topic(), at.partition());
    ChunkRecords.Assembly assembly = new ChunkRecords.Assembly(at.policy(), at.version());
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer())) {
      consumer.assign(List.of(tp));
      consumer.seek(tp, at.offset());
      long end = consumer.endOffsets(List.of(tp), TIMEOUT).get(tp);
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (!assembly.complete() && consumer.position(tp, TIMEOUT) < end) {
        if (System.nanoTime() > deadline) throw new IOException("reading " + uri + " took longer than " + TIMEOUT);
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          assembly.add(r);
          if (assembly.complete()) break;
        }
      }
    } catch (KafkaException e) {
      throw new IOException("reading " + uri + " failed: " + e.getMessage(), e);
    }
    if (!assembly.complete()) {
      // Not (yet) visible: the update may have overtaken the records to this reader; retried.
      throw new IOException("checkpoint " + uri + ": no manifest record for " + at.policy() + " v" + at.version()
          + " between offset " + at.offset() + " and the end of " + tp);
    }
    return assembly.bundle("checkpoint " + uri);
  }

  @Override
  public synchronized void close() {
    if (producer != null) producer.close(Duration.ofSeconds(10));
    producer = null;
  }
}
