package io.prefstream.deploy.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream demo}: the whole loop on one machine. Until step 6 of the project lands it says
 * so and exits with code 2, so that scripts do not mistake it for a finished run.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = "Run the whole loop on one machine: embedded Kafka, ingest, learner, gRPC server, simulated users.")
public final class DemoCommand implements Callable<Integer> {
  /** The exit code while the demo is not there yet. */
  public static final int NOT_YET = 2;

  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().getErr().println("prefstream demo: coming in a later version (step 6)");
    return NOT_YET;
  }
}
