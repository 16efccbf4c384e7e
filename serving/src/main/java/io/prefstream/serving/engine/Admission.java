package io.prefstream.serving.engine;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Who may run: at most {@code maxBatch} sequences whose KV caches fit the byte budget together;
 * the rest wait first-come first-served in a queue of at most {@code queueBound}, and a request
 * beyond that is refused with RESOURCE_EXHAUSTED carrying a {@code retry-after-ms} trailer. A
 * place and its KV bytes go back when the scheduler retires a sequence, which admits waiters in
 * order. All methods are guarded by the instance lock; the scheduler waits on it for work.
 */
final class Admission {
  static final Metadata.Key<String> RETRY_AFTER_MS = Metadata.Key.of("retry-after-ms", Metadata.ASCII_STRING_MARSHALLER);

  private final EngineConfig cfg;
  private final ArrayDeque<EngineSequence> waiting = new ArrayDeque<>();
  private final List<EngineSequence> admitted = new ArrayList<>();
  private int running;
  private long reserved;
  private boolean closed;

  Admission(EngineConfig cfg) {
    this.cfg = cfg;
  }

  /** Admits or queues {@code s}, or throws RESOURCE_EXHAUSTED; {@code retryAfterMs} is the hint given. */
  synchronized void submit(EngineSequence s, long retryAfterMs) {
    if (closed) throw Status.UNAVAILABLE.withDescription("the serving engine is shutting down").asRuntimeException();
    if (s.kvBytes > cfg.kvCacheBytes()) {
      throw Status.RESOURCE_EXHAUSTED.withDescription("the request needs " + s.kvBytes + " bytes of KV cache; the engine's whole budget is "
          + cfg.kvCacheBytes() + " (ask for fewer tokens)").asRuntimeException();
    }
    if (waiting.isEmpty() && fits(s)) {
      admit(s);
    } else if (waiting.size() < cfg.queueBound()) {
      waiting.add(s);
    } else {
      Metadata trailers = new Metadata();
      trailers.put(RETRY_AFTER_MS, Long.toString(retryAfterMs));
      throw Status.RESOURCE_EXHAUSTED.withDescription("the engine is running " + running + " sequences and " + waiting.size()
          + " requests are waiting (queue bound " + cfg.queueBound() + "); retry after about " + retryAfterMs + " ms")
          .asRuntimeException(trailers);
    }
    notifyAll();
  }

  private boolean fits(EngineSequence s) {
    return running < cfg.maxBatch() && reserved + s.kvBytes <= cfg.kvCacheBytes();
  }

  private void admit(EngineSequence s) {
    running++;
    reserved += s.kvBytes;
    admitted.add(s);
  }

  /** The scheduler gives back a retired sequence's place and bytes; waiters are admitted in order. */
  synchronized void retire(EngineSequence s) {
    running--;
    reserved -= s.kvBytes;
    promote();
  }

  /** Drops a cancelled request that is still waiting; true when it was waiting. */
  synchronized boolean withdraw(EngineSequence s) {
    boolean was = waiting.remove(s);
    if (was) promote();
    return was;
  }

  private void promote() {
    while (!waiting.isEmpty() && fits(waiting.peek())) admit(waiting.poll());
    notifyAll();
  }

  /**
   * Hands the newly admitted sequences to the scheduler; waits while there is nothing to run.
   * Returns null once closed.
   */
  synchronized List<EngineSequence> take(boolean haveActive) throws InterruptedException {
    while (!closed && admitted.isEmpty() && !haveActive) wait();
    if (closed) return null;
    List<EngineSequence> out = List.copyOf(admitted);
    admitted.clear();
    return out;
  }

  /** Waits a moment (or until new work comes) when every running sequence is paused. */
  synchronized void idle() throws InterruptedException {
    if (admitted.isEmpty() && !closed) wait(1);
  }

  /** Refuses new work and returns everything still waiting or not yet taken. */
  synchronized List<EngineSequence> close() {
    closed = true;
    List<EngineSequence> out = new ArrayList<>(admitted);
    out.addAll(waiting);
    admitted.clear();
    waiting.clear();
    notifyAll();
    return out;
  }

  synchronized int running() {
    return running;
  }

  synchronized int waiting() {
    return waiting.size();
  }

  synchronized long reservedBytes() {
    return reserved;
  }
}
