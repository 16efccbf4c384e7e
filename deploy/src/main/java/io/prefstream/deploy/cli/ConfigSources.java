package io.prefstream.deploy.cli;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Where a command's settings come from, in one place. For every option the precedence is:
 *
 * <ol>
 *   <li>the flag on the command line ({@code --data-dir /x});
 *   <li>an environment variable: {@code PREFSTREAM_<COMMAND>_<NAME>} for one command, then
 *       {@code PREFSTREAM_<NAME>} for all ({@code PREFSTREAM_BROKER_DATA_DIR}, {@code
 *       PREFSTREAM_DATA_DIR}); either variable with {@code _FILE} appended names a file whose
 *       content is the value (secrets mounted as files: {@code PREFSTREAM_SERVE_ADMIN_TOKEN_FILE});
 *   <li>the properties file given by {@code --config FILE} (or {@code PREFSTREAM_CONFIG}): key
 *       {@code <command>.<name>} for one command, then {@code <name>} for all ({@code
 *       broker.data.dir}, {@code data.dir});
 *   <li>the option's own default.
 * </ol>
 *
 * An option's {@code <name>} is its longest flag without the dashes, with {@code -} read as {@code
 * .} in files and as {@code _} (upper case) in variables: {@code --bootstrap-servers} is {@code
 * bootstrap.servers} and {@code PREFSTREAM_BOOTSTRAP_SERVERS}. A nested command's {@code
 * <command>} is its path below {@code prefstream} joined by dots ({@code rollout.promote}). Picocli
 * consults this class for every option not given on the command line, so commands need no code of
 * their own to take settings from files or the environment; {@link #lookup} serves settings that
 * are not options.
 */
public final class ConfigSources implements CommandLine.IDefaultValueProvider {
  /** The flag naming the properties file; it is read before the command line is parsed. */
  public static final String CONFIG_FLAG = "--config";
  public static final String ENV_PREFIX = "PREFSTREAM_";
  /** A variable named like a setting's plus this suffix names a file that holds the value. */
  public static final String FILE_SUFFIX = "_FILE";

  private final Map<String, String> env;
  private final Properties file;
  private final Optional<Path> filePath;

  ConfigSources(Map<String, String> env, Properties file, Optional<Path> filePath) {
    this.env = Map.copyOf(env);
    this.file = file;
    this.filePath = filePath;
  }

  /**
   * Settings from the process environment and the {@code --config} file named in {@code args} (or
   * in {@code PREFSTREAM_CONFIG}).
   *
   * @throws IllegalArgumentException when the named file does not exist or cannot be read
   */
  public static ConfigSources from(String[] args, Map<String, String> env) {
    Optional<Path> path = configFlag(args).or(() -> Optional.ofNullable(env.get(ENV_PREFIX + "CONFIG"))).map(Path::of);
    Properties props = new Properties();
    if (path.isPresent()) {
      try (Reader in = Files.newBufferedReader(path.get())) {
        props.load(in);
      } catch (NoSuchFileException e) {
        throw new IllegalArgumentException("config file " + path.get() + " does not exist; expected a Java"
            + " properties file (key=value lines)");
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read config file " + path.get(), e);
      }
    }
    return new ConfigSources(env, props, path);
  }

  /** The value of {@code --config FILE} or {@code --config=FILE}, if present. */
  static Optional<String> configFlag(String[] args) {
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--")) break;
      if (args[i].equals(CONFIG_FLAG) && i + 1 < args.length) return Optional.of(args[i + 1]);
      if (args[i].startsWith(CONFIG_FLAG + "=")) return Optional.of(args[i].substring(CONFIG_FLAG.length() + 1));
    }
    return Optional.empty();
  }

  /** The properties file in use, if any. */
  public Optional<Path> file() {
    return filePath;
  }

  /**
   * A setting by command path and name (dotted, e.g. {@code ("broker", "data.dir")}), from the
   * environment or the file, with the precedence above; empty when neither sets it.
   */
  public Optional<String> lookup(String command, String name) {
    for (String key : candidates(command, name)) {
      String fromEnv = env.get(envName(key));
      if (fromEnv != null) return Optional.of(fromEnv);
      String file = env.get(envName(key) + FILE_SUFFIX);
      if (file != null) return Optional.of(readValueFile(envName(key) + FILE_SUFFIX, file));
    }
    for (String key : candidates(command, name)) {
      String fromFile = file.getProperty(key);
      if (fromFile != null) return Optional.of(fromFile.trim());
    }
    return Optional.empty();
  }

  @Override
  public String defaultValue(ArgSpec arg) {
    if (!(arg instanceof OptionSpec option) || option.longestName().equals(CONFIG_FLAG)) return null;
    if (option.usageHelp() || option.versionHelp()) return null;
    String name = option.longestName().replaceFirst("^-+", "").replace('-', '.').toLowerCase(Locale.ROOT);
    // Null lets picocli fall back to the option's own default.
    return lookup(commandPath(option.command()), name).orElse(null);
  }

  private static List<String> candidates(String command, String name) {
    List<String> keys = new ArrayList<>(2);
    if (!command.isEmpty()) keys.add(command + "." + name);
    keys.add(name);
    return keys;
  }

  /**
   * The content of a {@code PREFSTREAM_…_FILE} variable's file, trimmed: how secrets mounted as files
   * (Docker and Compose secrets, Kubernetes secret volumes) become settings without entering the
   * environment or the command line.
   */
  private static String readValueFile(String variable, String file) {
    try {
      return Files.readString(Path.of(file)).strip();
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(variable + "=" + file + ": no such file; it should hold the setting's value");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + variable + "=" + file, e);
    }
  }

  static String envName(String key) {
    return ENV_PREFIX + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
  }

  /** The command's names below the root, dotted; empty for the root itself. */
  static String commandPath(CommandSpec command) {
    Objects.requireNonNull(command, "command");
    List<String> names = new ArrayList<>();
    for (CommandSpec c = command; c.parent() != null; c = c.parent()) names.addFirst(c.name());
    return String.join(".", names);
  }
}
