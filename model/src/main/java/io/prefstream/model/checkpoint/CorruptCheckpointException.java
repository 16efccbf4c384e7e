package io.prefstream.model.checkpoint;

import java.io.IOException;

/**
 * A checkpoint directory that does not match its manifest (a file missing, extra, of the wrong size
 * or hash) or has no readable manifest at all (a partial or foreign directory). The message names
 * the checkpoint and the file.
 */
public final class CorruptCheckpointException extends IOException {
  public CorruptCheckpointException(String message) {
    super(message);
  }

  public CorruptCheckpointException(String message, Throwable cause) {
    super(message, cause);
  }
}
