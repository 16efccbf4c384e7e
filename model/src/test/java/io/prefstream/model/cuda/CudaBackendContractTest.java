package io.prefstream.model.cuda;

import io.prefstream.model.backend.Backend;
import io.prefstream.model.backend.BackendContractTest;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * The backend contract (float64 references and finite differences, float32 tolerances) on the GPU,
 * with every weight kept in float32 so the contract's tolerances apply. Skipped, with the reason,
 * where no CUDA device and libraries are found.
 */
class CudaBackendContractTest extends BackendContractTest {
  private static CudaBackend gpu;
  private static String unavailable;

  @BeforeAll
  static void open(@TempDir Path cache) {
    CudaLibraries.Discovery d = CudaLibraries.discover();
    if (!d.found()) {
      unavailable = "no CUDA device: " + d.reason();
      return;
    }
    try {
      gpu = CudaBackend.open(d.libraries().get(), 0, cache, true, false);
    } catch (CudaUnavailableException e) {
      unavailable = "no CUDA device: " + e.getMessage();
    }
  }

  @AfterAll
  static void close() {
    if (gpu != null) gpu.close();
  }

  @Override
  protected Backend backend() {
    Assumptions.assumeTrue(gpu != null, unavailable);
    return gpu;
  }

  @Override
  protected int logSoftmaxChunk() {
    return CudaBackend.LOGSOFTMAX_CHUNK;
  }
}
