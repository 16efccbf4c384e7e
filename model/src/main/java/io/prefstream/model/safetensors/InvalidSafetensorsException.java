package io.prefstream.model.safetensors;

import java.io.IOException;

/**
 * A safetensors file (or shard index) that breaks the format: the message names the file, the
 * tensor where there is one, and what was expected.
 */
public final class InvalidSafetensorsException extends IOException {
  public InvalidSafetensorsException(String message) {
    super(message);
  }

  public InvalidSafetensorsException(String message, Throwable cause) {
    super(message, cause);
  }
}
