package io.prefstream.model.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The CUDA C kernel sources shipped as resources (one kernel family per file, llm.c style) and the
 * shared header they include. Reading them needs no GPU, so the nvcc compile test and the backend
 * use the same list.
 */
public final class KernelSources {
  /** Resource folder of the kernels. */
  public static final String FOLDER = "/io/prefstream/model/cuda/kernels/";
  /** The header every kernel file includes. */
  public static final String HEADER = "common.cuh";
  /** Every kernel file, in load order. */
  public static final List<String> FILES = List.of("elementwise.cu", "embedding.cu", "rmsnorm.cu", "rope.cu",
      "swiglu.cu", "attention.cu", "kvcache.cu", "logsoftmax.cu", "adamw.cu", "sampling.cu");

  private static final Pattern KERNEL = Pattern.compile("extern \"C\" __global__ void (\\w+)\\s*\\(");

  private KernelSources() {}

  /** The text of one resource of the folder. */
  public static String read(String file) {
    try (InputStream in = KernelSources.class.getResourceAsStream(FOLDER + file)) {
      if (in == null) throw new IllegalStateException("kernel resource " + FOLDER + file + " is missing from the jar");
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read kernel resource " + file, e);
    }
  }

  /** Every file's source by name, in {@link #FILES} order. */
  public static Map<String, String> all() {
    Map<String, String> m = new LinkedHashMap<>();
    for (String f : FILES) m.put(f, read(f));
    return m;
  }

  /** The names of the extern "C" kernels a source defines. */
  public static List<String> kernelNames(String source) {
    Matcher m = KERNEL.matcher(source);
    java.util.ArrayList<String> names = new java.util.ArrayList<>();
    while (m.find()) names.add(m.group(1));
    return names;
  }
}
