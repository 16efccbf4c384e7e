package io.prefstream.model.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Checks every bound native symbol against the CUDA headers when they are installed: the function
 * is declared (directly, or under the unversioned name that a {@code #define} maps to it, as
 * {@code cuMemAlloc → cuMemAlloc_v2}) with as many parameters as the FFM descriptor binds. A cheap
 * guard against typos that would otherwise only show on a GPU.
 */
class HeaderSignatureTest {
  private static Optional<Path> header(String file) {
    List<Path> roots = new ArrayList<>();
    for (String v : List.of("CUDA_HOME", "CUDA_PATH")) {
      String r = System.getenv(v);
      if (r != null && !r.isBlank()) roots.add(Path.of(r));
    }
    roots.add(Path.of("/usr/local/cuda"));
    for (Path r : roots) {
      for (Path p : List.of(r.resolve("include").resolve(file), r.resolve("targets/x86_64-linux/include").resolve(file))) {
        if (Files.isRegularFile(p)) return Optional.of(p);
      }
    }
    return Optional.empty();
  }

  /** Parameter count of the declaration of name (or of the macro name defined to it), or -1. */
  static int declaredParameters(String text, String symbol) {
    int n = parameters(text, symbol);
    if (n >= 0) return n;
    Matcher alias = Pattern.compile("#define\\s+(\\w+)\\s+(?:__CUDA_API_PT\\w*\\()?" + Pattern.quote(symbol) + "\\b").matcher(text);
    while (alias.find()) {
      n = parameters(text, alias.group(1));
      if (n >= 0) return n;
    }
    return -1;
  }

  private static int parameters(String text, String name) {
    // a declaration: "name(" preceded by a return type or API macro, its parameter list, then ';'
    for (int at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1)) {
      int end = at + name.length();
      if (at > 0 && (Character.isLetterOrDigit(text.charAt(at - 1)) || text.charAt(at - 1) == '_')) continue;
      int open = end;
      while (open < text.length() && Character.isWhitespace(text.charAt(open))) open++;
      if (open >= text.length() || text.charAt(open) != '(') continue;
      int before = at - 1;
      while (before >= 0 && (text.charAt(before) == ' ' || text.charAt(before) == '*' || text.charAt(before) == '\t')) before--;
      if (before < 0 || !(Character.isLetterOrDigit(text.charAt(before)) || text.charAt(before) == '_')) continue;
      int close = text.indexOf(')', open);
      int semi = close < 0 ? -1 : close + 1;
      while (semi > 0 && semi < text.length() && Character.isWhitespace(text.charAt(semi))) semi++;
      if (close < 0 || semi >= text.length() || text.charAt(semi) != ';') continue;
      String params = text.substring(open + 1, close).replaceAll("(?s)/\\*.*?\\*/", "").trim();
      if (params.contains("(")) continue; // function-pointer parameters are not in our bindings
      if (params.isEmpty() || params.equals("void")) return 0;
      return params.split(",").length;
    }
    return -1;
  }

  private static void checkAll(String file, List<Sig> sigs) throws IOException {
    Optional<Path> h = header(file);
    Assumptions.assumeTrue(h.isPresent(), file + " is not installed (no CUDA toolkit headers here)");
    String text = Files.readString(h.get());
    for (Sig s : sigs) {
      assertThat(declaredParameters(text, s.symbol())).as("%s in %s", s.symbol(), h.get()).isEqualTo(s.parameterCount());
    }
  }

  @Test
  void driverBindingsMatchCudaH() throws IOException {
    checkAll("cuda.h", CuDriver.SIGNATURES);
  }

  @Test
  void nvrtcBindingsMatchNvrtcH() throws IOException {
    checkAll("nvrtc.h", Nvrtc.SIGNATURES);
  }

  @Test
  void cublasBindingsMatchCublasApiH() throws IOException {
    checkAll("cublas_api.h", Cublas.SIGNATURES);
  }

  @Test
  void parserCountsParametersAndFollowsVersionedDefines() {
    String text = """
        #define cuMemAlloc cuMemAlloc_v2
        #define cuLaunch __CUDA_API_PTSZ(cuLaunch_ptsz)
        CUresult CUDAAPI cuMemAlloc(CUdeviceptr *dptr, size_t bytesize);
        CUresult CUDAAPI cuLaunch(CUfunction f, unsigned int x, /* a comment */ void **extra);
        CUresult CUDAAPI cuCtxSynchronize(void);
        const char* CUBLASWINAPI cublasGetStatusName(cublasStatus_t status);
        """;
    assertThat(declaredParameters(text, "cuMemAlloc_v2")).isEqualTo(2);
    assertThat(declaredParameters(text, "cuLaunch_ptsz")).isEqualTo(3);
    assertThat(declaredParameters(text, "cuCtxSynchronize")).isZero();
    assertThat(declaredParameters(text, "cublasGetStatusName")).isEqualTo(1);
    assertThat(declaredParameters(text, "cuMissing")).isEqualTo(-1);
  }
}
