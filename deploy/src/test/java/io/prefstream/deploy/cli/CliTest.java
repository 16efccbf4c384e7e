package io.prefstream.deploy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CliTest {
  /** One run of the CLI with captured output. */
  private record Run(int exitCode, String out, String err) {}

  private static Run run(Map<String, String> env, String... args) {
    CommandLine cli = Main.commandLine();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = Main.run(args, env, cli);
    return new Run(code, out.toString(), err.toString());
  }

  private static Run run(String... args) {
    return run(Map.of(), args);
  }

  @Test
  void helpWorksForTheRootAndEveryCommand() {
    Run root = run("--help");
    assertThat(root.exitCode()).isZero();
    assertThat(root.out()).startsWith("Usage: prefstream").contains("broker", "demo", "PREFSTREAM_");

    var commands = Main.commandLine().getSubcommands().keySet();
    assertThat(commands).contains("broker", "demo");
    for (String command : commands) {
      Run help = run(command, "--help");
      assertThat(help.exitCode()).as(command).isZero();
      assertThat(help.out()).as(command).startsWith("Usage: prefstream " + command).contains("--help");
    }
  }

  @Test
  void brokerHelpDocumentsItsOptionsAndDefaults() {
    Run help = run("broker", "--help");
    assertThat(help.out()).contains("--data-dir", "--port", "--host", "--broker-property", "--config", "9092", "127.0.0.1");
  }

  @Test
  void demoHelpDocumentsItsOptionsAndABadPreferenceIsAUsageError() {
    Run help = run("demo", "--help");
    assertThat(help.exitCode()).isZero();
    assertThat(help.out()).contains("--preference", "concise|polite|keyword:WORD", "--duration", "--users",
        "--bootstrap-servers", "--report-dir", "3m");

    Run bad = run("demo", "--preference", "funny");
    assertThat(bad.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(bad.err()).contains("--preference: unknown preference 'funny'; expected concise, polite or keyword:WORD");

    Run empty = run("demo", "--preference", "keyword:");
    assertThat(empty.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(empty.err()).contains("no word after keyword:");
  }

  @Test
  void versionNamesPrefstreamAndTheJavaRuntime() {
    Run version = run("--version");
    assertThat(version.exitCode()).isZero();
    assertThat(version.out()).contains("prefstream").contains("Java " + Runtime.version().feature());
  }

  @Test
  void noCommandOrAnUnknownOneIsAUsageError() {
    Run none = run();
    assertThat(none.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(none.err()).contains("Missing command");

    Run unknown = run("frobnicate");
    assertThat(unknown.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(unknown.err()).contains("frobnicate");
  }

  @Test
  void aMissingConfigFileIsReportedWithItsPath(@TempDir Path dir) {
    Path missing = dir.resolve("nope.properties");
    Run r = run("broker", "--config", missing.toString());
    assertThat(r.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(r.err()).contains(missing.toString()).contains("does not exist");
  }

  // ConfigSources: flags > env (command-scoped, then global) > file (command-scoped, then global).

  private static BrokerCommand parseBroker(Map<String, String> env, String... args) {
    CommandLine cli = Main.commandLine();
    cli.setDefaultValueProvider(ConfigSources.from(args, env));
    CommandLine.ParseResult parsed = cli.parseArgs(args);
    return (BrokerCommand) parsed.subcommand().commandSpec().userObject();
  }

  @Test
  void optionDefaultsApplyWhenNothingElseIsSet() {
    BrokerCommand broker = parseBroker(Map.of(), "broker");
    assertThat(broker.options().port()).isEqualTo(9092);
    assertThat(broker.options().host()).isEqualTo("127.0.0.1");
    assertThat(broker.options().dataDir()).isNull();
  }

  @Test
  void configFileSetsOptionsAndCommandScopedKeysWin(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("prefstream.properties");
    Files.writeString(file, "port=1111\nbroker.port=2222\ndata.dir=/srv/kafka\n");

    BrokerCommand broker = parseBroker(Map.of(), "broker", "--config", file.toString());

    assertThat(broker.options().port()).isEqualTo(2222);
    assertThat(broker.options().dataDir()).isEqualTo(Path.of("/srv/kafka"));
  }

  @Test
  void environmentBeatsTheFileAndFlagsBeatTheEnvironment(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("prefstream.properties");
    Files.writeString(file, "broker.port=2222\nhost=10.0.0.1\n");
    Map<String, String> env = Map.of(
        "PREFSTREAM_CONFIG", file.toString(),
        "PREFSTREAM_PORT", "3333",
        "PREFSTREAM_BROKER_PORT", "4444");

    BrokerCommand fromEnv = parseBroker(env, "broker");
    assertThat(fromEnv.options().port()).isEqualTo(4444);
    assertThat(fromEnv.options().host()).isEqualTo("10.0.0.1");

    BrokerCommand fromFlag = parseBroker(env, "broker", "--port=5555");
    assertThat(fromFlag.options().port()).isEqualTo(5555);
  }

  @Test
  void aFileVariableHoldsTheValueAsASecretMountedAsAFileDoes(@TempDir Path dir) throws Exception {
    Path secret = dir.resolve("host");
    Files.writeString(secret, "10.9.8.7\n");
    assertThat(parseBroker(Map.of("PREFSTREAM_BROKER_HOST_FILE", secret.toString()), "broker").options().host())
        .isEqualTo("10.9.8.7");
    // the plain variable wins over the file one, as a flag wins over both
    assertThat(parseBroker(Map.of("PREFSTREAM_BROKER_HOST_FILE", secret.toString(), "PREFSTREAM_BROKER_HOST", "10.0.0.2"),
        "broker").options().host()).isEqualTo("10.0.0.2");
    assertThat(parseBroker(Map.of("PREFSTREAM_BROKER_HOST_FILE", secret.toString()), "broker", "--host=h").options().host())
        .isEqualTo("h");
  }

  @Test
  void configFlagMayStandBeforeTheCommand(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("prefstream.properties");
    Files.writeString(file, "broker.host=10.1.2.3\n");

    assertThat(parseBroker(Map.of(), "--config=" + file, "broker").options().host()).isEqualTo("10.1.2.3");
    assertThat(parseBroker(Map.of(), "--config", file.toString(), "broker").options().host()).isEqualTo("10.1.2.3");
  }

  @Test
  void lookupServesSettingsThatAreNotOptions() {
    ConfigSources sources = ConfigSources.from(new String[0], Map.of("PREFSTREAM_INGEST_APPLICATION_ID", "app-1"));
    assertThat(sources.lookup("ingest", "application.id")).contains("app-1");
    assertThat(sources.lookup("learn", "application.id")).isEmpty();
    assertThat(ConfigSources.envName("bootstrap.servers")).isEqualTo("PREFSTREAM_BOOTSTRAP_SERVERS");
  }

  @Test
  void badOptionValueSaysWhatWasExpected() {
    Run r = run("broker", "--port", "many");
    assertThat(r.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(r.err()).contains("--port").contains("many");
  }

  @Test
  void brokerRejectsAnOutOfRangePortWithoutAStackTrace() {
    Run r = run("broker", "--port", "70000");
    assertThat(r.exitCode()).isEqualTo(CommandLine.ExitCode.SOFTWARE);
    assertThat(r.err()).startsWith("prefstream broker: port must be 0 (any free port) or 1..65535, got 70000");
  }
}
