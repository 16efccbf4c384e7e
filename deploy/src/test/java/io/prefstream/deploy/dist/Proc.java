package io.prefstream.deploy.dist;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a command in a fresh process and captures its stdout, stderr and exit code (tests only). */
final class Proc {
  record Result(int exitCode, String stdout, String stderr) {}

  private Proc() {}

  /** Runs {@code command} in {@code cwd}; kills it and fails after {@code timeoutSeconds}. */
  static Result run(List<String> command, Path cwd, long timeoutSeconds) throws IOException, InterruptedException {
    Path out = Files.createTempFile("proc", ".out");
    Path err = Files.createTempFile("proc", ".err");
    try {
      Process p = new ProcessBuilder(command).directory(cwd.toFile()).redirectOutput(out.toFile())
          .redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly().waitFor();
        throw new AssertionError(command + " did not finish in " + timeoutSeconds + " s; stderr: "
            + Files.readString(err, StandardCharsets.UTF_8));
      }
      return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }
}
