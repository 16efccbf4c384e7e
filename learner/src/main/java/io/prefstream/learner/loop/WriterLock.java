package io.prefstream.learner.loop;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The first of the learner's one-writer-per-policy fences: an exclusive lock on
 * {@code <store>/<policy>/.learner.lock}, held while the learner runs, so a second learner on the
 * same store refuses to start (in this JVM or another). Tested by {@code LearnerControlTest}.
 */
final class WriterLock implements AutoCloseable {
  private final FileChannel channel;
  private final FileLock lock;

  private WriterLock(FileChannel channel, FileLock lock) {
    this.channel = channel;
    this.lock = lock;
  }

  /** Takes the lock of {@code policy} under {@code storeRoot}, or throws naming the held lock file. */
  static WriterLock acquire(Path storeRoot, String policy) throws IOException {
    Path dir = storeRoot.resolve(policy);
    Files.createDirectories(dir);
    FileChannel ch = FileChannel.open(dir.resolve(".learner.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = ch.tryLock();
    } catch (OverlappingFileLockException e) {
      lock = null;
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
    if (lock == null) {
      ch.close();
      throw new IllegalStateException("another learner is writing policy '" + policy + "' in " + storeRoot
          + " (its lock file .learner.lock is held); one writer per policy");
    }
    return new WriterLock(ch, lock);
  }

  @Override
  public void close() throws IOException {
    try {
      lock.release();
    } finally {
      channel.close();
    }
  }
}
