package io.prefstream.deploy.cli;

import java.io.PrintWriter;
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
    // A usage error says what was wrong and where to read more, not the whole usage text.
    cli.setParameterExceptionHandler((e, args) -> {
      CommandLine commandLine = e.getCommandLine();
      PrintWriter err = commandLine.getErr();
      err.println(commandName(commandLine) + ": " + e.getMessage());
      CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
      err.println("Run `" + commandName(commandLine) + " --help` for its options.");
      err.flush();
      return commandLine.getCommandSpec().exitCodeOnInvalidInput();
    });
    // A failing command prints its message, not a stack trace; the cause goes to the log.
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      LoggerFactory.getLogger(Main.class).debug("command failed", e);
      commandLine.getErr().println(commandName(commandLine) + ": " + describe(e));
      return CommandLine.ExitCode.SOFTWARE;
    });
    return cli;
  }

  /** "prefstream rollout promote": the command's full name as typed. */
  private static String commandName(CommandLine commandLine) {
    return commandLine.getCommandSpec().qualifiedName(" ");
  }

  /**
   * The exception's message with its causes' messages; an I/O exception whose message is a bare path
   * (NoSuchFileException, AccessDeniedException …) also says what happened to that path.
   */
  static String describe(Throwable e) {
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (c instanceof io.grpc.StatusRuntimeException rpc) return describeRpc(rpc.getStatus());
      if (c == c.getCause()) break;
    }
    StringBuilder message = new StringBuilder(fileProblem(e).orElse(String.valueOf(e.getMessage())));
    for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
      if (c.getMessage() != null && !message.toString().contains(c.getMessage())) {
        message.append(" (caused by ").append(fileProblem(c).orElse(c.getClass().getSimpleName() + ": " + c.getMessage()))
            .append(')');
      }
    }
    return message.toString();
  }

  private static java.util.Optional<String> fileProblem(Throwable e) {
    if (!(e instanceof java.nio.file.FileSystemException f) || f.getFile() == null) return java.util.Optional.empty();
    String what = switch (f) {
      case java.nio.file.NoSuchFileException x -> "no such file or directory";
      case java.nio.file.AccessDeniedException x -> "permission denied (check the owner and mode of the file and its folders)";
      case java.nio.file.FileAlreadyExistsException x -> "already exists";
      case java.nio.file.NotDirectoryException x -> "is not a directory";
      case java.nio.file.DirectoryNotEmptyException x -> "directory is not empty";
      default -> f.getReason() != null ? f.getReason() : f.getClass().getSimpleName();
    };
    return java.util.Optional.of(f.getFile() + (f.getOtherFile() != null ? " -> " + f.getOtherFile() : "") + ": " + what);
  }

  private static final java.util.regex.Pattern LAST_PICK_FAILURE =
      java.util.regex.Pattern.compile("Last Pick Failure=Status\\{code=(\\w+), description=([^,]*), cause=[^:]*: ([^\\n]*)");

  /**
   * A failed RPC as one line: the status, its description without gRPC's connection-state dump, and
   * what to check for the statuses a user can act on.
   */
  static String describeRpc(io.grpc.Status status) {
    String description = status.getDescription() == null ? "" : status.getDescription();
    java.util.regex.Matcher pick = LAST_PICK_FAILURE.matcher(description);
    String detail = pick.find() ? "no answer in time; last connection attempt: " + pick.group(1) + ", " + pick.group(3)
        : description.lines().findFirst().orElse("").replaceFirst(" \\[.*", "");
    if (detail.isEmpty() && status.getCause() != null) detail = String.valueOf(status.getCause().getMessage());
    String hint = switch (status.getCode()) {
      case UNAVAILABLE, DEADLINE_EXCEEDED -> ": is `prefstream serve` running at --target, and reachable from here?";
      case UNAUTHENTICATED, PERMISSION_DENIED -> ": check --admin-token (the serving replica's PREFSTREAM_SERVE_ADMIN_TOKEN)";
      default -> "";
    };
    return status.getCode() + (detail.isEmpty() ? "" : ": " + detail) + hint;
  }
}
