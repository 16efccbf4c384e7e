package io.prefstream.deploy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * docs/cli-reference.md is every command's {@code --help}, generated from picocli's CommandSpec, so the
 * reference of every command and flag is written once, by the code. This test regenerates it and
 * fails when the file differs; {@code -Dprefstream.docs.write=true} rewrites the file instead.
 */
class CliReferenceTest {
  private static final Path REFERENCE = Path.of("..", "docs", "cli-reference.md");

  @Test
  void cliReferenceIsTheCurrentHelpOfEveryCommand() throws Exception {
    String generated = render();
    if (Boolean.getBoolean("prefstream.docs.write")) Files.writeString(REFERENCE, generated);
    assertThat(REFERENCE).as("docs/cli-reference.md exists").exists();
    assertThat(Files.readString(REFERENCE))
        .as("docs/cli-reference.md is out of date: run ./mvnw -pl deploy -am verify -Dtest=CliReferenceTest"
            + " -Dsurefire.failIfNoSpecifiedTests=false -Dprefstream.docs.write=true")
        .isEqualTo(generated);
  }

  static String render() {
    StringBuilder md = new StringBuilder("""
        # Command reference

        Generated from the CLI by `CliReferenceTest` (it fails when this file and the code disagree);
        the same text as `prefstream COMMAND --help`. Where settings come from (flags, `PREFSTREAM_*`
        variables, the properties file) is in [operators.md](operators.md#settings-logs-and-errors).

        """);
    CommandLine root = Main.commandLine();
    append(md, root, 2);
    return md.toString();
  }

  private static void append(StringBuilder md, CommandLine cmd, int level) {
    String name = cmd.getCommandSpec().qualifiedName(" ");
    md.append("#".repeat(level)).append(" `").append(name).append("`\n\n```\n");
    StringWriter help = new StringWriter();
    cmd.usage(new PrintWriter(help), CommandLine.Help.Ansi.OFF);
    md.append(help.toString().stripTrailing()).append("\n```\n\n");
    for (CommandLine sub : cmd.getSubcommands().values()) {
      if (sub.getCommandSpec().parent() == cmd.getCommandSpec() && sub.getCommandName().equals(sub.getCommandSpec().name())) {
        append(md, sub, Math.min(level + 1, 3));
      }
    }
  }
}
