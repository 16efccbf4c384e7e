package io.prefstream.model.cpu;

import io.prefstream.model.backend.BackendFailure;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A fixed set of platform threads that run the index range of a parallel loop. Tasks are handed out
 * dynamically, but each kernel computes every output element inside exactly one task with an
 * arithmetic order that depends only on the element, so results never depend on the thread count
 * or on which thread ran which task. The calling thread works too; workers never call back in, so
 * concurrent callers cannot deadlock.
 *
 * <p>A model step is hundreds of short parallel loops one after another (a decode step of a 30-layer
 * model: about 400), so handing a loop to a parked thread would cost a wake-up each time (tens of
 * microseconds on a virtual machine, a third of a small decode step). An idle helper therefore spins
 * for {@value #SPIN_MICROS} µs waiting for the next loop before it parks, and a caller waits for the
 * helpers of its loop the same way.
 */
public final class WorkerPool implements AutoCloseable {
  static final long SPIN_MICROS = 50;
  private static final long SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(SPIN_MICROS);
  private static volatile WorkerPool shared;
  /** Runs every loop on its caller: for products inside a task of another parallel loop. */
  static final WorkerPool INLINE = new WorkerPool(1);

  private final int threads;
  private final Thread[] helpers;
  private final Helper[] states;
  private final ConcurrentLinkedQueue<Job> jobs = new ConcurrentLinkedQueue<>();
  private volatile boolean closed;

  /** One parallel loop: its next index, its helpers at work, its first failure. */
  private static final class Job {
    final int tasks;
    final IntConsumer body;
    final AtomicInteger next = new AtomicInteger();
    final AtomicInteger active = new AtomicInteger();
    final AtomicReference<Throwable> failure = new AtomicReference<>();
    volatile Thread waiter;

    Job(int tasks, IntConsumer body) {
      this.tasks = tasks;
      this.body = body;
    }

    boolean exhausted() {
      return next.get() >= tasks || failure.get() != null;
    }
  }

  private static final class Helper {
    volatile boolean parked;
  }

  public WorkerPool(int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    this.threads = threads;
    this.helpers = new Thread[threads - 1];
    this.states = new Helper[threads - 1];
    for (int h = 0; h < helpers.length; h++) {
      Helper state = new Helper();
      states[h] = state;
      helpers[h] = Thread.ofPlatform().name("prefstream-cpu-" + (h + 1)).daemon().start(() -> work(state));
    }
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
    if (Math.min(threads, tasks) <= 1 || closed) {
      try {
        for (int i = 0; i < tasks; i++) body.accept(i);
      } catch (RuntimeException e) {
        throw fault(e);
      }
      return;
    }
    Job job = new Job(tasks, body);
    job.waiter = Thread.currentThread();
    jobs.add(job);
    int wanted = Math.min(threads, tasks) - 1;
    for (int h = 0; h < helpers.length && wanted > 0; h++) {
      if (states[h].parked) {
        LockSupport.unpark(helpers[h]);
        wanted--;
      }
    }
    drain(job);
    jobs.remove(job); // no helper joins it from now on
    // Helpers that joined may still run the last tasks: wait for them (they are short).
    long spinUntil = System.nanoTime() + SPIN_NANOS;
    while (job.active.get() > 0) {
      if (System.nanoTime() < spinUntil) Thread.onSpinWait();
      else LockSupport.parkNanos(this, 50_000);
    }
    Throwable t = job.failure.get();
    if (t instanceof RuntimeException re) throw fault(re);
    if (t instanceof Error err) throw err;
    if (t != null) throw new BackendFailure("a CPU kernel task failed: " + t, t);
  }

  private void work(Helper state) {
    long idleSince = System.nanoTime();
    while (!closed) {
      Job job = jobs.peek();
      if (job == null) {
        if (System.nanoTime() - idleSince < SPIN_NANOS) {
          Thread.onSpinWait();
          continue;
        }
        state.parked = true;
        if (jobs.isEmpty() && !closed) LockSupport.park(this); // a submitter that added a job after this check unparks us
        state.parked = false;
        idleSince = System.nanoTime();
        continue;
      }
      job.active.incrementAndGet();
      try {
        // A job whose indices are all taken (or that failed) needs no help: a late helper runs nothing.
        if (!job.exhausted()) drain(job);
      } finally {
        if (job.active.decrementAndGet() == 0) LockSupport.unpark(job.waiter);
      }
      if (job.exhausted()) jobs.remove(job);
      idleSince = System.nanoTime();
    }
  }

  private static RuntimeException fault(RuntimeException e) {
    if (e instanceof IllegalArgumentException || e instanceof BackendFailure) return e;
    return new BackendFailure("a CPU kernel task failed: " + e, e);
  }

  private static void drain(Job job) {
    int i;
    while (job.failure.get() == null && (i = job.next.getAndIncrement()) < job.tasks) {
      try {
        job.body.accept(i);
      } catch (Throwable t) {
        job.failure.compareAndSet(null, t);
      }
    }
  }

  @Override
  public void close() {
    if (this == shared) return; // the shared pool lives as long as the process
    closed = true;
    for (Thread h : helpers) LockSupport.unpark(h);
  }
}
