package io.prefstream.model.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.prefstream.model.tensor.NamedTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A model split over several safetensors files behind Hugging Face's
 * {@code model.safetensors.index.json} ({@code {"metadata": {...}, "weight_map": {name: file}}}).
 * Every shard is opened and validated up front; the index and the shards must agree exactly (each
 * mapped tensor is in its shard, each shard tensor is mapped to that shard).
 */
public final class ShardedSafetensors implements TensorSource {
  private final Map<String, SafetensorsFile> byTensor;
  private final Map<String, SafetensorsFile> shards;
  private final Map<String, String> metadata;

  private ShardedSafetensors(Map<String, SafetensorsFile> byTensor, Map<String, SafetensorsFile> shards,
      Map<String, String> metadata) {
    this.byTensor = byTensor;
    this.shards = shards;
    this.metadata = metadata;
  }

  /** Opens the index and every shard it names (shard paths are relative to the index's folder). */
  public static ShardedSafetensors open(Path indexFile) throws IOException {
    JsonNode root;
    try {
      root = SafetensorsFile.JSON.readTree(Files.readString(indexFile));
    } catch (JsonProcessingException e) {
      throw new InvalidSafetensorsException(indexFile + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) throw new InvalidSafetensorsException(indexFile + ": not a JSON object");
    JsonNode wm = root.get("weight_map");
    if (wm == null || !wm.isObject() || wm.isEmpty()) {
      throw new InvalidSafetensorsException(indexFile + ": weight_map missing, empty or not an object");
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    JsonNode meta = root.get("metadata");
    if (meta != null && meta.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = meta.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        metadata.put(e.getKey(), e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString());
      }
    }
    Path dir = indexFile.toAbsolutePath().getParent();
    Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
    Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
    try {
      for (Iterator<Map.Entry<String, JsonNode>> it = wm.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!e.getValue().isTextual()) {
          throw new InvalidSafetensorsException(indexFile + ": weight_map entry '" + e.getKey()
              + "' must name a file, got " + e.getValue());
        }
        String file = e.getValue().asText();
        Path shardPath = dir.resolve(file).normalize();
        if (!shardPath.startsWith(dir) || file.contains("/") || file.contains("\\")) {
          throw new InvalidSafetensorsException(indexFile + ": weight_map entry '" + e.getKey()
              + "' names '" + file + "', which is not a file in the index's folder");
        }
        SafetensorsFile shard = shards.get(file);
        if (shard == null) {
          try {
            shard = SafetensorsFile.open(shardPath);
          } catch (NoSuchFileException nf) {
            throw new InvalidSafetensorsException(indexFile + ": shard '" + file + "' (holding '" + e.getKey()
                + "') does not exist", nf);
          }
          shards.put(file, shard);
        }
        if (!shard.names().contains(e.getKey())) {
          throw new InvalidSafetensorsException(indexFile + ": tensor '" + e.getKey() + "' is mapped to '" + file
              + "' but that shard does not contain it");
        }
        byTensor.put(e.getKey(), shard);
      }
      for (Map.Entry<String, SafetensorsFile> s : shards.entrySet()) {
        Set<String> unmapped = new HashSet<>(s.getValue().names());
        unmapped.removeIf(n -> byTensor.get(n) == s.getValue());
        if (!unmapped.isEmpty()) {
          throw new InvalidSafetensorsException(indexFile + ": shard '" + s.getKey()
              + "' holds tensors the weight_map does not map to it: " + unmapped);
        }
      }
    } catch (IOException | RuntimeException e) {
      shards.values().forEach(SafetensorsFile::close);
      throw e;
    }
    return new ShardedSafetensors(Collections.unmodifiableMap(byTensor), shards, Collections.unmodifiableMap(metadata));
  }

  @Override
  public Set<String> names() {
    return byTensor.keySet();
  }

  @Override
  public TensorInfo info(String name) {
    SafetensorsFile f = byTensor.get(name);
    if (f == null) throw new IllegalArgumentException("no tensor named '" + name + "' in the weight_map");
    return f.info(name);
  }

  @Override
  public NamedTensor read(String name) throws IOException {
    SafetensorsFile f = byTensor.get(name);
    if (f == null) throw new IllegalArgumentException("no tensor named '" + name + "' in the weight_map");
    return f.read(name);
  }

  @Override
  public Map<String, String> metadata() {
    return metadata;
  }

  @Override
  public void close() {
    shards.values().forEach(SafetensorsFile::close);
  }
}
