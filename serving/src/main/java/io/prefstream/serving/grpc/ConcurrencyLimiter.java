package io.prefstream.serving.grpc;

import io.grpc.Status;
import io.prefstream.serving.metrics.ServingMetrics;
import java.util.concurrent.Semaphore;

/**
 * Bounds the model work running at once. A request that finds every permit taken is refused at
 * once with RESOURCE_EXHAUSTED rather than queued: under overload a fast, explicit refusal lets
 * clients back off or go to another replica, while a queue would only turn into deadline errors.
 */
final class ConcurrencyLimiter {
  private final Semaphore permits;
  private final int limit;
  private final ServingMetrics metrics;

  ConcurrencyLimiter(int limit, ServingMetrics metrics) {
    this.permits = new Semaphore(limit);
    this.limit = limit;
    this.metrics = metrics;
  }

  /** A held permit; close it when the work is done. */
  interface Permit extends AutoCloseable {
    @Override
    void close();
  }

  Permit acquire() {
    if (!permits.tryAcquire()) {
      metrics.rejected.inc();
      throw Status.RESOURCE_EXHAUSTED
          .withDescription("the server is running its limit of " + limit + " concurrent requests; retry later")
          .asRuntimeException();
    }
    metrics.inFlight.inc();
    return new Permit() {
      private boolean closed;

      @Override
      public synchronized void close() {
        if (closed) return;
        closed = true;
        metrics.inFlight.dec();
        permits.release();
      }
    };
  }
}
