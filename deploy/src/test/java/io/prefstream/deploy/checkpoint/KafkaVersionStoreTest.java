package io.prefstream.deploy.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.checkpoint.CheckpointStore;
import io.prefstream.model.checkpoint.CorruptCheckpointException;
import io.prefstream.model.checkpoint.kafka.KafkaVersionStore;
import io.prefstream.model.config.LoraConfig;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.lora.LoraAdapter;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.tensor.NamedTensor;
import io.prefstream.schemas.topic.Topics;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Kafka version store on a real broker: a LoRA checkpoint published in many small chunks is
 * opened by another store (another cache directory, nothing shared but the broker) byte for byte,
 * with the learner's manifest and sha256; a wrong announced sha256, a missing chunk and a tampered
 * chunk are refused with messages naming them; full weights are refused at publish.
 */
class KafkaVersionStoreTest {
  static final LoraConfig LORA = new LoraConfig(4, 8, LoraConfig.ALL_TARGETS, 0);
  static final String TOPIC = Topics.CHECKPOINTS;
  @TempDir static Path dir;
  static EmbeddedKafka kafka;

  @BeforeAll
  static void start() {
    kafka = EmbeddedKafka.start();
    kafka.ensureDefaultTopics();
  }

  @AfterAll
  static void stop() {
    if (kafka != null) kafka.close();
  }

  /** A LoRA version of the tiny model with random adapter weights, as the learner writes it. */
  static Checkpoint writeLora(CheckpointStore store, String policy, long v) throws Exception {
    Map<String, NamedTensor> t = new LinkedHashMap<>();
    Random rnd = new Random(v);
    var c = ModelPresets.tiny();
    for (int l = 0; l < c.numLayers(); l++) {
      for (String m : LORA.targetModules()) {
        int[] dims = LoraAdapter.inOut(c, m);
        String a = PeftAdapter.loraA(l, m), b = PeftAdapter.loraB(l, m);
        t.put(a, new NamedTensor(a, new int[] {4, dims[0]}, gaussian(rnd, 4 * dims[0])));
        t.put(b, new NamedTensor(b, new int[] {dims[1], 4}, gaussian(rnd, dims[1] * 4)));
      }
    }
    TrainerState st = new TrainerState(v, v, Map.of(), "base", null, PolicyCheckpoint.LORA, Map.of());
    return PolicyCheckpoint.writeLora(store, policy, v, new PeftAdapter(LORA, t, Optional.empty()), null, st);
  }

