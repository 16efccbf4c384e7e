package io.prefstream.model.checkpoint;

import java.io.IOException;
import java.net.URI;

/**
 * Where a published policy version lives, so that serving replicas (and a learner taking a policy
 * over) can load it: the learner writes each checkpoint to its local {@link CheckpointStore}, then
 * {@link #publish}es it here and announces the returned URI in the PolicyUpdate; a replica
 * {@link #open}s that URI. Two implementations: {@link DirectoryVersionStore} (the default: the
 * checkpoint directory itself, {@code file:} URIs, every machine needs the same path) and
 * {@link io.prefstream.model.checkpoint.kafka.KafkaVersionStore} (LoRA adapters in a compacted
 * topic, {@code kafka:} URIs, a replica needs only the bootstrap servers). Whatever the store, a
 * version is the same files and the same manifest, so the announced sha256 (the manifest's) does
 * not depend on the store.
 *
 * <p>Errors follow one rule so a caller can decide what to retry: the bytes are there and wrong
 * (a hash, a size, a missing chunk or file, a wrong layout) is a {@link CorruptCheckpointException}
 * or an {@link IllegalArgumentException}, never worth retrying; cannot be read now (not yet
 * visible, a read or network error) is any other {@link IOException}.
 */
public interface VersionStore extends AutoCloseable {
  /** Whether {@link #open} reads this URI (by its scheme). */
  boolean reads(URI uri);

  /**
   * Makes the complete local checkpoint {@code local} reachable through this store and returns the
   * URI to announce. Idempotent per version: publishing a version again (after a crash) is harmless.
   *
   * @throws IllegalArgumentException when this store does not take such a checkpoint (e.g. full
   *     weights on the Kafka store)
   */
  URI publish(Checkpoint local) throws IOException;

  /**
   * Opens version {@code version} of {@code policy} as {@code uri} names it, verified: every file's
   * size and sha256 against the manifest, and the manifest's sha256 against {@code manifestSha256}
   * when that is not null. The result is a local directory the caller may read.
   */
  Checkpoint open(URI uri, String policy, long version, String manifestSha256) throws IOException;

  @Override
  default void close() {}
}
