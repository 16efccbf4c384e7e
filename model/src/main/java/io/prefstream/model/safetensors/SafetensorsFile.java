package io.prefstream.model.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.prefstream.model.tensor.NamedTensor;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A safetensors file opened for reading: the header is parsed and checked strictly when opened
 * (header length, JSON shape, known dtypes, every byte range inside the data section, ranges
 * contiguous and covering it without overlap, each range's length equal to shape × dtype size), and
 * the data section is memory-mapped so that tensors are converted to float32 straight from the page
 * cache without a second copy. Errors name the file and the tensor.
 */
public final class SafetensorsFile implements TensorSource {
  /** The reference implementation's limit on the JSON header. */
  public static final long MAX_HEADER_BYTES = 100_000_000L;

  static final ObjectMapper JSON = JsonMapper.builder()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .build();
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final Path path;
  private final Arena arena;
  private final MemorySegment data;
  private final Map<String, TensorInfo> tensors;
  private final Map<String, String> metadata;

  private SafetensorsFile(Path path, Arena arena, MemorySegment data, Map<String, TensorInfo> tensors,
      Map<String, String> metadata) {
    this.path = path;
    this.arena = arena;
    this.data = data;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** Opens, validates and maps a file; the caller closes it. */
  public static SafetensorsFile open(Path path) throws IOException {
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) {
        throw new InvalidSafetensorsException(path + ": file has " + size
            + " bytes, fewer than the 8-byte header length that starts a safetensors file");
      }
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0);
      long headerLen = lenBuf.getLong(0);
      if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
        throw new InvalidSafetensorsException(path + ": header length " + Long.toUnsignedString(headerLen)
            + " is outside [2, " + MAX_HEADER_BYTES + "]");
      }
      if (8 + headerLen > size) {
        throw new InvalidSafetensorsException(path + ": header length " + headerLen + " runs past the end of the "
            + size + "-byte file");
      }
      ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
      readFully(ch, headerBuf, 8);
      long dataLen = size - 8 - headerLen;
      Header header = parseHeader(path, headerBuf.array(), dataLen);
      Arena arena = Arena.ofShared();
      try {
        MemorySegment data = dataLen == 0 ? MemorySegment.ofArray(new byte[0])
            : ch.map(FileChannel.MapMode.READ_ONLY, 8 + headerLen, dataLen, arena);
        return new SafetensorsFile(path, arena, data, header.tensors, header.metadata);
      } catch (IOException | RuntimeException e) {
        arena.close();
        throw e;
      }
    }
  }

  private record Header(Map<String, TensorInfo> tensors, Map<String, String> metadata) {}

  private static Header parseHeader(Path path, byte[] bytes, long dataLen) throws InvalidSafetensorsException {
    if (bytes[0] != '{') {
      throw new InvalidSafetensorsException(path + ": header does not start with '{' (first byte 0x"
          + Integer.toHexString(bytes[0] & 0xFF) + ")");
    }
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      throw new InvalidSafetensorsException(path + ": header is not valid UTF-8", e);
    }
    JsonNode root;
    try {
      root = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      throw new InvalidSafetensorsException(path + ": header is not a valid JSON object: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new InvalidSafetensorsException(path + ": header is not a JSON object");
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    Map<String, TensorInfo> tensors = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String name = e.getKey();
      JsonNode v = e.getValue();
      if (name.equals("__metadata__")) {
        if (!v.isObject()) throw new InvalidSafetensorsException(path + ": __metadata__ must be an object of strings");
        for (Iterator<Map.Entry<String, JsonNode>> m = v.fields(); m.hasNext(); ) {
          Map.Entry<String, JsonNode> kv = m.next();
          if (!kv.getValue().isTextual()) {
            throw new InvalidSafetensorsException(path + ": __metadata__ value of '" + kv.getKey()
                + "' must be a string, got " + kv.getValue().getNodeType());
          }
          metadata.put(kv.getKey(), kv.getValue().asText());
        }
        continue;
      }
      tensors.put(name, parseEntry(path, name, v));
    }
    checkLayout(path, tensors.values(), dataLen);
    return new Header(Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
  }

  private static TensorInfo parseEntry(Path path, String name, JsonNode v) throws InvalidSafetensorsException {
    String where = path + ": tensor '" + name + "'";
    if (name.isEmpty()) throw new InvalidSafetensorsException(path + ": a tensor has an empty name");
    if (!v.isObject()) throw new InvalidSafetensorsException(where + ": entry must be an object");
    for (Iterator<String> f = v.fieldNames(); f.hasNext(); ) {
      String field = f.next();
      if (!Set.of("dtype", "shape", "data_offsets").contains(field)) {
        throw new InvalidSafetensorsException(where + ": unexpected field '" + field
            + "'; expected dtype, shape, data_offsets");
      }
    }
    JsonNode dt = v.get("dtype");
    if (dt == null || !dt.isTextual()) throw new InvalidSafetensorsException(where + ": dtype missing or not a string");
    DType dtype = DType.byName(dt.asText()).orElseThrow(() -> new InvalidSafetensorsException(
        where + ": unknown dtype '" + dt.asText() + "'; expected one of " + List.of(DType.values())));
    JsonNode sh = v.get("shape");
    if (sh == null || !sh.isArray()) throw new InvalidSafetensorsException(where + ": shape missing or not an array");
    int[] shape = new int[sh.size()];
    long numel = 1;
    for (int i = 0; i < shape.length; i++) {
      JsonNode d = sh.get(i);
      if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0 || d.asLong() > Integer.MAX_VALUE) {
        throw new InvalidSafetensorsException(where + ": shape dimension " + d + " is not an integer in [0, "
            + Integer.MAX_VALUE + "]");
      }
      shape[i] = (int) d.asLong();
      numel = Math.multiplyExact(numel, shape[i]);
    }
    JsonNode off = v.get("data_offsets");
    if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber()
        || !off.get(1).isIntegralNumber() || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong()) {
      throw new InvalidSafetensorsException(where + ": data_offsets must be [begin, end] integers, got " + off);
    }
    long begin = off.get(0).asLong();
    long end = off.get(1).asLong();
    if (begin < 0 || end < begin) {
      throw new InvalidSafetensorsException(where + ": data_offsets [" + begin + ", " + end
          + "] must satisfy 0 <= begin <= end");
    }
    long need = Math.multiplyExact(numel, (long) dtype.size());
    if (end - begin != need) {
      throw new InvalidSafetensorsException(where + ": data_offsets [" + begin + ", " + end + "] hold "
          + (end - begin) + " bytes but " + dtype + java.util.Arrays.toString(shape) + " needs " + need);
    }
    return new TensorInfo(name, dtype, shape, begin, end);
  }

  /** Ranges sorted by offset must tile the data section exactly: no gap, no overlap, no tail. */
  private static void checkLayout(Path path, java.util.Collection<TensorInfo> infos, long dataLen)
      throws InvalidSafetensorsException {
    List<TensorInfo> sorted = new ArrayList<>(infos);
    sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
    long expected = 0;
    for (TensorInfo t : sorted) {
      if (t.end() > dataLen) {
        throw new InvalidSafetensorsException(path + ": tensor '" + t.name() + "': data_offsets [" + t.begin()
            + ", " + t.end() + "] run past the " + dataLen + "-byte data section");
      }
      if (t.begin() < expected) {
        throw new InvalidSafetensorsException(path + ": tensor '" + t.name() + "': data_offsets [" + t.begin()
            + ", " + t.end() + "] overlap the previous tensor, which ends at " + expected);
      }
      if (t.begin() > expected) {
        throw new InvalidSafetensorsException(path + ": tensor '" + t.name() + "': data_offsets start at "
            + t.begin() + ", leaving a gap after byte " + expected + "; tensors must be contiguous");
      }
      expected = t.end();
    }
    if (expected != dataLen) {
      throw new InvalidSafetensorsException(path + ": tensors cover " + expected + " bytes but the data section has "
          + dataLen + " (trailing bytes or truncated header)");
    }
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos + buf.position());
      if (n < 0) throw new EOFException("unexpected end of file");
    }
  }

  public Path path() {
    return path;
  }

  @Override
  public Set<String> names() {
    return tensors.keySet();
  }

  @Override
  public TensorInfo info(String name) {
    TensorInfo t = tensors.get(name);
    if (t == null) throw new IllegalArgumentException(path + ": no tensor named '" + name + "'");
    return t;
  }

  @Override
  public Map<String, String> metadata() {
    return metadata;
  }

  /**
   * Reads one tensor as float32. F32 is copied, BF16 and F16 widen exactly, F64 narrows to the
   * nearest float; integer and boolean tensors are refused, since every model tensor is floating.
   */
  @Override
  public NamedTensor read(String name) throws IOException {
    TensorInfo t = info(name);
    if (!t.dtype().readableAsFloat()) {
      throw new InvalidSafetensorsException(path + ": tensor '" + name + "' has dtype " + t.dtype()
          + "; only F32, BF16, F16 and F64 tensors can be read as float32");
    }
    long n = t.numel();
    if (n > Integer.MAX_VALUE - 8) {
      throw new InvalidSafetensorsException(path + ": tensor '" + name + "' has " + n
          + " elements, more than a Java float[] holds");
    }
    float[] out = new float[(int) n];
    MemorySegment s = data.asSlice(t.begin(), t.byteLength());
    switch (t.dtype()) {
      case F32 -> MemorySegment.copy(s, F32, 0, out, 0, (int) n);
      case BF16, F16 -> widen16(s, out, t.dtype() == DType.BF16);
      case F64 -> {
        for (int i = 0; i < n; i++) out[i] = (float) s.get(F64, 8L * i);
      }
      default -> throw new IllegalStateException("unreachable: " + t.dtype());
    }
    return new NamedTensor(name, t.shape(), out);
  }

  /** Bulk-copies 16-bit patterns in chunks (much faster than per-element reads), then widens them. */
  private static void widen16(MemorySegment s, float[] out, boolean bf16) {
    short[] chunk = new short[Math.min(out.length, 1 << 16)];
    for (int start = 0; start < out.length; start += chunk.length) {
      int len = Math.min(chunk.length, out.length - start);
      MemorySegment.copy(s, I16, 2L * start, chunk, 0, len);
      if (bf16) {
        for (int i = 0; i < len; i++) out[start + i] = HalfFloats.bf16ToFloat(chunk[i]);
      } else {
        for (int i = 0; i < len; i++) out[start + i] = HalfFloats.f16ToFloat(chunk[i]);
      }
    }
  }

  /** Every tensor, in header order. */
  public Map<String, NamedTensor> readAll() throws IOException {
    Map<String, NamedTensor> all = new LinkedHashMap<>();
    for (String name : tensors.keySet()) all.put(name, read(name));
    return all;
  }

  @Override
  public void close() {
    arena.close();
  }
}