  private static float[] gaussian(Random rnd, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * 0.5);
    return x;
  }

  @Test
  void aLoraVersionPublishedInChunksOpensElsewhereByteForByteWithTheLearnersManifest() throws Exception {
    Checkpoint local = writeLora(new CheckpointStore(dir.resolve("learner")), "roundtrip", 3);
    long adapterBytes = Files.size(local.file("adapter_model.safetensors"));
    URI uri;
    try (KafkaVersionStore learnerSide = new KafkaVersionStore(kafka.clientConfig(), TOPIC, dir.resolve("unused"), 4096)) {
      uri = learnerSide.publish(local);
    }
    assertThat(uri.getScheme()).isEqualTo("kafka");
    assertThat(uri.getPath()).isEqualTo("/" + TOPIC + "/roundtrip/3");
    assertThat(adapterBytes).as("the adapter spans several chunks").isGreaterThan(3 * 4096);

    try (KafkaVersionStore replicaSide = KafkaVersionStore.connect(kafka.clientConfig(), TOPIC, dir.resolve("replica-cache"))) {
      assertThat(replicaSide.chunkBytes()).isLessThan(1_048_576);
      Checkpoint remote = replicaSide.open(uri, "roundtrip", 3, local.manifestSha256());
      assertThat(remote.dir()).startsWith(dir.resolve("replica-cache"));
      assertThat(remote.manifestSha256()).isEqualTo(local.manifestSha256());
      assertThat(remote.manifest().files().keySet()).isEqualTo(local.manifest().files().keySet());
      for (String f : local.manifest().files().keySet()) {
        assertThat(Files.readAllBytes(remote.file(f))).as(f).isEqualTo(Files.readAllBytes(local.file(f)));
      }
      // Opened again: from the cache, verified again.
      assertThat(replicaSide.open(uri, "roundtrip", 3, local.manifestSha256()).dir()).isEqualTo(remote.dir());

      assertThatThrownBy(() -> replicaSide.open(uri, "roundtrip", 3, "00".repeat(32)))
          .isInstanceOf(CorruptCheckpointException.class).hasMessageContaining("manifest sha256");
      assertThatThrownBy(() -> replicaSide.open(uri, "other", 3, null))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not other v3");
    }
  }

  @Test
  void aMissingChunkIsRefusedNamingTheChunk() throws Exception {
    Checkpoint local = writeLora(new CheckpointStore(dir.resolve("holey")), "holey", 1);
    List<ProducerRecord<String, byte[]>> records = new ArrayList<>();
    for (String f : local.manifest().files().keySet()) {
      byte[] bytes = Files.readAllBytes(local.file(f));
      int half = bytes.length / 2;
      records.add(chunk("holey", 1, f, 0, 2, java.util.Arrays.copyOfRange(bytes, 0, half)));
      // Chunk 1 of the adapter never arrives.
      if (!f.equals("adapter_model.safetensors")) {
        records.add(chunk("holey", 1, f, 1, 2, java.util.Arrays.copyOfRange(bytes, half, bytes.length)));
      }
    }
    URI uri = produce(records, "holey", 1, Files.readAllBytes(local.dir().resolve(CheckpointStore.MANIFEST)));
    try (KafkaVersionStore store = KafkaVersionStore.connect(kafka.clientConfig(), TOPIC, dir.resolve("holey-cache"))) {
      assertThatThrownBy(() -> store.open(uri, "holey", 1, local.manifestSha256()))
          .isInstanceOf(CorruptCheckpointException.class)
          .hasMessageContaining("chunk 1 of 2 of file 'adapter_model.safetensors' is missing");
    }
  }

  @Test
  void aTamperedChunkIsRefusedByItsSha256() throws Exception {
    Checkpoint local = writeLora(new CheckpointStore(dir.resolve("tampered")), "tampered", 1);
    List<ProducerRecord<String, byte[]>> records = new ArrayList<>();
    for (String f : local.manifest().files().keySet()) {
      byte[] bytes = Files.readAllBytes(local.file(f));
      if (f.equals("adapter_model.safetensors")) bytes[bytes.length - 1] ^= 1;
      records.add(chunk("tampered", 1, f, 0, 1, bytes));
    }
    URI uri = produce(records, "tampered", 1, Files.readAllBytes(local.dir().resolve(CheckpointStore.MANIFEST)));
    try (KafkaVersionStore store = KafkaVersionStore.connect(kafka.clientConfig(), TOPIC, dir.resolve("tampered-cache"))) {
      assertThatThrownBy(() -> store.open(uri, "tampered", 1, local.manifestSha256()))
          .isInstanceOf(CorruptCheckpointException.class)
          .hasMessageContaining("file 'adapter_model.safetensors' has sha256");
      assertThat(dir.resolve("tampered-cache").resolve("tampered").resolve("1")).doesNotExist();
    }
  }

  @Test
  void fullWeightsStayOnTheDirectoryStore() throws Exception {
    Checkpoint full = new CheckpointStore(dir.resolve("full")).write("full", 1, PolicyCheckpoint.FULL,
        Map.of("model.safetensors", new byte[64]));
    try (KafkaVersionStore store = KafkaVersionStore.connect(kafka.clientConfig(), TOPIC, dir.resolve("full-cache"))) {
      assertThatThrownBy(() -> store.publish(full)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("LoRA adapters only");
    }
  }

  @Test
  void versionsOlderThanTheNewestKeptAreTombstonedAndAReaderOfOneSaysItWasRetired() throws Exception {
    CheckpointStore learner = new CheckpointStore(dir.resolve("retention"));
    List<Checkpoint> versions = new ArrayList<>();
    List<URI> uris = new ArrayList<>();
    try (KafkaVersionStore store = new KafkaVersionStore(kafka.clientConfig(), TOPIC, dir.resolve("unused-r"), 4096, 2)) {
      for (long v = 1; v <= 4; v++) {
        versions.add(writeLora(learner, "retained", v));
        uris.add(store.publish(versions.getLast()));
      }
    }
    // The last word on every key of v1 and v2 is a tombstone (compaction removes them); v3 and v4 stand.
    Map<String, byte[]> last = lastValues(Integer.parseInt(uris.getFirst().getQuery().replaceAll(".*partition=(\\d+).*", "$1")));
    for (long version = 1; version <= 4; version++) {
      long v = version;
      String manifestKey = "retained/" + v + "/manifest.json";
      assertThat(last).containsKey(manifestKey);
      if (v <= 2) assertThat(last.get(manifestKey)).as("v%d retired", v).isNull();
      else assertThat(last.get(manifestKey)).as("v%d kept", v).isNotNull();
      long chunkKeys = last.keySet().stream().filter(k -> k.startsWith("retained/" + v + "/") && k.contains("#")).count();
      long live = last.entrySet().stream()
          .filter(e -> e.getKey().startsWith("retained/" + v + "/") && e.getKey().contains("#") && e.getValue() != null).count();
      assertThat(chunkKeys).isPositive();
      assertThat(live).as("live chunks of v%d", v).isEqualTo(v <= 2 ? 0 : chunkKeys);
    }
    try (KafkaVersionStore replica = KafkaVersionStore.connect(kafka.clientConfig(), TOPIC, dir.resolve("retention-cache"))) {
      assertThat(replica.open(uris.get(3), "retained", 4, versions.get(3).manifestSha256()).manifestSha256())
          .isEqualTo(versions.get(3).manifestSha256());
      // After compaction a retired version's reader meets only tombstones, the manifest's among them.
      URI compacted = produce(List.of(new ProducerRecord<>(TOPIC, 0, "gone/1/adapter_model.safetensors#0", null)), "gone", 1,
          null);
      assertThatThrownBy(() -> replica.open(compacted, "gone", 1, null))
          .isInstanceOf(CorruptCheckpointException.class).hasMessageContaining("retired");
    }
  }

  /** The last value of every key on {@code partition} of the topic (null for a tombstone). */
  private static Map<String, byte[]> lastValues(int partition) {
    Map<String, byte[]> last = new java.util.HashMap<>();
    Map<String, Object> c = new java.util.HashMap<>(kafka.clientConfig());
    try (var consumer = new org.apache.kafka.clients.consumer.KafkaConsumer<>(c,
        new org.apache.kafka.common.serialization.StringDeserializer(),
        new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
      var tp = new org.apache.kafka.common.TopicPartition(TOPIC, partition);
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      long end = consumer.endOffsets(List.of(tp)).get(tp);
      while (consumer.position(tp) < end) {
        for (var r : consumer.poll(java.time.Duration.ofMillis(200))) last.put(r.key(), r.value());
      }
    }
    return last;
  }

  /** A chunk record laid out as ChunkRecords documents it. */
  private static ProducerRecord<String, byte[]> chunk(String policy, long v, String file, int i, int n, byte[] bytes) {
    List<Header> headers = List.of(new RecordHeader("prefstream.file", file.getBytes(StandardCharsets.UTF_8)),
        new RecordHeader("prefstream.chunk", ByteBuffer.allocate(4).putInt(i).array()),
        new RecordHeader("prefstream.chunks", ByteBuffer.allocate(4).putInt(n).array()));
    return new ProducerRecord<>(TOPIC, 0, policy + "/" + v + "/" + file + "#" + i, bytes, headers);
  }

  /** Sends the records and the manifest to partition 0; the URI of the first one. */
  private static URI produce(List<ProducerRecord<String, byte[]>> records, String policy, long v, byte[] manifest)
      throws Exception {
    try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.clientConfig(), new StringSerializer(),
        new ByteArraySerializer())) {
      long first = -1;
      for (ProducerRecord<String, byte[]> r : records) {
        long off = p.send(r).get().offset();
        if (first < 0) first = off;
      }
      p.send(new ProducerRecord<>(TOPIC, 0, policy + "/" + v + "/manifest.json", manifest)).get();
      return URI.create("kafka:///" + TOPIC + "/" + policy + "/" + v + "?partition=0&offset=" + first);
    }
  }
}
