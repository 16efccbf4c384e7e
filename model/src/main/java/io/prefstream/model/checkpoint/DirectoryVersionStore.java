package io.prefstream.model.checkpoint;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The default {@link VersionStore}: a version is announced by its checkpoint directory's {@code
 * file:} URI, and opened in place. Learner and replicas must see the same path (one machine, or a
 * shared file system). Suits every format, full fine-tunes included. When a root is given, {@link
 * #open} refuses directories outside it, so an update cannot point a replica at arbitrary files.
 */
public final class DirectoryVersionStore implements VersionStore {
  private final Optional<Path> root;

  /** @param root when present, only checkpoints under this directory are opened */
  public DirectoryVersionStore(Optional<Path> root) {
    this.root = root.map(p -> p.toAbsolutePath().normalize());
  }

  @Override
  public boolean reads(URI uri) {
    return "file".equals(uri.getScheme());
  }

  @Override
  public URI publish(Checkpoint local) {
    return local.uri();
  }

  @Override
  public Checkpoint open(URI uri, String policy, long version, String manifestSha256) throws IOException {
    if (!reads(uri)) throw new IllegalArgumentException("checkpoint URI " + uri + " is not a file: URI");
    Path dir = Path.of(uri).toAbsolutePath().normalize();
    if (root.isPresent() && !dir.startsWith(root.get())) {
      throw new IllegalArgumentException("checkpoint " + dir + " lies outside the checkpoint store " + root.get());
    }
    if (dir.getParent() == null || dir.getParent().getParent() == null
        || !dir.getFileName().toString().equals(Long.toString(version))
        || !dir.getParent().getFileName().toString().equals(policy)) {
      throw new IllegalArgumentException("checkpoint " + dir + " is not laid out as <store>/" + policy + "/" + version);
    }
    Checkpoint cp = new CheckpointStore(dir.getParent().getParent()).open(policy, version);
    if (manifestSha256 != null && !manifestSha256.equalsIgnoreCase(cp.manifestSha256())) {
      throw new CorruptCheckpointException("checkpoint " + cp.uri() + ": manifest sha256 is " + cp.manifestSha256()
          + " but " + manifestSha256 + " was announced");
    }
    return cp;
  }
}
