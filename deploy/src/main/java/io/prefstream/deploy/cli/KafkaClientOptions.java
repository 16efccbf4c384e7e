package io.prefstream.deploy.cli;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.CommonClientConfigs;
import picocli.CommandLine.Option;

/**
 * The standard Kafka client settings of a command (SASL, SSL, timeouts …), given once and applied
 * to every Kafka client the command creates: producers, consumers, admin clients and Kafka Streams
 * (which passes unprefixed settings to all of its clients). From a properties file
 * ({@code --client-config}, the same file a Kafka CLI tool takes with {@code --command-config})
 * and repeatable {@code --client-property KEY=VALUE} flags, which win over the file.
 * {@link #clientConfig(String)} is the one place they are merged with {@code bootstrap.servers}.
 */
public final class KafkaClientOptions {
  @Option(names = "--client-config", paramLabel = "FILE",
      description = "Kafka client settings (Java properties: security.protocol, sasl.mechanism, sasl.jaas.config,"
          + " ssl.truststore.location …) for every Kafka client of this command: producers, consumers, admin and"
          + " Kafka Streams.")
  Path file;

  @Option(names = "--client-property", paramLabel = "KEY=VALUE",
      description = "A Kafka client setting for every client of this command (repeatable), applied after"
          + " --client-config, e.g. --client-property security.protocol=SASL_SSL.")
  Map<String, String> properties = new LinkedHashMap<>();

  /** The settings alone, file first and flags over it (no {@code bootstrap.servers}). */
  public Map<String, String> settings() {
    Map<String, String> out = new LinkedHashMap<>();
    if (file != null) {
      Properties p = new Properties();
      try (Reader in = Files.newBufferedReader(file)) {
        p.load(in);
      } catch (NoSuchFileException e) {
        throw new IllegalArgumentException("--client-config " + file + " does not exist; expected a Java properties"
            + " file of Kafka client settings (key=value lines)");
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read --client-config " + file, e);
      }
      for (String k : p.stringPropertyNames()) out.put(k, p.getProperty(k).trim());
    }
    out.putAll(properties);
    if (out.containsKey(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG)) {
      throw new IllegalArgumentException("bootstrap.servers in the client settings: give the cluster with"
          + " --bootstrap-servers instead, so that every component and the embedded-broker default agree");
    }
    return out;
  }

  /** {@code bootstrap.servers} plus {@link #settings()}: the configuration every client starts from. */
  public Map<String, Object> clientConfig(String bootstrapServers) {
    Map<String, Object> config = new HashMap<>(settings());
    config.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    return config;
  }
}
