package io.prefstream.deploy.kafka;

import io.prefstream.schemas.topic.TopicSpec;
import io.prefstream.schemas.topic.Topics;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.StringJoiner;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Kafka cluster of {@code n} KRaft nodes inside this JVM, for tests that need real replication:
 * every node is broker and controller (a static quorum of {@code n} voters), topics and the internal
 * topics get replication {@code min(3, n)} and {@code min.insync.replicas} {@code min(2, n)}, so one
 * node can be stopped while acks=all writes, transactions and consumer groups go on. Nodes can be
 * stopped ({@link #stopNode}, a controlled shutdown: leadership moves off the node first) and
 * started again on the same data directory and ports ({@link #restartNode}). Ports and node
 * directories are fixed at {@link #start}; everything is deleted on {@link #close()}.
 *
 * <p>{@link #startProcesses} runs each node in a child JVM instead, so that {@link #killNode} can
 * kill one with SIGKILL: no controlled shutdown, no flush, its leaderships and open transactions
 * left behind until the controller fences it ({@code broker.session.timeout.ms}, 4 s here).
 */
public final class EmbeddedKafkaCluster implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafkaCluster.class);
  private static final String HOST = "127.0.0.1";
  private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(30);

  private final Path root;
  private final String clusterId = Uuid.randomUuid().toString();
  private final Map<Integer, Integer> clientPorts = new TreeMap<>();
  private final Map<Integer, Integer> controllerPorts = new TreeMap<>();
  private final Map<Integer, KafkaRaftServer> running = new TreeMap<>();
  /** With {@link #startProcesses}: the child JVM of each running node. */
  private final Map<Integer, Process> processes = new TreeMap<>();
  private final boolean childProcesses;
  private final short replication;
  private final short minInsync;
  private boolean closed;

  private EmbeddedKafkaCluster(Path root, int nodes, boolean childProcesses) {
    this.root = root;
    this.childProcesses = childProcesses;
    this.replication = (short) Math.min(3, nodes);
    this.minInsync = (short) Math.min(2, nodes);
    for (int id = 1; id <= nodes; id++) {
      clientPorts.put(id, EmbeddedKafka.freePort(HOST));
      controllerPorts.put(id, EmbeddedKafka.freePort(HOST));
    }
  }

  /** Formats and starts {@code nodes} nodes and returns once every one accepts clients. */
  public static EmbeddedKafkaCluster start(int nodes) {
    return start(nodes, false);
  }

  /**
   * As {@link #start(int)}, each node in a child JVM (this JVM's java and class path) that
   * {@link #killNode} can kill with SIGKILL; {@link #stopNode} sends SIGTERM (a controlled shutdown).
   */
  public static EmbeddedKafkaCluster startProcesses(int nodes) {
    return start(nodes, true);
  }

  private static EmbeddedKafkaCluster start(int nodes, boolean childProcesses) {
    if (nodes < 1 || nodes > 9) throw new IllegalArgumentException("nodes must be 1..9, got " + nodes);
    long t0 = System.nanoTime();
    Path root;
    try {
      root = Files.createTempDirectory("prefstream-kafka-cluster-");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the cluster's data directory", e);
    }
    EmbeddedKafkaCluster cluster = new EmbeddedKafkaCluster(root, nodes, childProcesses);
    try {
      // Each node's startup() waits until it is unfenced, which needs a controller quorum: a
      // majority of the voters must be starting at the same time, so start them in parallel.
      List<Thread> starters = new ArrayList<>();
      Map<Integer, RuntimeException> failures = new java.util.concurrent.ConcurrentHashMap<>();
      for (int id : cluster.clientPorts.keySet()) {
        cluster.format(id);
        Thread t = Thread.ofPlatform().name("kafka-node-" + id + "-start").start(() -> {
          try {
            cluster.startNode(id);
          } catch (RuntimeException e) {
            failures.put(id, e);
          }
        });
        starters.add(t);
      }
      for (Thread t : starters) t.join();
      if (!failures.isEmpty()) throw failures.values().iterator().next();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      cluster.close();
      throw new IllegalStateException("interrupted while starting the cluster", e);
    } catch (RuntimeException e) {
      cluster.close();
      throw new IllegalStateException("embedded Kafka cluster did not start: " + e.getMessage(), e);
    }
    LOG.info("Kafka cluster of {} nodes ready at {} ({} ms)", nodes, cluster.bootstrapServers(),
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    return cluster;
  }

  private Path nodeDir(int id) {
    return root.resolve("node-" + id);
  }

  private Properties nodeConfig(int id) {
    StringJoiner voters = new StringJoiner(",");
    controllerPorts.forEach((n, port) -> voters.add(n + "@" + HOST + ":" + port));
    Properties p = new Properties();
    p.put("process.roles", "broker,controller");
    p.put("node.id", Integer.toString(id));
    p.put("controller.quorum.voters", voters.toString());
    p.put("controller.listener.names", "CONTROLLER");
    p.put("listeners", "PLAINTEXT://" + HOST + ":" + clientPorts.get(id) + ",CONTROLLER://" + HOST + ":"
        + controllerPorts.get(id));
    p.put("advertised.listeners", "PLAINTEXT://" + HOST + ":" + clientPorts.get(id));
    p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
    p.put("inter.broker.listener.name", "PLAINTEXT");
    p.put("log.dirs", nodeDir(id).toString());
    p.put("metadata.log.dir", nodeDir(id).toString());
    String rf = Short.toString(replication);
    String isr = Short.toString(minInsync);
    // What production runs: three copies, and a write is acknowledged once two have it, so one node
    // may be lost without losing an acknowledged record or stopping acks=all producers.
    p.put("default.replication.factor", rf);
    p.put("min.insync.replicas", isr);
    p.put("offsets.topic.replication.factor", rf);
    p.put("transaction.state.log.replication.factor", rf);
    p.put("transaction.state.log.min.isr", isr);
    p.put("share.coordinator.state.topic.replication.factor", rf);
    p.put("share.coordinator.state.topic.min.isr", isr);
    p.put("offsets.topic.num.partitions", "5");
    p.put("transaction.state.log.num.partitions", "5");
    p.put("group.initial.rebalance.delay.ms", "0");
    p.put("log.cleaner.dedupe.buffer.size", Integer.toString(8 * 1024 * 1024));
    // A node that dies without a controlled shutdown is fenced after this long; 9 s by default,
    // shortened so failure tests spend their time on recovery rather than on detection.
    p.put("broker.session.timeout.ms", "4000");
    p.put("broker.heartbeat.interval.ms", "500");
    return p;
  }

  private void format(int id) {
    Path dir = nodeDir(id);
    try {
      Files.createDirectories(dir);
      new Formatter()
          .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
          .setNodeId(id)
          .setClusterId(clusterId)
          .setDirectories(List.of(dir.toString()))
          .setMetadataLogDirectory(dir.toString())
          .setControllerListenerName("CONTROLLER")
          .run();
    } catch (Exception e) {
      throw new IllegalStateException("formatting node " + id + " in " + dir + " failed: " + e.getMessage(), e);
    }
  }

  private void startNode(int id) {
    if (childProcesses) {
      startChild(id);
      return;
    }
    KafkaRaftServer server = new KafkaRaftServer(KafkaConfig.fromProps(nodeConfig(id), false), Time.SYSTEM);
    server.startup();
    synchronized (this) {
      running.put(id, server);
    }
  }

  /** Runs node {@code id} in a child JVM ({@link ChildNode}) and waits until it says it is up. */
  private void startChild(int id) {
    Path props = root.resolve("node-" + id + ".properties");
    Path log = root.resolve("node-" + id + ".log");
    try {
      try (var out = Files.newOutputStream(props)) {
        nodeConfig(id).store(out, "node " + id);
      }
      List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m",
          "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"), "-cp", System.getProperty("java.class.path"),
          ChildNode.class.getName(), props.toString());
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (!Files.readString(log).contains(ChildNode.READY)) {
        if (!p.isAlive()) throw new IllegalStateException("node " + id + " exited with " + p.exitValue() + ": " + tail(log));
        if (System.nanoTime() > deadline) {
          p.destroyForcibly();
          throw new IllegalStateException("node " + id + " did not start in 120 s: " + tail(log));
        }
        Thread.sleep(50);
      }
      synchronized (this) {
        processes.put(id, p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("starting node " + id + " in a child JVM failed", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while starting node " + id, e);
    }
  }

  private static String tail(Path log) throws IOException {
    String s = Files.readString(log);
    return s.substring(Math.max(0, s.length() - 2000));
  }

  /**
   * One node of a {@link #startProcesses} cluster: {@code ChildNode <node.properties>}. Prints
   * {@value #READY} once the node is up (unfenced); SIGTERM runs a controlled shutdown.
   */
  public static final class ChildNode {
    static final String READY = "prefstream-kafka-node-ready";

    private ChildNode() {}

    public static void main(String[] args) throws IOException {
      Properties p = new Properties();
      try (var in = Files.newInputStream(Path.of(args[0]))) {
        p.load(in);
      }
      KafkaRaftServer server = new KafkaRaftServer(KafkaConfig.fromProps(p, false), Time.SYSTEM);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        server.shutdown();
        server.awaitShutdown();
      }, "kafka-node-shutdown"));
      server.startup();
      System.out.println(READY);
      System.out.flush();
      server.awaitShutdown();
    }
  }

  /**
   * Kills node {@code id} of a {@link #startProcesses} cluster with SIGKILL and waits until its
   * process is gone: what a crashed machine or an OOM kill does to a broker.
   */
  public void killNode(int id) {
    Process p;
    synchronized (this) {
      if (!childProcesses) throw new IllegalStateException("killNode needs a cluster made by startProcesses");
      p = processes.remove(id);
    }
    if (p == null) throw new IllegalArgumentException("node " + id + " is not running; running: " + runningNodes());
    p.destroyForcibly();
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS)) throw new IllegalStateException("node " + id + " did not die");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while killing node " + id, e);
    }
    LOG.info("Kafka node {} killed (SIGKILL)", id);
  }

  /** Every node's client address, for {@code bootstrap.servers} (clients skip the stopped ones). */
  public String bootstrapServers() {
    StringJoiner j = new StringJoiner(",");
    clientPorts.values().forEach(port -> j.add(HOST + ":" + port));
    return j.toString();
  }

  /** Client settings that reach this cluster: {@code bootstrap.servers} only. */
  public Map<String, Object> clientConfig() {
    Map<String, Object> config = new HashMap<>();
    config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
    return config;
  }

  /** The ids of the nodes running now. */
  public synchronized List<Integer> runningNodes() {
    List<Integer> ids = new ArrayList<>(running.keySet());
    ids.addAll(processes.keySet());
    return List.copyOf(new java.util.TreeSet<>(ids));
  }

  /** The replication factor topics get here: min(3, nodes). */
  public short replicationFactor() {
    return replication;
  }

  /** The node that is the active controller now (the quorum's leader). */
  public int activeController() {
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
        AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) ADMIN_TIMEOUT.toMillis()))) {
      return admin.describeMetadataQuorum().quorumInfo().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).leaderId();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while describing the quorum", e);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("describing the metadata quorum failed: " + e.getMessage(), e);
    }
  }

  /** Stops node {@code id} (controlled shutdown; SIGTERM to a child JVM) and waits until it is gone. */
  public void stopNode(int id) {
    if (childProcesses) {
      Process p;
      synchronized (this) {
        p = processes.remove(id);
      }
      if (p == null) throw new IllegalArgumentException("node " + id + " is not running; running: " + runningNodes());
      p.destroy();
      try {
        if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while stopping node " + id, e);
      }
      return;
    }
    KafkaRaftServer server;
    synchronized (this) {
      server = running.remove(id);
    }
    if (server == null) throw new IllegalArgumentException("node " + id + " is not running; running: " + runningNodes());
    long t0 = System.nanoTime();
    server.shutdown();
    server.awaitShutdown();
    LOG.info("Kafka node {} stopped in {} ms", id, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
  }

  /** Starts a stopped node again on its data directory and ports; returns once it is unfenced. */
  public void restartNode(int id) {
    synchronized (this) {
      if (running.containsKey(id) || processes.containsKey(id)) throw new IllegalArgumentException("node " + id + " is running");
      if (!clientPorts.containsKey(id)) throw new IllegalArgumentException("no node " + id);
    }
    long t0 = System.nanoTime();
    startNode(id);
    LOG.info("Kafka node {} restarted in {} ms", id, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
  }

  /**
   * The project's topics as this cluster creates them: replication {@link #replicationFactor()} and
   * {@code min.insync.replicas} set on each topic (not only as the broker default), so the guarantee
   * travels with the topic.
   */
  public List<TopicSpec> defaultTopics() {
    return Topics.all(replication).stream().map(this::replicated).toList();
  }

  /** {@code spec} with this cluster's replication factor and min.insync.replicas. */
  public TopicSpec replicated(TopicSpec spec) {
    Map<String, String> configs = new HashMap<>(spec.configs());
    configs.put("min.insync.replicas", Short.toString(minInsync));
    return new TopicSpec(spec.name(), spec.partitions(), replication, configs);
  }

  /** Creates the missing ones of {@code specs} as given (see {@link EmbeddedKafka#ensureTopics(String, Collection)}). */
  public List<String> ensureTopics(Collection<TopicSpec> specs) {
    return EmbeddedKafka.ensureTopics(bootstrapServers(), specs);
  }

  /** Stops every running node and deletes the data. Idempotent. */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) return;
      closed = true;
    }
    if (childProcesses) {
      // The data goes with them: no need for a controlled shutdown.
      List<Process> children;
      synchronized (this) {
        children = List.copyOf(processes.values());
        processes.clear();
      }
      for (Process p : children) p.destroyForcibly();
      for (Process p : children) {
        try {
          p.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
    }
    // In parallel: a node's controlled shutdown needs a controller quorum, which stopping the
    // nodes one after another would take away from the last ones.
    List<RuntimeException> failures = java.util.Collections.synchronizedList(new ArrayList<>());
    List<Thread> stoppers = new ArrayList<>();
    for (int id : runningNodes()) {
      stoppers.add(Thread.ofPlatform().name("kafka-node-" + id + "-stop").start(() -> {
        try {
          stopNode(id);
        } catch (RuntimeException e) {
          failures.add(e);
        }
      }));
    }
    for (Thread t : stoppers) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    RuntimeException first = failures.isEmpty() ? null : failures.getFirst();
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    } catch (IOException e) {
      LOG.warn("could not delete the cluster directory {}: {}", root, e.toString());
    }
    if (first != null) throw first;
  }
}
