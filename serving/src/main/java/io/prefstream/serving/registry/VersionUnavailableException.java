package io.prefstream.serving.registry;

/** A version's checkpoint could not be read just now (a transient I/O error); asking again may succeed. */
public final class VersionUnavailableException extends RuntimeException {
  public VersionUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
