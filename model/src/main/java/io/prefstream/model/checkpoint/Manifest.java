package io.prefstream.model.checkpoint;

import java.time.Instant;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a checkpoint holds, written last as {@code manifest.json}: every file's size and sha256 by
 * relative path ('/'-separated), the policy and version it belongs to, the caller's format label
 * (e.g. LORA or FULL) and when it was written.
 */
public record Manifest(int manifestVersion, String policy, long version, String format, Instant createdAt,
    Map<String, FileEntry> files) {
  public static final int CURRENT_VERSION = 1;

  public Manifest {
    files = Collections.unmodifiableMap(new TreeMap<>(files));
  }

  /** One file's size in bytes and lower-case hex sha256. */
  public record FileEntry(long size, String sha256) {}
}
