package io.prefstream.deploy.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.deploy.cli.ConfigSources;
import io.prefstream.deploy.cli.Main;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The deployment files cannot rot silently: deploy/compose.yaml and every template of the Helm chart
 * (rendered by {@link HelmLite} with values.yaml, and with each examples/*.yaml over it) parse as YAML,
 * every container's command line is a {@code prefstream} command whose every {@code --flag} the CLI
 * has (picocli's CommandSpec), and every {@code PREFSTREAM_*} variable names one of that command's
 * options the way {@link ConfigSources} reads them (or one of the launcher's own variables). The chart
 * also keeps what operators rely on: non-root pods, gRPC health probes on the serving port, Prometheus
 * annotations on the metrics port, a PodDisruptionBudget, the admin token from a Secret, and a GPU
 * request only when asked for.
 */
class DeployManifestsTest {
  /** Variables read by the launcher, logback or the CUDA loader rather than by an option. */
  private static final Set<String> NOT_OPTIONS = Set.of("PREFSTREAM_CONFIG", "PREFSTREAM_JAVA_OPTS",
      "PREFSTREAM_LOG_LEVEL", "PREFSTREAM_LIBRARY_LOG_LEVEL", "PREFSTREAM_CUDA_LIBDIR", "PREFSTREAM_IMAGE");
  private static final Path DEPLOY = Path.of("").toAbsolutePath();
  private static final Path CHART = DEPLOY.resolve("helm/prefstream");

  private final CommandLine cli = Main.commandLine();

  @Test
  void composeRunsEveryComponentFromTheOneImageWithFlagsAndVariablesTheCliHas() throws IOException {
    Map<String, Object> compose = new Yaml().load(Files.readString(DEPLOY.resolve("compose.yaml")));
    Map<String, Object> services = map(compose.get("services"));
    assertThat(services).containsKeys("broker", "ingest", "learner", "serve-1", "serve-2");
    List<String> problems = new ArrayList<>();
    Set<String> commands = new java.util.TreeSet<>();
    for (Map.Entry<String, Object> e : services.entrySet()) {
      Map<String, Object> service = map(e.getValue());
      assertThat((String) service.get("image")).as(e.getKey()).contains("prefstream:");
      List<String> command = strings(service.get("command"));
      commands.add(command.getFirst());
      Map<String, Object> env = service.containsKey("environment") ? map(service.get("environment")) : Map.of();
      problems.addAll(check("compose " + e.getKey(), command, env.keySet()));
    }
    assertThat(problems).isEmpty();
    assertThat(commands).containsExactlyInAnyOrder("broker", "ingest", "learn", "serve");
    // the admin token is a secret, handed over as a file
    assertThat(map(compose.get("secrets"))).containsKey("admin-token");
    assertThat(map(map(services.get("serve-2")).get("environment"))).containsEntry(
        "PREFSTREAM_SERVE_ADMIN_TOKEN_FILE", "/run/secrets/admin-token");
    assertThat(map(compose.get("volumes"))).containsKeys("checkpoints", "kafka-data");
  }

  @Test
  void chartTemplatesRenderWithTheDefaultValuesAndUseOnlyFlagsAndVariablesTheCliHas() throws IOException {
    List<Map<String, Object>> docs = render(values());
    assertThat(kinds(docs)).contains("StatefulSet", "Deployment", "Service", "PodDisruptionBudget",
        "PersistentVolumeClaim");
    assertThat(checkWorkloads(docs)).isEmpty();

    Map<String, Object> serving = workload(docs, "serving");
    Map<String, Object> container = container(serving);
    assertThat(map(map(container.get("readinessProbe")).get("grpc")).get("port")).isEqualTo(50051);
    assertThat(map(map(container.get("livenessProbe")).get("grpc")).get("port")).isEqualTo(50051);
    assertThat(map(map(container.get("resources")).get("limits"))).doesNotContainKey("nvidia.com/gpu");
    assertThat(annotations(serving)).containsEntry("prometheus.io/port", "9401").containsEntry("prometheus.io/scrape", "true");
    assertThat(strings(container.get("args"))).containsSequence("--metrics-port", "9401").containsSequence("--port", "50051");
    assertThat(envNames(container)).contains("PREFSTREAM_SERVE_ADMIN_TOKEN");
    assertThat(map(map(env(container, "PREFSTREAM_SERVE_ADMIN_TOKEN").get("valueFrom")).get("secretKeyRef")))
        .containsEntry("name", "prefstream-admin-token");

    Map<String, Object> learner = workload(docs, "learner");
    assertThat(learner.get("kind")).isEqualTo("StatefulSet");
    assertThat(annotations(learner)).containsEntry("prometheus.io/port", "9402");
    assertThat(strings(container(learner).get("args"))).containsSequence("--metrics-port", "9402");

    Map<String, Object> pdb = docs.stream().filter(d -> "PodDisruptionBudget".equals(d.get("kind"))).findFirst().orElseThrow();
    assertThat(map(pdb.get("spec")).get("minAvailable")).isEqualTo(1);
  }

  @Test
  void everyExampleValuesFileRendersToValidWorkloads() throws IOException {
    List<Path> examples;
    try (Stream<Path> s = Files.list(CHART.resolve("examples"))) {
      examples = s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
    }
    assertThat(examples).isNotEmpty();
    for (Path example : examples) {
      Map<String, Object> values = merge(values(), new Yaml().load(Files.readString(example)));
      List<Map<String, Object>> docs = render(values);
      assertThat(checkWorkloads(docs)).as(example.getFileName().toString()).isEmpty();
    }
  }

  @Test
  void externalKafkaExampleAsksForAGpuPassesClientSettingsAndServesTls() throws IOException {
    Map<String, Object> values = merge(values(),
        new Yaml().load(Files.readString(CHART.resolve("examples/external-kafka-sasl-ssl.yaml"))));
    List<Map<String, Object>> docs = render(values);
    Map<String, Object> learner = container(workload(docs, "learner"));
    assertThat(map(map(learner.get("resources")).get("limits"))).containsEntry("nvidia.com/gpu", 1);
    assertThat(strings(learner.get("args"))).containsSequence("--client-property", "security.protocol=SASL_SSL");
    assertThat(strings(container(workload(docs, "ingest")).get("args")))
        .containsSequence("--client-property", "sasl.mechanism=SCRAM-SHA-512");
    List<String> serving = strings(container(workload(docs, "serving")).get("args"));
    assertThat(serving).containsSequence("--tls-cert", "/etc/prefstream/tls/tls.crt");
    assertThat(serving).containsSequence("--client-property", "security.protocol=SASL_SSL");
  }

  @Test
  void theDistributionsDefaultConfigNamesOnlyOptionsTheCliHas() throws IOException {
    List<String> problems = new ArrayList<>();
    for (String line : Files.readAllLines(DEPLOY.resolve("src/package/conf/prefstream.properties"))) {
      String l = line.replaceFirst("^#", "").trim();
      if (!l.matches("[a-z][a-z0-9.-]*=.*")) continue;
      String key = l.substring(0, l.indexOf('='));
      if (!optionKeyExists(key)) problems.add(key);
    }
    assertThat(problems).isEmpty();
  }

  // --- checks ---------------------------------------------------------------------------------

  private List<String> checkWorkloads(List<Map<String, Object>> docs) {
    List<String> problems = new ArrayList<>();
    for (Map<String, Object> d : docs) {
      if (!Set.of("Deployment", "StatefulSet").contains(d.get("kind"))) continue;
      String name = (String) map(d.get("metadata")).get("name");
      Map<String, Object> pod = map(map(map(d.get("spec")).get("template")).get("spec"));
      if (!Boolean.TRUE.equals(map(pod.get("securityContext")).get("runAsNonRoot"))) problems.add(name + " may run as root");
      Map<String, Object> c = container(d);
      problems.addAll(check("chart " + name, strings(c.get("args")), envNames(c)));
    }
    return problems;
  }

  /** Problems of one container: its command and flags against the CLI, its variables against the options. */
  private List<String> check(String where, List<String> command, java.util.Collection<String> env) {
    List<String> problems = new ArrayList<>();
    CommandLine sub = cli.getSubcommands().get(command.getFirst());
    if (sub == null) return List.of(where + ": no command " + command.getFirst());
    for (String arg : command.subList(1, command.size())) {
      if (!arg.startsWith("--")) continue;
      String flag = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
      if (sub.getCommandSpec().findOption(flag) == null) problems.add(where + ": " + command.getFirst() + " has no " + flag);
    }
    for (String variable : env) {
      if (!variableExists(sub.getCommandSpec(), variable)) problems.add(where + ": " + variable + " is no setting of "
          + command.getFirst());
    }
    return problems;
  }

  /** PREFSTREAM_[COMMAND_]OPTION, or the same with _FILE, as ConfigSources reads them. */
  private static boolean variableExists(CommandSpec command, String variable) {
    if (NOT_OPTIONS.contains(variable)) return true;
    String v = variable.endsWith(ConfigSources.FILE_SUFFIX)
        ? variable.substring(0, variable.length() - ConfigSources.FILE_SUFFIX.length()) : variable;
    String commandPrefix = command.qualifiedName("_").replaceFirst("^prefstream_?", "").toUpperCase(Locale.ROOT);
    for (OptionSpec o : command.options()) {
      String name = o.longestName().replaceFirst("^-+", "").replace('-', '_').toUpperCase(Locale.ROOT);
      if (v.equals(ConfigSources.ENV_PREFIX + name) || v.equals(ConfigSources.ENV_PREFIX + commandPrefix + "_" + name)) {
        return true;
      }
    }
    return false;
  }

  /** A config-file key (`name` or `command.name`) that some command reads. */
  private boolean optionKeyExists(String key) {
    for (CommandLine sub : cli.getSubcommands().values()) {
      String prefix = sub.getCommandName() + ".";
      String name = key.startsWith(prefix) ? key.substring(prefix.length()) : key;
      if (sub.getCommandSpec().findOption("--" + name.replace('.', '-')) != null) return true;
    }
    return false;
  }

  // --- rendering and YAML plumbing -------------------------------------------------------------

  private static Map<String, Object> values() throws IOException {
    return new Yaml().load(Files.readString(CHART.resolve("values.yaml")));
  }

  private static List<Map<String, Object>> render(Map<String, Object> values) throws IOException {
    HelmLite helm = new HelmLite(values, "prefstream");
    List<Map<String, Object>> docs = new ArrayList<>();
    List<Path> templates;
    try (Stream<Path> s = Files.list(CHART.resolve("templates"))) {
      templates = s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
    }
    for (Path t : templates) {
      String rendered = helm.render(Files.readString(t));
      for (Object doc : new Yaml().loadAll(rendered)) {
        if (doc == null) continue;
        Map<String, Object> m = map(doc);
        assertThat(m).as(t.getFileName() + " renders a Kubernetes object").containsKeys("apiVersion", "kind", "metadata");
        docs.add(m);
      }
    }
    return docs;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> merge(Map<String, Object> base, Map<String, Object> over) {
    Map<String, Object> out = new LinkedHashMap<>(base);
    for (Map.Entry<String, Object> e : over.entrySet()) {
      if (e.getValue() instanceof Map<?, ?> m && out.get(e.getKey()) instanceof Map<?, ?> b) {
        out.put(e.getKey(), merge((Map<String, Object>) b, (Map<String, Object>) m));
      } else {
        out.put(e.getKey(), e.getValue());
      }
    }
    return out;
  }

  private static List<String> kinds(List<Map<String, Object>> docs) {
    return docs.stream().map(d -> (String) d.get("kind")).toList();
  }

  private static Map<String, Object> workload(List<Map<String, Object>> docs, String component) {
    return docs.stream().filter(d -> Set.of("Deployment", "StatefulSet").contains(d.get("kind")))
        .filter(d -> component.equals(map(map(d.get("metadata")).get("labels")).get("app.kubernetes.io/component")))
        .findFirst().orElseThrow(() -> new AssertionError("no " + component + " workload"));
  }

  private static Map<String, Object> container(Map<String, Object> workload) {
    Map<String, Object> pod = map(map(map(workload.get("spec")).get("template")).get("spec"));
    return map(((List<?>) pod.get("containers")).getFirst());
  }

  private static Map<String, Object> annotations(Map<String, Object> workload) {
    return map(map(map(map(workload.get("spec")).get("template")).get("metadata")).get("annotations"));
  }

  private static List<String> envNames(Map<String, Object> container) {
    List<String> names = new ArrayList<>();
    if (container.get("env") instanceof List<?> env) {
      for (Object e : env) names.add((String) map(e).get("name"));
    }
    return names;
  }

  private static Map<String, Object> env(Map<String, Object> container, String name) {
    for (Object e : (List<?>) container.get("env")) {
      if (name.equals(map(e).get("name"))) return map(e);
    }
    throw new AssertionError("no env " + name);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Object o) {
    assertThat(o).isInstanceOf(Map.class);
    return (Map<String, Object>) o;
  }

  private static List<String> strings(Object o) {
    assertThat(o).isInstanceOf(List.class);
    return ((List<?>) o).stream().map(String::valueOf).toList();
  }
}
