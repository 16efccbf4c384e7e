package io.prefstream.serving.grpc;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.registry.FeedUnavailableException;
import io.prefstream.serving.registry.RefusedVersionException;
import io.prefstream.serving.registry.UnknownPolicyException;
import io.prefstream.serving.registry.VersionUnavailableException;
import java.util.NoSuchElementException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one RPC body and maps what it throws to a gRPC status in one place: validation errors are
 * INVALID_ARGUMENT (their message names the field), unknown policies and versions NOT_FOUND,
 * refused versions and states that forbid the call FAILED_PRECONDITION, a rollout feed that does
 * not take a write or a checkpoint that cannot be read just now UNAVAILABLE, a cancelled call
 * DEADLINE_EXCEEDED or CANCELLED, anything else INTERNAL (logged with its stack). Every call is
 * counted by method and code, and timed.
 */
final class Rpc {
  private static final Logger LOG = LoggerFactory.getLogger(Rpc.class);

  /** Thrown from a token callback when the client went away or the deadline passed. */
  static final class Cancelled extends RuntimeException {
    Cancelled() {
      super("call cancelled", null, false, false);
    }
  }

  @FunctionalInterface
  interface Body {
    void run() throws Exception;
  }

  private final ServingMetrics metrics;

  Rpc(ServingMetrics metrics) {
    this.metrics = metrics;
  }

  static StatusRuntimeException invalid(String field, String problem) {
    return Status.INVALID_ARGUMENT.withDescription(field + ": " + problem).asRuntimeException();
  }

  /** Throws the cancellation status when the call is already over. */
  static void checkNotCancelled() {
    if (Context.current().isCancelled()) throw new Cancelled();
  }

  void run(String method, StreamObserver<?> observer, Body body) {
    long t0 = System.nanoTime();
    Status status;
    try {
      checkNotCancelled();
      body.run();
      status = Status.OK;
    } catch (Throwable t) {
      status = toStatus(method, t);
      try {
        // A status exception keeps its trailers (the engine's retry-after-ms hint).
        observer.onError(t instanceof StatusRuntimeException s ? s : status.asRuntimeException());
      } catch (IllegalStateException alreadyClosed) {
        LOG.debug("{}: call already closed when reporting {}", method, status);
      }
    }
    metrics.requests.labelValues(method, status.getCode().name()).inc();
    metrics.requestSeconds.labelValues(method).observe((System.nanoTime() - t0) / 1e9);
  }

  private static Status toStatus(String method, Throwable t) {
    if (t instanceof StatusRuntimeException s) return s.getStatus();
    if (t instanceof Cancelled || t instanceof java.util.concurrent.CancellationException) return cancelledStatus();
    if (t instanceof FeedUnavailableException || t instanceof VersionUnavailableException) {
      return Status.UNAVAILABLE.withDescription(t.getMessage());
    }
    if (t instanceof UnknownPolicyException || t instanceof NoSuchElementException) {
      return Status.NOT_FOUND.withDescription(t.getMessage());
    }
    if (t instanceof RefusedVersionException || t instanceof IllegalStateException) {
      return Status.FAILED_PRECONDITION.withDescription(t.getMessage());
    }
    if (t instanceof IllegalArgumentException) return Status.INVALID_ARGUMENT.withDescription(t.getMessage());
    if (t instanceof InterruptedException) {
      Thread.currentThread().interrupt();
      return Status.CANCELLED.withDescription("the server is shutting down");
    }
    LOG.error("{} failed", method, t);
    return Status.INTERNAL.withDescription(method + " failed: " + t).withCause(t);
  }

  static Status cancelledStatus() {
    Context ctx = Context.current();
    if (ctx.getDeadline() != null && ctx.getDeadline().isExpired()) {
      return Status.DEADLINE_EXCEEDED.withDescription("the deadline passed before the response was complete");
    }
    return Status.CANCELLED.withDescription("the client cancelled the call");
  }
}
