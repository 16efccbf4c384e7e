package io.prefstream.model.cpu;

import io.prefstream.model.backend.BackendFailure;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;

/**
 * A fixed set of platform threads that run the index range of a parallel loop. Tasks are handed out
 * dynamically, but each kernel computes every output element inside exactly one task with an
 * arithmetic order that depends only on the element, so results never depend on the thread count
 * or on which thread ran which task. The calling thread works too; workers never call back in, so
 * concurrent callers cannot deadlock.
 */
public final class WorkerPool implements AutoCloseable {
  private static volatile WorkerPool shared;

  private final int threads;
  private final ExecutorService executor;

  public WorkerPool(int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    this.threads = threads;
    AtomicInteger id = new AtomicInteger();
    this.executor = threads == 1 ? null : Executors.newFixedThreadPool(threads - 1, r -> {
      Thread t = new Thread(r, "prefstream-cpu-" + id.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  /** The process-wide pool with one thread per available core, created on first use. */
  public static WorkerPool shared() {
    WorkerPool p = shared;
    if (p == null) {
      synchronized (WorkerPool.class) {
        p = shared;
        if (p == null) {
          p = new WorkerPool(Runtime.getRuntime().availableProcessors());
          shared = p;
        }
      }
    }
    return p;
  }

  public int threads() {
    return threads;
  }

  /**
   * Runs {@code body.accept(i)} once for every i in [0, tasks), spread over the pool. A task that
   * throws {@link IllegalArgumentException} (an op refusing its input) has it rethrown as it is; any
   * other exception of a task is an internal fault of the kernel and is rethrown as a
   * {@link BackendFailure}, since the output buffers are then partly written.
   */
  public void forEach(int tasks, IntConsumer body) {
    int helpers = Math.min(threads, tasks) - 1;
    if (helpers <= 0) {
      try {
        for (int i = 0; i < tasks; i++) body.accept(i);
      } catch (RuntimeException e) {
        throw fault(e);
      }
      return;
    }
    AtomicInteger next = new AtomicInteger();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    CountDownLatch done = new CountDownLatch(helpers);
    Runnable worker = () -> {
      try {
        drain(next, tasks, body, failure);
      } finally {
        done.countDown();
      }
    };
    for (int h = 0; h < helpers; h++) executor.execute(worker);
    drain(next, tasks, body, failure);
    try {
      done.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BackendFailure("interrupted while waiting for parallel tasks (their outputs are partly written)", e);
    }
    Throwable t = failure.get();
    if (t instanceof RuntimeException re) throw fault(re);
    if (t instanceof Error err) throw err;
    if (t != null) throw new BackendFailure("a CPU kernel task failed: " + t, t);
  }

  private static RuntimeException fault(RuntimeException e) {
    if (e instanceof IllegalArgumentException || e instanceof BackendFailure) return e;
    return new BackendFailure("a CPU kernel task failed: " + e, e);
  }

  private static void drain(AtomicInteger next, int tasks, IntConsumer body, AtomicReference<Throwable> failure) {
    int i;
    while (failure.get() == null && (i = next.getAndIncrement()) < tasks) {
      try {
        body.accept(i);
      } catch (Throwable t) {
        failure.compareAndSet(null, t);
      }
    }
  }

  @Override
  public void close() {
    if (this == shared) return; // the shared pool lives as long as the process
    if (executor != null) executor.shutdownNow();
  }
}
