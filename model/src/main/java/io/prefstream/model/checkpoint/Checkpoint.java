package io.prefstream.model.checkpoint;

import java.net.URI;
import java.nio.file.Path;

/**
 * A complete checkpoint as stored: where it is, its manifest, and the sha256 of the manifest file,
 * which identifies the whole checkpoint (it covers every file's hash) and is what a PolicyUpdate
 * carries.
 */
public record Checkpoint(String policy, long version, Path dir, URI uri, String manifestSha256, Manifest manifest) {
  /** A file of the checkpoint by its relative path. */
  public Path file(String relativePath) {
    if (!manifest.files().containsKey(relativePath)) {
      throw new IllegalArgumentException("checkpoint " + uri + " has no file '" + relativePath + "'");
    }
    return dir.resolve(relativePath);
  }

  public String format() {
    return manifest.format();
  }
}
