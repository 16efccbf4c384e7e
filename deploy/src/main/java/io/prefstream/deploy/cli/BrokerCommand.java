package io.prefstream.deploy.cli;

import io.prefstream.deploy.kafka.EmbeddedKafka;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream broker}: a single-node Kafka broker ({@link EmbeddedKafka}) in the foreground,
 * with the project's topics created. It prints its bootstrap address as the only line on stdout
 * (once the topics exist, so a script may connect as soon as it reads it) and stops cleanly on
 * Ctrl-C or SIGTERM.
 */
@Command(
    name = "broker",
    mixinStandardHelpOptions = true,
    description = "Run a single-node Kafka broker (KRaft) in the foreground, create the prefstream topics"
        + " and print its bootstrap address on stdout; Ctrl-C stops it.")
public final class BrokerCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(BrokerCommand.class);

  @Spec CommandSpec spec;

  @Option(
      names = "--data-dir",
      paramLabel = "DIR",
      description = "Where the broker keeps its data; kept across restarts. Default: a temporary directory deleted on exit.")
  Path dataDir;

  @Option(
      names = "--port",
      paramLabel = "PORT",
      defaultValue = "9092",
      description = "Client listener port; 0 picks a free one. Default: ${DEFAULT-VALUE}.")
  int port;

  @Option(
      names = "--host",
      paramLabel = "HOST",
      defaultValue = EmbeddedKafka.Options.DEFAULT_HOST,
      description = "Address to listen on and advertise to clients. Default: ${DEFAULT-VALUE}.")
  String host;

  @Option(
      names = "--broker-property",
      paramLabel = "KEY=VALUE",
      description = "Extra Kafka broker setting (repeatable), e.g. --broker-property log.retention.hours=1.")
  Map<String, String> brokerProperties = new LinkedHashMap<>();

  /** The typed settings this command runs with. */
  EmbeddedKafka.Options options() {
    return new EmbeddedKafka.Options(dataDir, port, host, brokerProperties);
  }

  @Override
  public Integer call() throws InterruptedException {
    EmbeddedKafka kafka = EmbeddedKafka.start(options());
    CountDownLatch stopped = new CountDownLatch(1);
    // The JVM runs this on Ctrl-C / SIGTERM and exits once it returns, so the close happens here.
    Thread hook = new Thread(() -> {
      LOG.info("Stopping the broker (signal received)");
      try {
        kafka.close();
      } finally {
        stopped.countDown();
      }
    }, "prefstream-broker-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      kafka.ensureDefaultTopics();
    } catch (RuntimeException e) {
      Runtime.getRuntime().removeShutdownHook(hook);
      kafka.close();
      throw e;
    }
    PrintWriter out = spec.commandLine().getOut();
    out.println(kafka.bootstrapServers());
    out.flush();
    LOG.info("Broker running at {}; press Ctrl-C to stop", kafka.bootstrapServers());
    stopped.await();
    return 0;
  }
}
