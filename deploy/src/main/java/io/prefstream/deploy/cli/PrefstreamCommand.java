package io.prefstream.deploy.cli;

import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The root {@code prefstream} command. Each subcommand is one class in this package, listed in
 * {@code subcommands} below; adding a command means writing its class (a {@code Callable<Integer>}
 * annotated with {@code @Command(name = ..., mixinStandardHelpOptions = true)}) and adding it to
 * that list. Options of every command may also come from the environment or a {@code --config}
 * file, see {@link ConfigSources}.
 */
@Command(
    name = "prefstream",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "Online preference learning (DPO/KTO) from Kafka feedback, served over gRPC with hot swaps.",
    footer = {
      "",
      "Every option can also be set as PREFSTREAM_<COMMAND>_<OPTION> or PREFSTREAM_<OPTION> in the"
          + " environment, or as <command>.<option> or <option> in the --config properties file"
          + " (--data-dir of broker: PREFSTREAM_BROKER_DATA_DIR, broker.data.dir)."
          + " Flags win over variables, variables over the file.",
      "",
      "Run `prefstream COMMAND --help` for a command's options."
    },
    subcommands = {BrokerCommand.class, DemoCommand.class, IngestCommand.class,
        InitModelCommand.class, GenerateCommand.class, ScoreCommand.class, SftCommand.class, DemoCorpusCommand.class,
        LearnCommand.class, TrainCommand.class, ServeCommand.class, RolloutCommand.class})
public final class PrefstreamCommand implements Runnable {
  @Spec CommandSpec spec;

  // Read by ConfigSources before parsing (picocli fills defaults first); declared so that it is
  // accepted, documented and inherited by every subcommand.
  @Option(
      names = ConfigSources.CONFIG_FLAG,
      paramLabel = "FILE",
      scope = ScopeType.INHERIT,
      description = "Properties file with settings (key=value; see below). Env: PREFSTREAM_CONFIG.")
  Path config;

  @Override
  public void run() {
    throw new ParameterException(spec.commandLine(), "Missing command: say which part to run, e.g. `prefstream broker`.");
  }
}
