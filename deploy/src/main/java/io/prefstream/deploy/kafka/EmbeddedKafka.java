package io.prefstream.deploy.kafka;

import io.prefstream.schemas.topic.TopicSpec;
import io.prefstream.schemas.topic.Topics;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.stream.Stream;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A single-node Kafka cluster inside this JVM: one KRaft process that is both broker and controller
 * (node id 1), with every replication factor at 1. It is the CLI's single-machine default and the
 * broker of every integration test. The data directory is either a fresh temporary one, deleted on
 * {@link #close()}, or a given one that survives restarts (it is formatted on first use only). The
 * client listener is plaintext on {@code host:port}; the controller listener takes a free loopback
 * port of its own on every start, which is fine because a static single-voter quorum does not record
 * the controller's address in the data directory.
 */
public final class EmbeddedKafka implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);
  private static final int NODE_ID = 1;
  private static final String DEFAULT_LOOPBACK = "127.0.0.1";
  private static final String CLIENT_LISTENER = "PLAINTEXT";
  private static final String CONTROLLER_LISTENER = "CONTROLLER";
  private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(30);

  /**
   * How to run the broker.
   *
   * @param dataDir where logs and metadata live; {@code null} means a fresh temporary directory that
   *     is deleted on close
   * @param port the client listener's port; 0 picks a free one
   * @param host the address the client listener binds to and advertises
   * @param brokerProperties extra Kafka broker settings, applied last (they override ours)
   * @param saslPlainUsers when not empty, a second client listener on a free port takes SASL/PLAIN
   *     (over plaintext TCP) with these user → password pairs ({@link #saslBootstrapServers()})
   */
  public record Options(Path dataDir, int port, String host, Map<String, String> brokerProperties,
      Map<String, String> saslPlainUsers) {
    public static final String DEFAULT_HOST = "127.0.0.1";

    public Options {
      if (port < 0 || port > 65_535) {
        throw new IllegalArgumentException("port must be 0 (any free port) or 1..65535, got " + port);
      }
      Objects.requireNonNull(host, "host");
      if (host.isBlank()) throw new IllegalArgumentException("host must not be blank");
      brokerProperties = Map.copyOf(brokerProperties);
      saslPlainUsers = Map.copyOf(saslPlainUsers);
    }

    public Options(Path dataDir, int port, String host, Map<String, String> brokerProperties) {
      this(dataDir, port, host, brokerProperties, Map.of());
    }

    /** The same broker with a SASL/PLAIN listener for {@code users} (user → password) as well. */
    public Options withSaslPlainUsers(Map<String, String> users) {
      return new Options(dataDir, port, host, brokerProperties, users);
    }

    /** A temporary data directory, a free loopback port, no extra settings: what tests want. */
    public static Options defaults() {
      return new Options(null, 0, DEFAULT_HOST, Map.of());
    }

    public Options withDataDir(Path dir) {
      return new Options(dir, port, host, brokerProperties, saslPlainUsers);
    }

    public Options withPort(int newPort) {
      return new Options(dataDir, newPort, host, brokerProperties, saslPlainUsers);
    }

    public Options withHost(String newHost) {
      return new Options(dataDir, port, newHost, brokerProperties, saslPlainUsers);
    }

    public Options withBrokerProperties(Map<String, String> props) {
      return new Options(dataDir, port, host, props, saslPlainUsers);
    }
  }

  private final Path dataDir;
  private final boolean deleteOnClose;
  private final int port;
  private final String bootstrapServers;
  private final String saslBootstrapServers;
  private final KafkaRaftServer server;
  private boolean closed;

  private EmbeddedKafka(Path dataDir, boolean deleteOnClose, int port, String host, int saslPort, KafkaRaftServer server) {
    this.dataDir = dataDir;
    this.deleteOnClose = deleteOnClose;
    this.port = port;
    this.bootstrapServers = host + ":" + port;
    this.saslBootstrapServers = saslPort > 0 ? host + ":" + saslPort : null;
    this.server = server;
  }

  /** Starts a broker with {@link Options#defaults()}. */
  public static EmbeddedKafka start() {
    return start(Options.defaults());
  }

  /**
   * Formats the data directory if it is new, starts the broker and returns once it accepts clients.
   *
   * @throws IllegalStateException when the broker does not start (the cause says why)
   */
  public static EmbeddedKafka start(Options options) {
    Objects.requireNonNull(options, "options");
    if (options.port() != 0 && !canBind(options.host(), options.port())) {
      throw new IllegalStateException("port " + options.port() + " on " + options.host() + " is in use (another"
          + " broker?); choose another port, or 0 for any free one");
    }
    // Ports we pick are free when picked but could be taken before Kafka binds them: try again then.
    for (int attempt = 1; ; attempt++) {
      try {
        return startOnce(options);
      } catch (IllegalStateException e) {
        if (attempt == 3 || !isBindFailure(e)) throw e;
        LOG.warn("a port picked for the broker was taken before it could bind it; retrying ({})", e.getMessage());
      }
    }
  }

  private static EmbeddedKafka startOnce(Options options) {
    long t0 = System.nanoTime();
    boolean temporary = options.dataDir() == null;
    Path dir;
    try {
      dir = temporary ? Files.createTempDirectory("prefstream-kafka-") : options.dataDir().toAbsolutePath();
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the broker's data directory " + options.dataDir(), e);
    }
    KafkaRaftServer server = null;
    try {
      int port = options.port() == 0 ? freePort(options.host()) : options.port();
      int controllerPort = freePort(DEFAULT_LOOPBACK);
      Properties props = brokerConfig(dir, options.host(), port, controllerPort, options.brokerProperties());
      int saslPort = options.saslPlainUsers().isEmpty() ? -1 : freePort(options.host());
      if (saslPort > 0) addSaslListener(props, options.host(), saslPort, options.saslPlainUsers());
      formatIfNew(dir, props);
      server = new KafkaRaftServer(KafkaConfig.fromProps(props, false), Time.SYSTEM);
      // startup() returns once the broker is unfenced, i.e. ready for clients.
      server.startup();
      EmbeddedKafka kafka = new EmbeddedKafka(dir, temporary, port, options.host(), saslPort, server);
      LOG.info("Kafka broker ready at {} (data in {}, started in {} ms)", kafka.bootstrapServers, dir,
          TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
      return kafka;
    } catch (RuntimeException | IOException e) {
      if (server != null) stopQuietly(server, e);
      if (temporary) deleteRecursively(dir);
      throw new IllegalStateException("embedded Kafka broker did not start (data dir " + dir + "): " + e.getMessage(), e);
    }
  }

  private static boolean isBindFailure(Throwable e) {
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (c instanceof BindException) return true;
    }
    return false;
  }

  private static boolean canBind(String host, int port) {
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress(InetAddress.getByName(host), port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static Properties brokerConfig(Path dir, String host, int port, int controllerPort, Map<String, String> extra) {
    Properties p = new Properties();
    p.put("process.roles", "broker,controller");
    p.put("node.id", Integer.toString(NODE_ID));
    // A static single-voter quorum: nothing about the controller's address is stored on disk, so a
    // restart on the same data directory may use another controller port.
    p.put("controller.quorum.voters", NODE_ID + "@" + DEFAULT_LOOPBACK + ":" + controllerPort);
    p.put("controller.listener.names", CONTROLLER_LISTENER);
    p.put("listeners", CLIENT_LISTENER + "://" + host + ":" + port + "," + CONTROLLER_LISTENER + "://" + DEFAULT_LOOPBACK + ":" + controllerPort);
    p.put("advertised.listeners", CLIENT_LISTENER + "://" + host + ":" + port);
    p.put("listener.security.protocol.map", CLIENT_LISTENER + ":PLAINTEXT," + CONTROLLER_LISTENER + ":PLAINTEXT");
    p.put("inter.broker.listener.name", CLIENT_LISTENER);
    p.put("log.dirs", dir.toString());
    p.put("metadata.log.dir", dir.toString());
    // One node: every internal topic has one replica, or the coordinators never come up.
    p.put("default.replication.factor", "1");
    p.put("min.insync.replicas", "1");
    p.put("offsets.topic.replication.factor", "1");
    p.put("transaction.state.log.replication.factor", "1");
    p.put("transaction.state.log.min.isr", "1");
    p.put("share.coordinator.state.topic.replication.factor", "1");
    p.put("share.coordinator.state.topic.min.isr", "1");
    // Fewer internal partitions: the first consumer group / transaction creates them, and 50 each
    // cost seconds on a small machine while buying nothing on a single node.
    p.put("offsets.topic.num.partitions", "5");
    p.put("transaction.state.log.num.partitions", "5");
    // Consumers and Streams apps join at once instead of waiting 3 s for more members.
    p.put("group.initial.rebalance.delay.ms", "0");
    // The log cleaner allocates this buffer up front (128 MiB by default); compacted topics here are small.
    p.put("log.cleaner.dedupe.buffer.size", Integer.toString(8 * 1024 * 1024));
    extra.forEach(p::put);
    return p;
  }

  /**
   * A listener named SASL that authenticates clients with SASL/PLAIN against {@code users}; the
   * PLAINTEXT listener stays for the broker's own inter-broker traffic.
   */
  private static void addSaslListener(Properties p, String host, int saslPort, Map<String, String> users) {
    p.put("listeners", p.getProperty("listeners") + ",SASL://" + host + ":" + saslPort);
    p.put("advertised.listeners", p.getProperty("advertised.listeners") + ",SASL://" + host + ":" + saslPort);
    p.put("listener.security.protocol.map", p.getProperty("listener.security.protocol.map") + ",SASL:SASL_PLAINTEXT");
    p.put("listener.name.sasl.sasl.enabled.mechanisms", "PLAIN");
    StringBuilder jaas = new StringBuilder("org.apache.kafka.common.security.plain.PlainLoginModule required");
    users.forEach((user, password) -> jaas.append(" user_").append(user).append("=\"").append(password).append('"'));
    p.put("listener.name.sasl.plain.sasl.jaas.config", jaas.append(';').toString());
  }

  /** host:port of the SASL/PLAIN listener; throws when the options asked for none. */
  public String saslBootstrapServers() {
    if (saslBootstrapServers == null) throw new IllegalStateException("this broker has no SASL listener (Options.withSaslPlainUsers)");
    return saslBootstrapServers;
  }

  /** Writes meta.properties and the bootstrap metadata unless an earlier start already did. */
  private static void formatIfNew(Path dir, Properties props) throws IOException {
    if (Files.exists(dir.resolve("meta.properties"))) return;
    try (Stream<Path> entries = Files.list(dir)) {
      if (entries.findAny().isPresent()) {
        throw new IllegalArgumentException("data directory " + dir + " is neither empty nor a Kafka data"
            + " directory (no meta.properties); expected an empty directory or one an earlier start made");
      }
    }
    Formatter formatter = new Formatter()
        .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
        .setNodeId(NODE_ID)
        .setClusterId(Uuid.randomUuid().toString())
        .setDirectories(List.of(dir.toString()))
        .setMetadataLogDirectory(dir.toString())
        .setControllerListenerName(props.getProperty("controller.listener.names"));
    try {
      formatter.run();
    } catch (IOException | RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException("formatting " + dir + " failed: " + e.getMessage(), e);
    }
  }

  /** host:port for {@code bootstrap.servers}. */
  public String bootstrapServers() {
    return bootstrapServers;
  }

  /** The client listener's port (the chosen one when the options said 0). */
  public int port() {
    return port;
  }

  /** Where this broker keeps its logs and metadata. */
  public Path dataDir() {
    return dataDir;
  }

  /** Client settings that reach this broker: {@code bootstrap.servers} only. */
  public Map<String, Object> clientConfig() {
    Map<String, Object> config = new HashMap<>();
    config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    return config;
  }

  /**
   * Creates every topic of {@code specs} that does not exist yet, with its partitions, replication
   * factor and configs. Topics that exist are left as they are, so calling this again (or from
   * several components at once) is harmless.
   *
   * @return the names of the topics this call created, in the order of {@code specs}
   */
  public List<String> ensureTopics(Collection<TopicSpec> specs) {
    return ensureTopics(bootstrapServers, specs);
  }

  /** {@link #ensureTopics(Collection)} with the project's topics ({@link Topics#all(short)}, RF 1). */
  public List<String> ensureDefaultTopics() {
    return ensureTopics(Topics.all((short) 1));
  }

  /**
   * {@link #ensureTopics(Collection)} against any cluster, for components given
   * {@code bootstrap.servers} of a real cluster.
   */
  public static List<String> ensureTopics(String bootstrapServers, Collection<TopicSpec> specs) {
    return ensureTopics(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers), specs);
  }

  /**
   * {@link #ensureTopics(String, Collection)} with any client settings ({@code bootstrap.servers}
   * and e.g. SASL/SSL), for clusters that need them.
   */
  public static List<String> ensureTopics(Map<String, Object> clientConfig, Collection<TopicSpec> specs) {
    Map<String, Object> config = new HashMap<>(clientConfig);
    config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) ADMIN_TIMEOUT.toMillis());
    String bootstrapServers = String.valueOf(clientConfig.get(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG));
    try (Admin admin = Admin.create(config)) {
      Set<String> existing = admin.listTopics().names().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      List<NewTopic> missing = new ArrayList<>();
      for (TopicSpec spec : specs) {
        if (existing.contains(spec.name())) continue;
        missing.add(new NewTopic(spec.name(), spec.partitions(), spec.replicationFactor()).configs(spec.configs()));
      }
      if (missing.isEmpty()) return List.of();
      CreateTopicsResult result = admin.createTopics(missing);
      List<String> created = new ArrayList<>();
      for (NewTopic topic : missing) {
        try {
          result.values().get(topic.name()).get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
          created.add(topic.name());
        } catch (ExecutionException e) {
          // Someone else created it between our listing and our request: that is the goal reached.
          if (!(e.getCause() instanceof TopicExistsException)) {
            throw new IllegalStateException("creating topic " + topic.name() + " on " + bootstrapServers
                + " failed: " + e.getCause().getMessage(), e.getCause());
          }
        }
      }
      if (!created.isEmpty()) LOG.info("Created topics {} on {}", created, bootstrapServers);
      awaitVisible(admin, specs, bootstrapServers);
      return List.copyOf(created);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topics on " + bootstrapServers, e);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("listing topics on " + bootstrapServers + " failed: " + e.getMessage(), e);
    }
  }

  /**
   * The replication factor for topics a component creates on a cluster: min(3, brokers), so a
   * single-node development cluster works and a production one gets the usual three copies.
   */
  public static short clusterReplication(String bootstrapServers) {
    return clusterReplication(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers));
  }

  /** {@link #clusterReplication(String)} with any client settings (e.g. SASL/SSL). */
  public static short clusterReplication(Map<String, Object> clientConfig) {
    Map<String, Object> config = new HashMap<>(clientConfig);
    config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) ADMIN_TIMEOUT.toMillis());
    String bootstrapServers = String.valueOf(clientConfig.get(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG));
    try (Admin admin = Admin.create(config)) {
      int brokers = admin.describeCluster().nodes().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).size();
      return (short) Math.max(1, Math.min(3, brokers));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while describing the cluster at " + bootstrapServers, e);
    } catch (TimeoutException e) {
      throw unreachable(bootstrapServers, e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      if (cause instanceof org.apache.kafka.common.errors.TimeoutException) throw unreachable(bootstrapServers, cause);
      throw new IllegalStateException("describing the Kafka cluster at " + bootstrapServers + " failed: "
          + (cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage()), cause);
    }
  }

  private static IllegalStateException unreachable(String bootstrapServers, Throwable cause) {
    return new IllegalStateException("no Kafka broker answered at " + bootstrapServers + " within " + ADMIN_TIMEOUT.toSeconds()
        + " s: is one running there, and are --bootstrap-servers and the client settings (security protocol, SASL) right?",
        cause);
  }

  /**
   * CreateTopics returns once the controller has accepted the topics; the broker's metadata cache
   * catches up a moment later. Wait until a listing shows them, so a caller that is told "ready"
   * (and a client it hands the address to) finds every topic.
   */
  private static void awaitVisible(Admin admin, Collection<TopicSpec> specs, String bootstrapServers)
      throws InterruptedException, ExecutionException, TimeoutException {
    long deadline = System.nanoTime() + ADMIN_TIMEOUT.toNanos();
    Set<String> wanted = new java.util.TreeSet<>();
    for (TopicSpec spec : specs) wanted.add(spec.name());
    while (true) {
      Set<String> names = admin.listTopics().names().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      if (names.containsAll(wanted)) return;
      if (System.nanoTime() > deadline) {
        wanted.removeAll(names);
        throw new IllegalStateException("topics " + wanted + " were created on " + bootstrapServers
            + " but are still not listed after " + ADMIN_TIMEOUT.toSeconds() + " s");
      }
      Thread.sleep(20);
    }
  }

  /**
   * Stops the broker and waits until its threads and sockets are gone; deletes the data directory
   * when it was a temporary one. Idempotent.
   */
  @Override
  public synchronized void close() {
    if (closed) return;
    closed = true;
    long t0 = System.nanoTime();
    try {
      server.shutdown();
      server.awaitShutdown();
    } finally {
      if (deleteOnClose) deleteRecursively(dataDir);
    }
    LOG.info("Kafka broker at {} stopped in {} ms", bootstrapServers,
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
  }

  private static void stopQuietly(KafkaRaftServer server, Exception cause) {
    try {
      server.shutdown();
      server.awaitShutdown();
    } catch (RuntimeException e) {
      cause.addSuppressed(e);
    }
  }

  /**
   * A port that was free a moment ago. Kafka binds it right after; the window in which another
   * process could take it is tiny, and a clash shows up as a clear bind error at start.
   */
  static int freePort(String host) {
    try (ServerSocket socket = new ServerSocket()) {
      socket.setReuseAddress(false);
      socket.bind(new InetSocketAddress(InetAddress.getByName(host), 0));
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot find a free port on " + host, e);
    }
  }

  private static void deleteRecursively(Path dir) {
    try {
      io.prefstream.deploy.io.FileTrees.delete(dir);
    } catch (IOException e) {
      LOG.warn("could not delete the temporary broker directory {}: {}", dir, e.toString());
    }
  }
}
