package io.prefstream.model.checkpoint.kafka;

import io.prefstream.model.checkpoint.CheckpointBundle;
import io.prefstream.model.checkpoint.CorruptCheckpointException;
import io.prefstream.model.checkpoint.Manifest;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.utils.Utils;

/**
 * The record layout of the Kafka version store, in one place. A version of a policy is, in order:
 * one record per chunk of each file, key {@code <policy>/<version>/<file>#<chunk>}, value the
 * chunk's bytes, headers {@value #H_FILE}, {@value #H_CHUNK} and {@value #H_CHUNKS}; then one
 * record with key {@code <policy>/<version>/manifest.json} and the manifest's bytes. All go to the
 * policy's partition ({@link #partitionFor}, the same hash the default partitioner gives a
 * policy-id key), so one ordered read from the first record's offset meets every chunk before the
 * manifest.
 */
public final class ChunkRecords {
  private ChunkRecords() {}

  static final String H_FILE = "prefstream.file";
  static final String H_CHUNK = "prefstream.chunk";
  static final String H_CHUNKS = "prefstream.chunks";
  static final String MANIFEST = "manifest.json";
  /** Bytes a record needs besides its chunk: key, headers, record and batch framing (generous). */
  public static final int RECORD_OVERHEAD = 16 * 1024;

  /** The largest chunk for a topic whose {@code max.message.bytes} is {@code maxMessageBytes}. */
  public static int chunkBytesFor(int maxMessageBytes) {
    int chunk = maxMessageBytes - RECORD_OVERHEAD;
    if (chunk < 1024) {
      throw new IllegalArgumentException("max.message.bytes " + maxMessageBytes + " leaves no room for chunks;"
          + " expected at least " + (1024 + RECORD_OVERHEAD));
    }
    return chunk;
  }

  static int partitionFor(String policy, int partitions) {
    return Utils.toPositive(Utils.murmur2(policy.getBytes(StandardCharsets.UTF_8))) % partitions;
  }

  private static String prefix(String policy, long version) {
    return policy + "/" + version + "/";
  }

  /** Every record of {@code bundle}, chunks first and the manifest last, for {@code partition}. */
  static List<ProducerRecord<String, byte[]>> of(String topic, int partition, CheckpointBundle bundle, int chunkBytes) {
    List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
    String prefix = prefix(bundle.policy(), bundle.version());
    for (Map.Entry<String, byte[]> f : new TreeMap<>(bundle.files()).entrySet()) {
      byte[] bytes = f.getValue();
      int chunks = Math.max(1, (bytes.length + chunkBytes - 1) / chunkBytes);
      for (int i = 0; i < chunks; i++) {
        int from = i * chunkBytes;
        byte[] chunk = java.util.Arrays.copyOfRange(bytes, from, Math.min(bytes.length, from + chunkBytes));
        List<Header> headers = List.of(new RecordHeader(H_FILE, f.getKey().getBytes(StandardCharsets.UTF_8)),
            new RecordHeader(H_CHUNK, ByteBuffer.allocate(4).putInt(i).array()),
            new RecordHeader(H_CHUNKS, ByteBuffer.allocate(4).putInt(chunks).array()));
        out.add(new ProducerRecord<>(topic, partition, prefix + f.getKey() + "#" + i, chunk, headers));
      }
    }
    out.add(new ProducerRecord<>(topic, partition, prefix + MANIFEST, bundle.manifest()));
    return out;
  }

  /**
   * Tombstones (null values) for every key a version written with {@code chunkBytes} used, so
   * compaction removes it; the manifest's tombstone tells a reader the version was retired.
   */
  static List<ProducerRecord<String, byte[]>> tombstones(String topic, int partition, Manifest manifest, int chunkBytes) {
    List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
    String prefix = prefix(manifest.policy(), manifest.version());
    for (Map.Entry<String, Manifest.FileEntry> f : manifest.files().entrySet()) {
      long chunks = Math.max(1, (f.getValue().size() + chunkBytes - 1) / chunkBytes);
      for (long i = 0; i < chunks; i++) out.add(new ProducerRecord<>(topic, partition, prefix + f.getKey() + "#" + i, null));
    }
    out.add(new ProducerRecord<>(topic, partition, prefix + MANIFEST, null));
    return out;
  }

