package io.prefstream.serving.registry;

/** The rollout feed did not take a write in time (broker down or slow); the change was not made. */
public final class FeedUnavailableException extends RuntimeException {
  public FeedUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
