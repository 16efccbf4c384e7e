package io.prefstream.model.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointStoreTest {
  @TempDir Path root;
  CheckpointStore store;

  @BeforeEach
  void setUp() {
    store = new CheckpointStore(root);
  }

  static Map<String, byte[]> files(String tag) {
    Map<String, byte[]> m = new LinkedHashMap<>();
    m.put("adapter_config.json", ("{\"r\": 4, \"tag\": \"" + tag + "\"}").getBytes(StandardCharsets.UTF_8));
    m.put("adapter_model.safetensors", new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
    m.put("optimizer/state.bin", ("adam " + tag).getBytes(StandardCharsets.UTF_8));
    m.put("trainer_state.json", "{\"step\": 10}".getBytes(StandardCharsets.UTF_8));
    return m;
  }

  @Test
  void writesAVersionWithAManifestAndOpensItVerified() throws Exception {
    Checkpoint c = store.write("default", 1, "LORA", files("a"));
    assertThat(c.dir()).isEqualTo(root.resolve("default/1"));
    assertThat(c.uri().toString()).startsWith("file:///").endsWith("/default/1/");
    assertThat(c.manifest().files()).containsOnlyKeys("adapter_config.json", "adapter_model.safetensors",
        "optimizer/state.bin", "trainer_state.json");
    assertThat(c.manifest().files().get("adapter_model.safetensors").size()).isEqualTo(8);
    byte[] manifest = Files.readAllBytes(c.dir().resolve("manifest.json"));
    assertThat(c.manifestSha256()).isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(manifest)));
    Checkpoint opened = store.open("default", 1);
    assertThat(opened.manifestSha256()).isEqualTo(c.manifestSha256());
    assertThat(opened.format()).isEqualTo("LORA");
    assertThat(Files.readAllBytes(opened.file("optimizer/state.bin"))).isEqualTo(files("a").get("optimizer/state.bin"));
    try (Stream<Path> s = Files.list(root.resolve("default"))) {
      assertThat(s.map(p -> p.getFileName().toString())).containsExactly("1"); // no staging left behind
    }
  }

  @Test
  void refusesExistingAndNonIncreasingVersions() throws IOException {
    store.write("p", 5, "LORA", files("a"));
    assertThatThrownBy(() -> store.write("p", 5, "LORA", files("b"))).isInstanceOf(FileAlreadyExistsException.class)
        .hasMessageContaining("already exists");
    assertThatThrownBy(() -> store.write("p", 3, "LORA", files("b"))).hasMessageContaining("must grow")
        .hasMessageContaining("version 5");
    assertThat(store.write("p", 6, "LORA", files("c")).version()).isEqualTo(6);
    assertThat(store.list("p")).containsExactly(5L, 6L);
  }

  @Test
  void aFailedWriteLeavesNothingAndCanBeRetried() throws IOException {
    assertThatThrownBy(() -> store.write("p", 1, "FULL", dir -> {
      Files.write(dir.resolve("half.bin"), new byte[10]);
      throw new IOException("disk full");
    })).hasMessage("disk full");
    try (Stream<Path> s = Files.list(root.resolve("p"))) {
      assertThat(s).isEmpty();
    }
    assertThat(store.write("p", 1, "FULL", files("x")).version()).isEqualTo(1);
  }

  @Test
  void refusesCallerManifestsAndBadPolicyIds() {
    assertThatThrownBy(() -> store.write("p", 1, "LORA", Map.of("manifest.json", new byte[1])))
        .hasMessageContaining("must not include manifest.json");
    assertThatThrownBy(() -> store.write("../etc", 1, "LORA", files("a"))).hasMessageContaining("policy id '../etc'");
    assertThatThrownBy(() -> store.write("p", 2, "LORA", Map.of("../x", new byte[1]))).hasMessageContaining("escapes");
  }

  @Test
  void refusesAFileWithChangedContentNamingIt() throws IOException {
    Checkpoint c = store.write("p", 1, "LORA", files("a"));
    Files.write(c.dir().resolve("adapter_model.safetensors"), new byte[] {1, 2, 3, 4, 5, 6, 7, 9});
    assertThatThrownBy(() -> store.open("p", 1)).isInstanceOf(CorruptCheckpointException.class)
        .hasMessageContaining("'adapter_model.safetensors' has sha256").hasMessageContaining("/p/1/");
  }

  @Test
  void refusesATruncatedFile() throws IOException {
    Checkpoint c = store.write("p", 1, "LORA", files("a"));
    Files.write(c.dir().resolve("optimizer/state.bin"), new byte[2]);
    assertThatThrownBy(() -> store.open("p", 1)).isInstanceOf(CorruptCheckpointException.class)
        .hasMessageContaining("'optimizer/state.bin' has 2 bytes, manifest says 6");
  }

  @Test
  void refusesMissingAndExtraFiles() throws IOException {
    Checkpoint c = store.write("p", 1, "LORA", files("a"));
    Files.write(c.dir().resolve("stray.txt"), new byte[1]);
    assertThatThrownBy(() -> store.open("p", 1)).isInstanceOf(CorruptCheckpointException.class)
        .hasMessageContaining("'stray.txt' is not in the manifest");
    Files.delete(c.dir().resolve("stray.txt"));
    Files.delete(c.dir().resolve("trainer_state.json"));
    assertThatThrownBy(() -> store.open("p", 1)).isInstanceOf(CorruptCheckpointException.class)
        .hasMessageContaining("'trainer_state.json' is missing");
  }

  @Test
  void refusesAPartialDirectoryWithoutManifest() throws IOException {
    Files.createDirectories(root.resolve("p/3"));
    Files.write(root.resolve("p/3/adapter_model.safetensors"), new byte[4]);
    assertThatThrownBy(() -> store.open("p", 3)).isInstanceOf(CorruptCheckpointException.class)
        .hasMessageContaining("no manifest.json");
    assertThat(store.list("p")).isEmpty();
    assertThatThrownBy(() -> store.open("p", 4)).hasMessageContaining("no checkpoint version 4");
  }

  @Test
  void ignoresCrashLeftoversAndCleansThemUp() throws IOException {
    store.write("p", 1, "LORA", files("a"));
    store.write("p", 2, "LORA", files("b"));
    // A crash mid-write leaves a staging directory, possibly with most of a manifest-less checkpoint.
    Path leftover = root.resolve("p/.tmp-3-0b5e");
    Files.createDirectories(leftover);
    Files.write(leftover.resolve("adapter_model.safetensors"), new byte[3]);
    assertThat(store.list("p")).containsExactly(1L, 2L);
    assertThat(store.latestComplete("p")).get().extracting(Checkpoint::version).isEqualTo(2L);
    assertThat(store.cleanup()).isEqualTo(1);
    assertThat(leftover).doesNotExist();
    assertThat(store.write("p", 3, "LORA", files("c")).version()).isEqualTo(3);
  }

  @Test
  void opensByUriCheckingTheAnnouncedManifestHash() throws IOException {
    Checkpoint c = store.write("p", 4, "LORA", files("a"));
    assertThat(CheckpointStore.openUri(c.uri(), c.manifestSha256()).version()).isEqualTo(4L);
    assertThat(CheckpointStore.openUri(c.uri(), null).policy()).isEqualTo("p");
    // Flip the first hex digit, so the announced hash differs whatever the real one is.
    char first = c.manifestSha256().charAt(0);
    String wrong = (first == '0' ? '1' : '0') + c.manifestSha256().substring(1);
    assertThatThrownBy(() -> CheckpointStore.openUri(c.uri(), wrong))
        .isInstanceOf(CorruptCheckpointException.class).hasMessageContaining("was expected");
    assertThatThrownBy(() -> CheckpointStore.openUri(java.net.URI.create("s3://bucket/p/4/"), null))
        .hasMessageContaining("not a file: URI");
  }

  @Test
  void latestCompletePicksTheNewestVerifiedVersion() throws IOException {
    assertThat(store.latestComplete("p")).isEmpty();
    store.write("p", 1, "LORA", files("a"));
    store.write("p", 2, "LORA", files("b"));
    store.write("p", 10, "LORA", files("c"));
    assertThat(store.latestComplete("p")).get().extracting(Checkpoint::version).isEqualTo(10L);
    Files.write(root.resolve("p/10/trainer_state.json"), "{\"step\": 11}".getBytes(StandardCharsets.UTF_8));
    assertThat(store.latestComplete("p")).get().extracting(Checkpoint::version).isEqualTo(2L);
    assertThat(store.highestVersion("p")).contains(10L);
    assertThat(store.list("other")).isEmpty();
  }
}
