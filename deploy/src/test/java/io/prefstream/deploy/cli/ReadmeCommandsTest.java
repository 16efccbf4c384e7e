package io.prefstream.deploy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Every {@code prefstream <command> --option} the README and the docs (every {@code docs/*.md}) show
 * exists: the command is one of the CLI's subcommands and each option written after it on the same
 * line (up to a table cell's end or a shell comment) is one of that command's options. Docs cannot
 * name a flag the code does not have.
 */
class ReadmeCommandsTest {
  private static final Pattern USE = Pattern.compile("prefstream\\s+([a-z][a-z-]*)((?:\\s+[^|#`\\n]*)?)");
  private static final Pattern OPTION = Pattern.compile("(?<![\\w-])(--[a-z][a-z0-9-]*)");

  @Test
  void everyCommandAndOptionTheReadmeShowsExists() throws Exception {
    StringBuilder all = new StringBuilder(Files.readString(Path.of("..", "README.md")));
    try (var docs = Files.list(Path.of("..", "docs"))) {
      for (Path doc : docs.filter(p -> p.toString().endsWith(".md")).sorted().toList()) {
        all.append('\n').append(Files.readString(doc));
      }
    }
    String readme = all.toString();
    CommandLine cli = Main.commandLine();
    List<String> problems = new ArrayList<>();
    int checked = 0;
    Matcher m = USE.matcher(readme);
    while (m.find()) {
      String command = m.group(1);
      if (List.of("demo-report", "launcher").contains(command)) continue;
      CommandLine sub = cli.getSubcommands().get(command);
      if (sub == null) {
        // prose such as "prefstream is ..." is not a command line
        if (readme.substring(Math.max(0, m.start() - 2), m.start()).matches(".*[`/.]")) {
          problems.add("'prefstream " + command + "' is not a command");
        }
        continue;
      }
      Matcher o = OPTION.matcher(m.group(2));
      while (o.find()) {
        checked++;
        String opt = o.group(1);
        if (sub.getCommandSpec().findOption(opt) == null && !hasSubcommandWith(sub, opt)) {
          problems.add("prefstream " + command + " has no option " + opt);
        }
      }
    }
    assertThat(problems).isEmpty();
    assertThat(checked).as("options checked").isGreaterThan(20);
  }

  private static boolean hasSubcommandWith(CommandLine cmd, String opt) {
    for (CommandLine s : cmd.getSubcommands().values()) {
      if (s.getCommandSpec().findOption(opt) != null) return true;
    }
    return false;
  }
}
