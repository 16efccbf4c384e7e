package io.prefstream.model.backend;

/**
 * The compute backend itself failed: a device call returned an error (out of memory, illegal
 * address, a lost device), a queued op failed so the ops after it never ran, or a kernel hit an
 * internal fault. After one, the contents of every buffer of that backend — weights, gradients,
 * optimiser moments on the device — are not trusted, so the caller must stop using the backend (the
 * online learner exits and is restarted from its last checkpoint). It is not thrown for inputs an op
 * refuses: those are {@link IllegalArgumentException}s naming the argument, thrown before the op
 * runs or changes anything.
 */
public class BackendFailure extends RuntimeException {
  public BackendFailure(String message) {
    super(message);
  }

  public BackendFailure(String message, Throwable cause) {
    super(message, cause);
  }
}
