package io.prefstream.deploy.cli;

import java.util.Map;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;

/**
 * Entry point of the {@code prefstream} command: builds the picocli command tree from {@link
 * PrefstreamCommand}, lets {@link ConfigSources} fill every option not given as a flag (environment,
 * then the {@code --config} file), runs the chosen subcommand and exits with its code.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.exit(run(args, System.getenv()));
  }

  /** Parses and runs {@code args}; returns the exit code instead of exiting. */
  public static int run(String[] args, Map<String, String> env) {
    return run(args, env, commandLine());
  }

  /** Runs {@code args} on {@code cli} (whose out/err a test may have redirected). */
  public static int run(String[] args, Map<String, String> env, CommandLine cli) {
    ConfigSources sources;
    try {
      sources = ConfigSources.from(args, env);
    } catch (RuntimeException e) {
      cli.getErr().println("prefstream: " + e.getMessage());
      return CommandLine.ExitCode.USAGE;
    }
    cli.setDefaultValueProvider(sources);
    return cli.execute(args);
  }

  /** The command tree with the project's parsing settings, without a default-value provider. */
  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new PrefstreamCommand());
    cli.setCaseInsensitiveEnumValuesAllowed(true);
    // A failing command prints its message, not a stack trace; the cause goes to the log.
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      LoggerFactory.getLogger(Main.class).debug("command failed", e);
      commandLine.getErr().println("prefstream " + commandLine.getCommandName() + ": " + describe(e));
      return CommandLine.ExitCode.SOFTWARE;
    });
    return cli;
  }

  private static String describe(Throwable e) {
    StringBuilder message = new StringBuilder(String.valueOf(e.getMessage()));
    for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
      if (c.getMessage() != null && !message.toString().contains(c.getMessage())) {
        message.append(" (caused by ").append(c.getClass().getSimpleName()).append(": ").append(c.getMessage()).append(')');
      }
    }
    return message.toString();
  }
}
