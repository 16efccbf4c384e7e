package io.prefstream.serving.registry;

/** A policy version that failed verification or loading; the message says why. */
public final class RefusedVersionException extends Exception {
  public RefusedVersionException(String message) {
    super(message);
  }

  public RefusedVersionException(String message, Throwable cause) {
    super(message, cause);
  }
}
