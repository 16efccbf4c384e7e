package io.prefstream.model.safetensors;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * An independent safetensors writer for tests: the header JSON is assembled by string concatenation
 * and the bytes by hand, following the published layout, so that the reader is checked against
 * something that does not share its code.
 */
public final class HandWrittenSafetensors {
  private final StringBuilder header = new StringBuilder();
  private final ByteArrayOutputStream data = new ByteArrayOutputStream();

  /** Adds a {@code __metadata__} object holding one string (call at most once). */
  public HandWrittenSafetensors metadata(String key, String value) {
    sep();
    header.append("\"__metadata__\":{\"").append(key).append("\":\"").append(value).append("\"}");
    return this;
  }

  /** Adds a tensor whose bytes are already encoded (little-endian) in its dtype. */
  public HandWrittenSafetensors raw(String name, String dtype, int[] shape, byte[] bytes) {
    sep();
    long begin = data.size();
    data.writeBytes(bytes);
    header.append('"').append(name).append("\":{\"dtype\":\"").append(dtype).append("\",\"shape\":[")
        .append(Arrays.stream(shape).mapToObj(Integer::toString).collect(Collectors.joining(",")))
        .append("],\"data_offsets\":[").append(begin).append(',').append(data.size()).append("]}");
    return this;
  }

  public HandWrittenSafetensors f32(String name, int[] shape, float[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) b.putInt(Float.floatToRawIntBits(v));
    return raw(name, "F32", shape, b.array());
  }

  /** Stores the upper 16 bits of each float32 (exact for values already on the bf16 grid). */
  public HandWrittenSafetensors bf16Truncated(String name, int[] shape, float[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) b.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
    return raw(name, "BF16", shape, b.array());
  }

  public HandWrittenSafetensors shorts(String name, String dtype, int[] shape, short[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (short v : values) b.putShort(v);
    return raw(name, dtype, shape, b.array());
  }

  public HandWrittenSafetensors f64(String name, int[] shape, double[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    for (double v : values) b.putLong(Double.doubleToRawLongBits(v));
    return raw(name, "F64", shape, b.array());
  }

  private void sep() {
    if (!header.isEmpty()) header.append(',');
  }

  public String headerJson() {
    return "{" + header + "}";
  }

  public byte[] dataBytes() {
    return data.toByteArray();
  }

  /** Writes the file: 8-byte little-endian header length, the header, the data. */
  public Path writeTo(Path file) throws IOException {
    return writeRaw(file, headerJson(), dataBytes());
  }

  /** Writes an arbitrary header text and data, for corruption tests. */
  public static Path writeRaw(Path file, String headerJson, byte[] data) throws IOException {
    byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h).put(data);
    Files.write(file, b.array());
    return file;
  }
}
