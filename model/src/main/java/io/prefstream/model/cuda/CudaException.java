package io.prefstream.model.cuda;

import io.prefstream.model.backend.BackendFailure;

/**
 * A CUDA driver, NVRTC or cuBLAS call returned an error. The message names the call and the
 * library's own name for the code (e.g. {@code cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2)}).
 * Errors such as illegal address (700) leave the context unusable: the backend must be closed. A
 * {@link BackendFailure}, so callers that must stop on a device fault need not know about CUDA.
 */
public final class CudaException extends BackendFailure {
  private final int code;

  public CudaException(String call, int code, String name) {
    super(call + " failed: " + name + " (" + code + ")");
    this.code = code;
  }

  public int code() {
    return code;
  }
}
