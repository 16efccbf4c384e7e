package io.prefstream.model.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Compiles the kernel files with NVRTC for the device's exact {@code sm_XY} to CUBIN and keeps the
 * images on disk keyed by source hash (kernel + header) + architecture + NVRTC version, so later
 * starts skip compilation. A cache entry is written to a temporary file and renamed into place.
 * PTX is never used: PTX newer than the driver is refused (CUDA_ERROR_UNSUPPORTED_PTX_VERSION).
 */
final class KernelCache {
  private static final Logger log = LoggerFactory.getLogger(KernelCache.class);
  private final Path dir;
  private final Nvrtc nvrtc;
  private final String nvrtcVersion;

  KernelCache(Path dir, Nvrtc nvrtc) {
    this.dir = dir;
    this.nvrtc = nvrtc;
    this.nvrtcVersion = nvrtc.version();
  }

  /** Default folder: -Dprefstream.cuda.cache, else $XDG_CACHE_HOME/prefstream/cuda, else ~/.cache/prefstream/cuda. */
  static Path defaultDir() {
    String p = System.getProperty("prefstream.cuda.cache");
    if (p != null && !p.isBlank()) return Path.of(p);
    String xdg = System.getenv("XDG_CACHE_HOME");
    if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "prefstream", "cuda");
    return Path.of(System.getProperty("user.home"), ".cache", "prefstream", "cuda");
  }

  /** The CUBIN of one kernel file for arch (e.g. "sm_90"), from the cache or freshly compiled. */
  byte[] cubin(String file, String source, String header, String arch) {
    String key = hash(source + "\u0000" + header) + "-" + arch + "-nvrtc" + nvrtcVersion;
    Path cached = dir.resolve(file.replace(".cu", "") + "-" + key + ".cubin");
    try {
      if (Files.isRegularFile(cached)) return Files.readAllBytes(cached);
      long t0 = System.nanoTime();
      byte[] image = nvrtc.compileToCubin(file, source, Map.of(KernelSources.HEADER, header),
          List.of("--gpu-architecture=" + arch, "--std=c++17", "-lineinfo"));
      log.info("compiled {} for {} with NVRTC {} in {} ms", file, arch, nvrtcVersion, (System.nanoTime() - t0) / 1_000_000);
      Files.createDirectories(dir);
      Path tmp = Files.createTempFile(dir, file, ".tmp");
      Files.write(tmp, image);
      Files.move(tmp, cached, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      return image;
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("kernel cache at " + dir + " failed for " + file, e);
    }
  }

  static String hash(String s) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d, 0, 12);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }
}
