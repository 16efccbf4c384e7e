package io.prefstream.serving.registry;

/** A request named a policy this replica has neither an update nor a rollout state for. */
public final class UnknownPolicyException extends RuntimeException {
  public UnknownPolicyException(String message) {
    super(message);
  }
}
