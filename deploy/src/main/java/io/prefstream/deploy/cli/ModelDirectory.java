package io.prefstream.deploy.cli;

import io.prefstream.model.io.HfModelDir;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine;

/**
 * Checks a model directory option ({@code --model}) at the command's boundary, before the command
 * starts a broker or loads anything: the directory exists and holds the files of a Hugging Face
 * model ({@code config.json}, {@code model.safetensors} or its shard index, {@code tokenizer.json}).
 * A failure is a usage error that names the directory, the missing file and what to pass instead;
 * {@code CliOutputTest} checks the wording.
 */
final class ModelDirectory {
  static final String EXPECTED = "a Hugging Face model (a folder with config.json, model.safetensors and tokenizer.json,"
      + " e.g. models/assistant-tiny or one written by `prefstream init-model`)";

  private ModelDirectory() {}

  /** Throws a usage error on {@code cmd} when {@code dir} is not a model directory. */
  static void require(CommandLine cmd, String option, Path dir) {
    String where = dir.toAbsolutePath().normalize().toString();
    if (!Files.exists(dir)) {
      throw new CommandLine.ParameterException(cmd, "model directory " + where + " does not exist: pass " + option
          + " DIR of " + EXPECTED);
    }
    if (!Files.isDirectory(dir)) {
      throw new CommandLine.ParameterException(cmd, "model directory " + where + " is a file, not a directory: pass "
          + option + " DIR of " + EXPECTED);
    }
    String missing = !Files.isRegularFile(dir.resolve(HfModelDir.CONFIG)) ? HfModelDir.CONFIG
        : !Files.isRegularFile(dir.resolve(HfModelDir.WEIGHTS)) && !Files.isRegularFile(dir.resolve(HfModelDir.INDEX))
            ? HfModelDir.WEIGHTS
            : !Files.isRegularFile(dir.resolve("tokenizer.json")) ? "tokenizer.json" : null;
    if (missing != null) {
      throw new CommandLine.ParameterException(cmd, "model directory " + where + " has no " + missing + ": pass " + option
          + " DIR of " + EXPECTED);
    }
  }
}
