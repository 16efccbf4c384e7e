package io.prefstream.model.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Versioned checkpoints on a file system: {@code <root>/<policy>/<version>/} holds whatever files the
 * caller writes (adapter or full weights, optimiser state, trainer_state.json) plus
 * {@code manifest.json} with every file's size and sha256. A version is written into a hidden
 * temporary sibling, every file and directory is fsynced, the manifest is written and fsynced last,
 * and the directory is renamed into place atomically and its parent fsynced; so a version directory
 * either does not exist or is complete, and temporary leftovers of a crash are ignored (and removed
 * by {@link #cleanup()}). Versions only grow. Opening verifies every file against the manifest.
 * One writer per policy, as the learner guarantees.
 */
public final class CheckpointStore {
  private static final Logger log = LoggerFactory.getLogger(CheckpointStore.class);
  public static final String MANIFEST = "manifest.json";
  private static final String TMP_PREFIX = ".tmp-";
  private static final Pattern POLICY = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  private static final Pattern VERSION = Pattern.compile("0|[1-9][0-9]{0,18}");
  private static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  private final Path root;

  /** Fills a staging directory with a checkpoint's files. */
  @FunctionalInterface
  public interface Contents {
    void writeTo(Path stagingDir) throws IOException;
  }

  public CheckpointStore(Path root) {
    this.root = root.toAbsolutePath().normalize();
  }

  public Path root() {
    return root;
  }

  private Path policyDir(String policy) {
    if (!POLICY.matcher(policy).matches()) {
      throw new IllegalArgumentException("policy id '" + policy + "' must match " + POLICY.pattern());
    }
    return root.resolve(policy);
  }

  /**
   * Writes version {@code version} of {@code policy}: {@code contents} fills a staging directory,
   * then the store fsyncs, writes the manifest and renames it into place. Refuses a version that
   * is not above every existing one (complete or not) and a caller file named manifest.json.
   */
  public Checkpoint write(String policy, long version, String format, Contents contents) throws IOException {
    Path pdir = policyDir(policy);
    if (version < 0) throw new IllegalArgumentException("version must be >= 0, got " + version);
    Files.createDirectories(pdir);
    Path target = pdir.resolve(Long.toString(version));
    if (Files.exists(target)) {
      throw new FileAlreadyExistsException(target.toString(), null, "checkpoint version " + version + " of policy '"
          + policy + "' already exists");
    }
    OptionalLongMax highest = highestVersion(pdir);
    if (highest.present && version <= highest.value) {
      throw new IllegalArgumentException("checkpoint versions must grow: policy '" + policy + "' already has version "
          + highest.value + ", cannot write " + version);
    }
    Path staging = pdir.resolve(TMP_PREFIX + version + "-" + UUID.randomUUID());
    Files.createDirectory(staging);
    try {
      contents.writeTo(staging);
      if (Files.exists(staging.resolve(MANIFEST))) {
        throw new IllegalArgumentException("checkpoint contents must not include " + MANIFEST + "; the store writes it");
      }
      Map<String, Manifest.FileEntry> files = new TreeMap<>();
      List<Path> dirs = new ArrayList<>();
      try (Stream<Path> walk = Files.walk(staging)) {
        for (Path p : (Iterable<Path>) walk::iterator) {
          if (Files.isSymbolicLink(p)) throw new IllegalArgumentException("checkpoint file " + p + " is a symbolic link");
          if (Files.isDirectory(p)) {
            dirs.add(p);
          } else if (Files.isRegularFile(p)) {
            fsync(p, false);
            files.put(relative(staging, p), new Manifest.FileEntry(Files.size(p), sha256(p)));
          } else {
            throw new IllegalArgumentException("checkpoint entry " + p + " is not a regular file");
          }
        }
      }
      Manifest manifest = new Manifest(Manifest.CURRENT_VERSION, policy, version, format,
          Instant.now().truncatedTo(ChronoUnit.MILLIS), files);
      byte[] manifestBytes = JSON.writeValueAsBytes(toJson(manifest));
      Files.write(staging.resolve(MANIFEST), manifestBytes, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      fsync(staging.resolve(MANIFEST), false);
      dirs.sort(Comparator.comparingInt(Path::getNameCount).reversed()); // children before parents
      for (Path d : dirs) fsync(d, true);
      Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
      fsync(pdir, true);
      log.info("checkpoint {} version {} written ({} files, format {})", policy, version, files.size(), format);
      return new Checkpoint(policy, version, target, target.toUri(), hex(digest(manifestBytes)), manifest);
    } catch (IOException | RuntimeException e) {
      deleteTree(staging);
      throw e;
    }
  }

  /** Convenience for small checkpoints: writes the given bytes under their relative paths. */
  public Checkpoint write(String policy, long version, String format, Map<String, byte[]> files) throws IOException {
    return write(policy, version, format, dir -> {
      for (Map.Entry<String, byte[]> f : files.entrySet()) {
        Path p = dir.resolve(f.getKey()).normalize();
        if (!p.startsWith(dir) || p.equals(dir)) throw new IllegalArgumentException("file path '" + f.getKey() + "' escapes the checkpoint");
        Files.createDirectories(p.getParent());
        Files.write(p, f.getValue());
      }
    });
  }

  /** Versions of {@code policy} whose directory holds a manifest (in increasing order). */
  public List<Long> list(String policy) throws IOException {
    List<Long> out = new ArrayList<>();
    for (long v : versionDirs(policyDir(policy))) {
      if (Files.isRegularFile(policyDir(policy).resolve(Long.toString(v)).resolve(MANIFEST))) out.add(v);
    }
    return out;
  }

  /**
   * The newest version that verifies against its manifest. Versions that fail verification are
   * logged and skipped, so a learner resumes from the newest good state.
   */
  public Optional<Checkpoint> latestComplete(String policy) throws IOException {
    List<Long> versions = list(policy);
    for (int i = versions.size() - 1; i >= 0; i--) {
      try {
        return Optional.of(open(policy, versions.get(i)));
      } catch (CorruptCheckpointException e) {
        log.warn("skipping corrupt checkpoint: {}", e.getMessage());
      }
    }
    return Optional.empty();
  }

  /** The highest version directory present, complete or not (for choosing the next version). */
  public Optional<Long> highestVersion(String policy) throws IOException {
    OptionalLongMax m = highestVersion(policyDir(policy));
    return m.present ? Optional.of(m.value) : Optional.empty();
  }

  /** A version's manifest as written, without checking the files against it (for bookkeeping). */
  public Manifest manifest(String policy, long version) throws IOException {
    Path mf = policyDir(policy).resolve(Long.toString(version)).resolve(MANIFEST);
    return parse(Files.readAllBytes(mf), "checkpoint " + mf.getParent().toUri());
  }

  /** Opens and verifies a version: every manifest file present with its size and hash, nothing else. */
  public Checkpoint open(String policy, long version) throws IOException {
    Path dir = policyDir(policy).resolve(Long.toString(version));
    String where = "checkpoint " + dir.toUri();
    if (!Files.isDirectory(dir)) throw new NoSuchFileException(dir.toString(), null, "no checkpoint version " + version
        + " of policy '" + policy + "'");
    Path mf = dir.resolve(MANIFEST);
    if (!Files.isRegularFile(mf)) {
      throw new CorruptCheckpointException(where + ": no " + MANIFEST + " (partial or foreign directory)");
    }
    byte[] manifestBytes = Files.readAllBytes(mf);
    Manifest manifest = parse(manifestBytes, where);
    if (!manifest.policy().equals(policy) || manifest.version() != version) {
      throw new CorruptCheckpointException(where + ": " + MANIFEST + " describes policy '" + manifest.policy()
          + "' version " + manifest.version());
    }
    for (Map.Entry<String, Manifest.FileEntry> e : manifest.files().entrySet()) {
      Path p = dir.resolve(e.getKey()).normalize();
      if (!p.startsWith(dir)) throw new CorruptCheckpointException(where + ": manifest path '" + e.getKey() + "' escapes");
      if (!Files.isRegularFile(p)) throw new CorruptCheckpointException(where + ": file '" + e.getKey() + "' is missing");
      long size = Files.size(p);
      if (size != e.getValue().size()) {
        throw new CorruptCheckpointException(where + ": file '" + e.getKey() + "' has " + size
            + " bytes, manifest says " + e.getValue().size());
      }
      String hash = sha256(p);
      if (!hash.equals(e.getValue().sha256())) {
        throw new CorruptCheckpointException(where + ": file '" + e.getKey() + "' has sha256 " + hash
            + ", manifest says " + e.getValue().sha256());
      }
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) walk::iterator) {
        if (Files.isDirectory(p) || p.equals(mf)) continue;
        String rel = relative(dir, p);
        if (!manifest.files().containsKey(rel)) {
          throw new CorruptCheckpointException(where + ": file '" + rel + "' is not in the manifest");
        }
      }
    }
    return new Checkpoint(policy, version, dir, dir.toUri(), hex(digest(manifestBytes)), manifest);
  }

  /**
   * Opens the checkpoint a PolicyUpdate names by URI ({@code file:///<root>/<policy>/<version>/}),
   * verifies it, and when {@code expectedManifestSha256} is not null checks that it is the very
   * checkpoint announced (the manifest's hash covers every file's hash).
   */
  public static Checkpoint openUri(URI uri, String expectedManifestSha256) throws IOException {
    if (!"file".equals(uri.getScheme())) {
      throw new IllegalArgumentException("checkpoint URI " + uri + " is not a file: URI; only the file-system store exists");
    }
    Path dir = Path.of(uri).toAbsolutePath().normalize();
    Path policyDir = dir.getParent();
    if (policyDir == null || policyDir.getParent() == null || !VERSION.matcher(dir.getFileName().toString()).matches()) {
      throw new IllegalArgumentException("checkpoint URI " + uri + " is not of the form file:///<root>/<policy>/<version>/");
    }
    Checkpoint c = new CheckpointStore(policyDir.getParent())
        .open(policyDir.getFileName().toString(), Long.parseLong(dir.getFileName().toString()));
    if (expectedManifestSha256 != null && !expectedManifestSha256.equalsIgnoreCase(c.manifestSha256())) {
      throw new CorruptCheckpointException("checkpoint " + c.uri() + ": manifest sha256 is " + c.manifestSha256()
          + " but " + expectedManifestSha256 + " was expected");
    }
    return c;
  }

  /** Removes temporary directories left by interrupted writes; returns how many. Not while writing. */
  public int cleanup() throws IOException {
    if (!Files.isDirectory(root)) return 0;
    int removed = 0;
    try (DirectoryStream<Path> policies = Files.newDirectoryStream(root, Files::isDirectory)) {
      for (Path p : policies) {
        try (DirectoryStream<Path> tmps = Files.newDirectoryStream(p, TMP_PREFIX + "*")) {
          for (Path t : tmps) {
            deleteTree(t);
            removed++;
            log.info("removed leftover checkpoint staging directory {}", t);
          }
        }
      }
    }
    return removed;
  }

  private record OptionalLongMax(boolean present, long value) {}

  private static OptionalLongMax highestVersion(Path pdir) throws IOException {
    List<Long> v = versionDirs(pdir);
    return v.isEmpty() ? new OptionalLongMax(false, 0) : new OptionalLongMax(true, v.getLast());
  }

  private static List<Long> versionDirs(Path pdir) throws IOException {
    List<Long> out = new ArrayList<>();
    if (!Files.isDirectory(pdir)) return out;
    try (DirectoryStream<Path> s = Files.newDirectoryStream(pdir, Files::isDirectory)) {
      for (Path p : s) {
        String name = p.getFileName().toString();
        if (VERSION.matcher(name).matches()) out.add(Long.parseLong(name));
      }
    }
    out.sort(null);
    return out;
  }

  private static String relative(Path base, Path p) {
    return base.relativize(p).toString().replace('\\', '/');
  }

  private static ObjectNode toJson(Manifest m) {
    ObjectNode o = JSON.createObjectNode();
    o.put("manifest_version", m.manifestVersion());
    o.put("policy", m.policy());
    o.put("version", m.version());
    o.put("format", m.format());
    o.put("created_at", m.createdAt().toString());
    ObjectNode files = o.putObject("files");
    m.files().forEach((k, v) -> files.putObject(k).put("size", v.size()).put("sha256", v.sha256()));
    return o;
  }

  static Manifest parse(byte[] bytes, String where) throws CorruptCheckpointException {
    try {
      JsonNode o = JSON.readTree(bytes);
      if (o == null || !o.isObject()) throw new CorruptCheckpointException(where + ": " + MANIFEST + " is not a JSON object");
      int mv = o.path("manifest_version").asInt(-1);
      if (mv != Manifest.CURRENT_VERSION) {
        throw new CorruptCheckpointException(where + ": " + MANIFEST + " has manifest_version " + o.get("manifest_version")
            + ", expected " + Manifest.CURRENT_VERSION);
      }
      Map<String, Manifest.FileEntry> files = new TreeMap<>();
      JsonNode f = o.get("files");
      if (f == null || !f.isObject()) throw new CorruptCheckpointException(where + ": " + MANIFEST + " has no files object");
      for (Iterator<Map.Entry<String, JsonNode>> it = f.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        JsonNode size = e.getValue().get("size");
        JsonNode sha = e.getValue().get("sha256");
        if (size == null || !size.canConvertToLong() || sha == null || !sha.isTextual()) {
          throw new CorruptCheckpointException(where + ": " + MANIFEST + " entry '" + e.getKey() + "' lacks size or sha256");
        }
        files.put(e.getKey(), new Manifest.FileEntry(size.asLong(), sha.asText()));
      }
      return new Manifest(mv, o.path("policy").asText(), o.path("version").asLong(-1), o.path("format").asText(),
          Instant.parse(o.path("created_at").asText()), files);
    } catch (JsonProcessingException | java.time.format.DateTimeParseException e) {
      throw new CorruptCheckpointException(where + ": " + MANIFEST + " is unreadable: " + e.getMessage(), e);
    } catch (IOException e) {
      throw new CorruptCheckpointException(where + ": " + MANIFEST + " is unreadable: " + e.getMessage(), e);
    }
  }

  private static void fsync(Path p, boolean directory) throws IOException {
    // A directory is fsynced through a read-only channel (Linux allows it); files through a writable one.
    try (FileChannel ch = FileChannel.open(p, directory ? StandardOpenOption.READ : StandardOpenOption.WRITE)) {
      ch.force(true);
    }
  }

  static String sha256(Path p) throws IOException {
    MessageDigest md = newDigest();
    byte[] buf = new byte[1 << 16];
    try (InputStream in = Files.newInputStream(p)) {
      for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
    }
    return hex(md.digest());
  }

  static byte[] digest(byte[] bytes) {
    return newDigest().digest(bytes);
  }

  private static MessageDigest newDigest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK provides SHA-256", e);
    }
  }

  static String hex(byte[] b) {
    return HexFormat.of().formatHex(b);
  }

  private static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) return;
    try (Stream<Path> walk = Files.walk(p)) {
      for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
    }
  }
}
