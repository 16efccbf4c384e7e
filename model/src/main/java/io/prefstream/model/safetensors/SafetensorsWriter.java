package io.prefstream.model.safetensors;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.model.tensor.NamedTensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Writes float32 tensors as a safetensors file in F32 or BF16 (narrowed with round-to-nearest-even),
 * in the caller's order, with the header padded with spaces so that the data starts 8-byte aligned
 * as Hugging Face's writer does. Also writes a sharded set with a {@code *.safetensors.index.json}.
 * Files are fsynced before returning.
 */
public final class SafetensorsWriter {
  private static final int CHUNK = 1 << 20;

  private SafetensorsWriter() {}

  /** Writes every tensor in {@code dtype} (F32 or BF16). */
  public static void write(Path file, Collection<NamedTensor> tensors, Map<String, String> metadata, DType dtype)
      throws IOException {
    write(file, tensors, metadata, t -> dtype);
  }

  /** Writes each tensor in the dtype the function picks for it (F32 or BF16). */
  public static void write(Path file, Collection<NamedTensor> tensors, Map<String, String> metadata,
      Function<NamedTensor, DType> dtypeOf) throws IOException {
    ObjectNode header = SafetensorsFile.JSON.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      metadata.forEach(meta::put);
    }
    Set<String> seen = new HashSet<>();
    List<DType> types = new ArrayList<>();
    long offset = 0;
    for (NamedTensor t : tensors) {
      if (t.name().equals("__metadata__") || t.name().isEmpty()) {
        throw new IllegalArgumentException("tensor name '" + t.name() + "' is reserved or empty");
      }
      if (!seen.add(t.name())) throw new IllegalArgumentException("tensor '" + t.name() + "' given twice");
      DType dt = dtypeOf.apply(t);
      if (dt != DType.F32 && dt != DType.BF16) {
        throw new IllegalArgumentException("tensor '" + t.name() + "': can write F32 or BF16, not " + dt);
      }
      types.add(dt);
      long len = t.numel() * dt.size();
      ObjectNode e = header.putObject(t.name());
      e.put("dtype", dt.name());
      ArrayNode shape = e.putArray("shape");
      for (int d : t.shape()) shape.add(d);
      e.putArray("data_offsets").add(offset).add(offset + len);
      offset += len;
    }
    byte[] json = SafetensorsFile.JSON.writeValueAsBytes(header);
    int padded = (json.length + 7) / 8 * 8;
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(json);
    while (head.hasRemaining()) head.put((byte) ' ');
    head.flip();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      writeFully(ch, head);
      ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
      int k = 0;
      for (NamedTensor t : tensors) {
        DType dt = types.get(k++);
        float[] d = t.data();
        for (float v : d) {
          if (buf.remaining() < 4) {
            buf.flip();
            writeFully(ch, buf);
            buf.clear();
          }
          if (dt == DType.F32) buf.putFloat(v);
          else buf.putShort(HalfFloats.floatToBf16(v));
        }
      }
      buf.flip();
      writeFully(ch, buf);
      ch.force(true);
    }
  }

  /**
   * Writes tensors into shards of at most {@code maxShardBytes} of data each (a tensor larger than
   * that gets a shard of its own), named {@code <prefix>-00001-of-0000N.safetensors}, plus
   * {@code <prefix>.safetensors.index.json} mapping every name to its shard. Returns the index path.
   */
  public static Path writeSharded(Path dir, String prefix, Collection<NamedTensor> tensors, long maxShardBytes,
      DType dtype) throws IOException {
    List<List<NamedTensor>> shards = new ArrayList<>();
    List<NamedTensor> current = new ArrayList<>();
    long currentBytes = 0;
    long total = 0;
    for (NamedTensor t : tensors) {
      long len = t.numel() * dtype.size();
      if (!current.isEmpty() && currentBytes + len > maxShardBytes) {
        shards.add(current);
        current = new ArrayList<>();
        currentBytes = 0;
      }
      current.add(t);
      currentBytes += len;
      total += len;
    }
    if (!current.isEmpty()) shards.add(current);
    Files.createDirectories(dir);
    Map<String, String> weightMap = new LinkedHashMap<>();
    for (int i = 0; i < shards.size(); i++) {
      String file = String.format("%s-%05d-of-%05d.safetensors", prefix, i + 1, shards.size());
      write(dir.resolve(file), shards.get(i), Map.of("format", "pt"), dtype);
      for (NamedTensor t : shards.get(i)) weightMap.put(t.name(), file);
    }
    ObjectNode index = SafetensorsFile.JSON.createObjectNode();
    index.putObject("metadata").put("total_size", total);
    ObjectNode wm = index.putObject("weight_map");
    weightMap.forEach(wm::put);
    Path indexPath = dir.resolve(prefix + ".safetensors.index.json");
    Files.write(indexPath, SafetensorsFile.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index)
        .getBytes(StandardCharsets.UTF_8));
    return indexPath;
  }

  private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) ch.write(buf);
  }
}
