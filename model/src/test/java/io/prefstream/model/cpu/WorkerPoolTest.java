package io.prefstream.model.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.backend.BackendFailure;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The pool runs every index exactly once, for concurrent callers too, and reports task failures. */
@Timeout(60)
class WorkerPoolTest {

  @Test
  void everyIndexRunsExactlyOnceAcrossManyBackToBackLoops() {
    try (WorkerPool pool = new WorkerPool(3)) {
      for (int round = 0; round < 2_000; round++) {
        int tasks = 1 + round % 17;
        AtomicIntegerArray hits = new AtomicIntegerArray(tasks);
        pool.forEach(tasks, hits::incrementAndGet);
        for (int i = 0; i < tasks; i++) assertThat(hits.get(i)).as("round %d index %d", round, i).isEqualTo(1);
      }
    }
  }

  @Test
  void helpersReallyTakePartAndTheLoopWaitsForThem() throws Exception {
    try (WorkerPool pool = new WorkerPool(2)) {
      // Two tasks that only finish together: the caller alone would wait forever.
      CountDownLatch both = new CountDownLatch(2);
      AtomicReference<String> helper = new AtomicReference<>();
      pool.forEach(2, i -> {
        both.countDown();
        try {
          assertThat(both.await(20, TimeUnit.SECONDS)).isTrue();
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
        if (!Thread.currentThread().getName().equals("main")) helper.compareAndSet(null, Thread.currentThread().getName());
      });
      assertThat(both.getCount()).isZero();
      // And after a pause long enough for the helper to park, it is woken again.
      Thread.sleep(20);
      CountDownLatch again = new CountDownLatch(2);
      pool.forEach(2, i -> {
        again.countDown();
        try {
          assertThat(again.await(20, TimeUnit.SECONDS)).isTrue();
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
      });
    }
  }

  @Test
  void concurrentCallersEachGetTheirWholeLoop() throws Exception {
    try (WorkerPool pool = new WorkerPool(2)) {
      ExecutorService callers = Executors.newFixedThreadPool(4);
      List<Future<?>> done = new ArrayList<>();
      for (int c = 0; c < 4; c++) {
        done.add(callers.submit(() -> {
          for (int round = 0; round < 500; round++) {
            AtomicIntegerArray hits = new AtomicIntegerArray(9);
            pool.forEach(9, hits::incrementAndGet);
            for (int i = 0; i < 9; i++) assertThat(hits.get(i)).isEqualTo(1);
          }
          return null;
        }));
      }
      for (Future<?> f : done) f.get(50, TimeUnit.SECONDS);
      callers.shutdown();
    }
  }

  @Test
  void aRefusedInputStaysAnIllegalArgumentAndAFaultBecomesABackendFailure() {
    try (WorkerPool pool = new WorkerPool(2)) {
      assertThatThrownBy(() -> pool.forEach(8, i -> {
        if (i == 5) throw new IllegalArgumentException("bad shape");
      })).isInstanceOf(IllegalArgumentException.class).hasMessage("bad shape");
      assertThatThrownBy(() -> pool.forEach(8, i -> {
        if (i == 6) throw new ArrayIndexOutOfBoundsException(99);
      })).isInstanceOf(BackendFailure.class).hasMessageContaining("a CPU kernel task failed");
      // The pool still works after failures.
      AtomicIntegerArray hits = new AtomicIntegerArray(4);
      pool.forEach(4, hits::incrementAndGet);
      assertThat(hits.get(3)).isEqualTo(1);
    }
  }

  @Test
  void aClosedPoolRunsLoopsOnTheCaller() {
    WorkerPool pool = new WorkerPool(3);
    pool.close();
    List<String> threads = java.util.Collections.synchronizedList(new ArrayList<>());
    pool.forEach(6, i -> threads.add(Thread.currentThread().getName()));
    assertThat(threads).hasSize(6).containsOnly(Thread.currentThread().getName());
  }
}