  /** Where a version starts: {@code kafka:///<topic>/<policy>/<version>?partition=P&offset=O}. */
  record Location(String topic, String policy, long version, int partition, long offset) {}

  static URI uri(String topic, String policy, long version, int partition, long offset) {
    try {
      return new URI(KafkaVersionStore.SCHEME, "", "/" + topic + "/" + policy + "/" + version,
          "partition=" + partition + "&offset=" + offset, null);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("cannot form a checkpoint URI for topic " + topic + ", policy " + policy, e);
    }
  }

  /** Parses a store URI and checks it names {@code policy} version {@code version}. */
  static Location parse(URI uri, String policy, long version) {
    String what = "checkpoint URI " + uri;
    if (!KafkaVersionStore.SCHEME.equals(uri.getScheme()) || uri.getPath() == null || uri.getQuery() == null) {
      throw new IllegalArgumentException(what + " is not of the form kafka:///<topic>/<policy>/<version>?partition=P&offset=O");
    }
    String[] path = uri.getPath().split("/");
    if (path.length != 4 || !path[0].isEmpty()) {
      throw new IllegalArgumentException(what + ": expected the path /<topic>/<policy>/<version>");
    }
    if (!path[2].equals(policy) || !path[3].equals(Long.toString(version))) {
      throw new IllegalArgumentException(what + " names " + path[2] + " v" + path[3] + ", not " + policy + " v" + version);
    }
    Map<String, String> q = new HashMap<>();
    for (String kv : uri.getQuery().split("&")) {
      int eq = kv.indexOf('=');
      if (eq > 0) q.put(kv.substring(0, eq), kv.substring(eq + 1));
    }
    try {
      return new Location(path[1], policy, version, Integer.parseInt(q.get("partition")), Long.parseLong(q.get("offset")));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(what + ": partition and offset must be numbers");
    }
  }

  /** Collects one version's records as they are read; later records of a key replace earlier ones. */
  static final class Assembly {
    private final String policy;
    private final long version;
    private final String prefix;
    private final Map<String, Map<Integer, byte[]>> chunks = new LinkedHashMap<>();
    private final Map<String, Integer> chunkCounts = new HashMap<>();
    private byte[] manifest;
    private boolean retired;

    Assembly(String policy, long version) {
      this.policy = policy;
      this.version = version;
      this.prefix = prefix(policy, version);
    }

    void add(ConsumerRecord<String, byte[]> r) throws CorruptCheckpointException {
      if (r.key() == null || !r.key().startsWith(prefix)) return;
      if (r.key().equals(prefix + MANIFEST)) {
        if (r.value() == null) retired = true;
        else manifest = r.value();
        return;
      }
      if (r.value() == null) return;
      Header file = r.headers().lastHeader(H_FILE);
      Header chunk = r.headers().lastHeader(H_CHUNK);
      Header count = r.headers().lastHeader(H_CHUNKS);
      if (file == null || chunk == null || count == null || chunk.value().length != 4 || count.value().length != 4) {
        throw new CorruptCheckpointException("record " + r.key() + " at offset " + r.offset() + " lacks its chunk headers");
      }
      String name = new String(file.value(), StandardCharsets.UTF_8);
      chunks.computeIfAbsent(name, k -> new TreeMap<>()).put(ByteBuffer.wrap(chunk.value()).getInt(), r.value());
      chunkCounts.put(name, ByteBuffer.wrap(count.value()).getInt());
    }

    boolean complete() {
      return manifest != null || retired;
    }

    /** The files put together; a chunk that never came is an error naming it. */
    CheckpointBundle bundle(String where) throws CorruptCheckpointException {
      if (manifest == null) {
        throw new CorruptCheckpointException(where + ": the version was retired from the Kafka store (a newer one"
            + " replaced it; the store keeps each policy's newest versions only)");
      }
      Map<String, byte[]> files = new TreeMap<>();
      for (Map.Entry<String, Map<Integer, byte[]>> f : chunks.entrySet()) {
        int n = chunkCounts.get(f.getKey());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < n; i++) {
          byte[] c = f.getValue().get(i);
          if (c == null) {
            throw new CorruptCheckpointException(where + ": chunk " + i + " of " + n + " of file '" + f.getKey()
                + "' is missing");
          }
          out.writeBytes(c);
        }
        files.put(f.getKey(), out.toByteArray());
      }
      return new CheckpointBundle(policy, version, manifest, files);
    }
  }
}
