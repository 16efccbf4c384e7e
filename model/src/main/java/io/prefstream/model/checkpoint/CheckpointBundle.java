package io.prefstream.model.checkpoint;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * A checkpoint as bytes: its {@code manifest.json} exactly as written and every file it lists, for
 * stores that carry checkpoints elsewhere than a shared directory. {@link #verify} checks it the way
 * {@link CheckpointStore#open} checks a directory (same files, sizes and sha256s, the manifest
 * naming this policy and version, and the announced manifest sha256); {@link #installInto} writes a
 * verified bundle as a version directory of a local store, byte for byte, so the manifest (and its
 * sha256) stays the learner's.
 */
public record CheckpointBundle(String policy, long version, byte[] manifest, Map<String, byte[]> files) {
  public CheckpointBundle {
    files = Map.copyOf(files);
  }

  /** The files of a complete local checkpoint, read into memory (adapter-sized checkpoints only). */
  public static CheckpointBundle read(Checkpoint cp) throws IOException {
    Map<String, byte[]> files = new TreeMap<>();
    for (String name : cp.manifest().files().keySet()) files.put(name, Files.readAllBytes(cp.file(name)));
    return new CheckpointBundle(cp.policy(), cp.version(), Files.readAllBytes(cp.dir().resolve(CheckpointStore.MANIFEST)),
        files);
  }

  /** The sha256 of the manifest, which identifies the whole checkpoint. */
  public String manifestSha256() {
    return CheckpointStore.hex(CheckpointStore.digest(manifest));
  }

  /**
   * Checks the bundle against its manifest and {@code expectedManifestSha256} (when not null).
   *
   * @throws CorruptCheckpointException naming what differs, with {@code where} in front
   */
  public Manifest verify(String where, String expectedManifestSha256) throws CorruptCheckpointException {
    if (expectedManifestSha256 != null && !expectedManifestSha256.equalsIgnoreCase(manifestSha256())) {
      throw new CorruptCheckpointException(where + ": manifest sha256 is " + manifestSha256() + " but "
          + expectedManifestSha256 + " was announced");
    }
    Manifest m = CheckpointStore.parse(manifest, where);
    if (!m.policy().equals(policy) || m.version() != version) {
      throw new CorruptCheckpointException(where + ": the manifest describes policy '" + m.policy() + "' version "
          + m.version() + ", not '" + policy + "' version " + version);
    }
    for (Map.Entry<String, Manifest.FileEntry> e : m.files().entrySet()) {
      byte[] bytes = files.get(e.getKey());
      if (bytes == null) throw new CorruptCheckpointException(where + ": file '" + e.getKey() + "' is missing");
      if (bytes.length != e.getValue().size()) {
        throw new CorruptCheckpointException(where + ": file '" + e.getKey() + "' has " + bytes.length
            + " bytes, manifest says " + e.getValue().size());
      }
      String hash = CheckpointStore.hex(CheckpointStore.digest(bytes));
      if (!hash.equals(e.getValue().sha256())) {
        throw new CorruptCheckpointException(where + ": file '" + e.getKey() + "' has sha256 " + hash
            + ", manifest says " + e.getValue().sha256());
      }
    }
    for (String name : files.keySet()) {
      if (!m.files().containsKey(name)) throw new CorruptCheckpointException(where + ": file '" + name + "' is not in the manifest");
    }
    return m;
  }

  /**
   * Writes this (verified) bundle as {@code <store>/<policy>/<version>/} through a staging directory
   * and a rename, then opens it with the store's own checks. A version already there is opened as
   * it is (the caller compares its manifest sha256).
   */
  public Checkpoint installInto(CheckpointStore store) throws IOException {
    Path pdir = store.root().resolve(policy);
    Path target = pdir.resolve(Long.toString(version));
    if (Files.isDirectory(target)) return store.open(policy, version);
    Files.createDirectories(pdir);
    Path staging = pdir.resolve(".tmp-" + version + "-" + UUID.randomUUID());
    Files.createDirectory(staging);
    try {
      for (Map.Entry<String, byte[]> f : files.entrySet()) {
        Path p = staging.resolve(f.getKey()).normalize();
        if (!p.startsWith(staging) || p.equals(staging)) {
          throw new CorruptCheckpointException("checkpoint file path '" + f.getKey() + "' escapes the checkpoint");
        }
        Files.createDirectories(p.getParent());
        Files.write(p, f.getValue());
      }
      Files.write(staging.resolve(CheckpointStore.MANIFEST), manifest);
      try {
        Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException raced) {
        // Another loader installed the same version meanwhile: use that one.
      }
    } finally {
      if (Files.exists(staging)) {
        try (Stream<Path> walk = Files.walk(staging)) {
          for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
      }
    }
    return store.open(policy, version);
  }
}
