package io.prefstream.model.backend;

import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.cuda.CudaBackend;
import io.prefstream.model.cuda.CudaLibraries;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Picks the compute backend for {@code --device auto|cpu|cuda}. {@code auto} takes CUDA when the
 * libraries are found and a device opens, else the CPU, and says which and why in {@link Choice} (the
 * caller prints it; the log gets it at debug); {@code cuda} fails
 * with a message naming what is missing; {@code cpu} never touches CUDA (nothing CUDA is loaded
 * unless asked for).
 */
public final class Backends {
  private static final Logger log = LoggerFactory.getLogger(Backends.class);

  /** The backend chosen and the reason, for a start-up line. */
  public record Choice(Backend backend, String device, String reason) {}

  private Backends() {}

  /** Creates the backend for a --device value. */
  public static Backend create(String device) {
    return choose(device).backend();
  }

  /** {@link #create} with the reason it chose what it chose. */
  public static Choice choose(String device) {
    String d = device == null ? "auto" : device.trim().toLowerCase(Locale.ROOT);
    return switch (d) {
      case "cpu" -> {
        log.debug("device: cpu (requested)");
        yield new Choice(new CpuBackend(), "cpu", "requested");
      }
      case "cuda", "gpu" -> {
        CudaBackend b = CudaBackend.open();
        log.debug("device: cuda on {} (requested)", b.deviceName());
        yield new Choice(b, "cuda", "requested; " + b.deviceName() + " " + b.arch());
      }
      case "auto" -> auto();
      default -> throw new IllegalArgumentException("--device must be auto, cpu or cuda, got '" + device + "'");
    };
  }

  private static Choice auto() {
    CudaLibraries.Discovery found = CudaLibraries.discover();
    if (!found.found()) {
      String why = "no CUDA: " + found.reason();
      log.debug("device: cpu ({})", why);
      return new Choice(new CpuBackend(), "cpu", why);
    }
    try {
      CudaBackend b = CudaBackend.open();
      String why = "GPU " + b.deviceName() + " (" + b.arch() + ") and the CUDA libraries were found";
      log.debug("device: cuda ({})", why);
      return new Choice(b, "cuda", why);
    } catch (RuntimeException e) {
      String why = "CUDA libraries found but the GPU did not open: " + e.getMessage();
      log.debug("device: cpu ({})", why);
      return new Choice(new CpuBackend(), "cpu", why);
    }
  }
}
