package io.prefstream.model.cuda;

/**
 * The CUDA backend cannot start on this machine: a library is missing, has no expected symbol, or
 * no device is present. The message names what is missing and where it was looked for.
 */
public final class CudaUnavailableException extends RuntimeException {
  public CudaUnavailableException(String message) {
    super(message);
  }

  public CudaUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
