package io.prefstream.model.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.model.tensor.NamedTensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {
  @TempDir Path dir;

  static final float[] EDGE = {0f, -0f, 1f, -1.5f, Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE,
      Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 3.14159f, 1e-40f, 65504f, 65520f};

  static NamedTensor random(String name, int[] shape, long seed) {
    int n = 1;
    for (int d : shape) n *= d;
    float[] v = new float[n];
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
    return new NamedTensor(name, shape, v);
  }

  @Test
  void roundTripsF32ExactlyWithMetadataAndOrder() throws IOException {
    Path f = dir.resolve("a.safetensors");
    List<NamedTensor> ts = List.of(random("w", new int[] {3, 5}, 1), new NamedTensor("edge", new int[] {EDGE.length}, EDGE),
        new NamedTensor("scalar", new int[] {}, new float[] {2f}), new NamedTensor("empty", new int[] {0, 4}, new float[0]));
    SafetensorsWriter.write(f, ts, Map.of("format", "pt"), DType.F32);
    assertThat((Files.size(f) - 8 - 0) % 1).isZero();
    try (SafetensorsFile sf = SafetensorsFile.open(f)) {
      assertThat(sf.names()).containsExactly("w", "edge", "scalar", "empty");
      assertThat(sf.metadata()).containsEntry("format", "pt");
      for (NamedTensor t : ts) assertThat(sf.read(t.name())).isEqualTo(t);
      assertThat(sf.info("w").dtype()).isEqualTo(DType.F32);
    }
    // Data starts 8-byte aligned, as HF's writer pads the header with spaces.
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
    assertThat(b.getLong(0) % 8).isZero();
  }

  @Test
  void writesBf16RoundedToNearestEvenAndReadsItBack() throws IOException {
    Path f = dir.resolve("b.safetensors");
    NamedTensor t = random("w", new int[] {64, 33}, 2);
    NamedTensor edge = new NamedTensor("edge", new int[] {EDGE.length}, EDGE);
    SafetensorsWriter.write(f, List.of(t, edge), Map.of(), DType.BF16);
    try (SafetensorsFile sf = SafetensorsFile.open(f)) {
      assertThat(sf.info("w").dtype()).isEqualTo(DType.BF16);
      float[] got = sf.read("w").data();
      for (int i = 0; i < got.length; i++) {
        int ref = HalfFloatsTest.referenceNarrow(t.data()[i], 8);
        assertThat(got[i]).isEqualTo((float) HalfFloatsTest.decode(ref, 8));
        assertThat(Math.abs(got[i] - t.data()[i])).isLessThanOrEqualTo(Math.abs(t.data()[i]) / 256);
      }
      float[] e = sf.read("edge").data();
      assertThat(e[7]).isEqualTo(Float.POSITIVE_INFINITY);
      assertThat(e[9]).isNaN();
      assertThat(e[6]).isEqualTo(Float.POSITIVE_INFINITY); // MAX_VALUE rounds past bf16's largest finite
    }
  }

  @Test
  void readsF16AndF64WrittenByHand() throws IOException {
    short[] halves = {0x0000, (short) 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, (short) 0xC000, 0x7BFF, 0x7C00,
        (short) 0xFC00, 0x7E00};
    double[] doubles = {0.0, -2.5, 1e-300, 1e300, Math.PI, Double.NaN};
    Path f = new HandWrittenSafetensors().shorts("h", "F16", new int[] {halves.length}, halves)
        .f64("d", new int[] {2, 3}, doubles).writeTo(dir.resolve("c.safetensors"));
    try (SafetensorsFile sf = SafetensorsFile.open(f)) {
      float[] h = sf.read("h").data();
      for (int i = 0; i < halves.length; i++) {
        double ref = HalfFloatsTest.decode(halves[i] & 0xFFFF, 5);
        if (Double.isNaN(ref)) assertThat(h[i]).isNaN();
        else assertThat((double) h[i]).isEqualTo(ref);
      }
      assertThat(sf.read("d").data()).containsExactly(0f, -2.5f, 0f, Float.POSITIVE_INFINITY, (float) Math.PI, Float.NaN);
      assertThat(sf.read("d").shape()).containsExactly(2, 3);
    }
  }

  @Test
  void opensFilesWithIntegerTensorsButRefusesToReadThemAsFloat() throws IOException {
    Path f = new HandWrittenSafetensors().raw("ids", "I64", new int[] {2}, new byte[16])
        .f32("w", new int[] {1}, new float[] {1f}).writeTo(dir.resolve("i.safetensors"));
    try (SafetensorsFile sf = SafetensorsFile.open(f)) {
      assertThat(sf.read("w").data()).containsExactly(1f);
      assertThatThrownBy(() -> sf.read("ids")).isInstanceOf(InvalidSafetensorsException.class)
          .hasMessageContaining("i.safetensors").hasMessageContaining("'ids'").hasMessageContaining("I64");
      assertThatThrownBy(() -> sf.read("nope")).hasMessageContaining("no tensor named 'nope'");
    }
  }

  private Path raw(String header, int dataBytes) throws IOException {
    return HandWrittenSafetensors.writeRaw(dir.resolve("bad.safetensors"), header, new byte[dataBytes]);
  }

  private void refused(Path f, String... fragments) {
    var a = assertThatThrownBy(() -> SafetensorsFile.open(f).close()).isInstanceOf(InvalidSafetensorsException.class)
        .hasMessageContaining("bad.safetensors");
    for (String s : fragments) a.hasMessageContaining(s);
  }

  @Test
  void refusesCorruptHeadersNamingFileAndTensor() throws IOException {
    String ok = "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    refused(raw("{" + ok + "}", 4), "'t'", "run past");
    refused(raw("{" + ok + "}", 12), "trailing");
    refused(raw("[" + ok + "]", 8), "does not start with '{'");
    refused(raw("{" + ok, 8), "not a valid JSON");
    refused(raw("{" + ok + "} x", 8), "not a valid JSON");
    refused(raw("{" + ok + "," + ok + "}", 8), "Duplicate");
    refused(raw("{\"t\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "'t'", "unknown dtype 'F31'");
    refused(raw("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "'t'", "needs 12");
    refused(raw("{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8), "'t'", "shape dimension");
    refused(raw("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8), "'t'", "begin <= end");
    refused(raw("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8), "unexpected field 'x'");
    refused(raw("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0), "'t'", "data_offsets");
    refused(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "'b'", "overlap");
    refused(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12), "'b'", "gap");
    refused(raw("{\"__metadata__\":{\"n\":1}," + ok + "}", 8), "__metadata__", "'n'");
  }

  @Test
  void refusesImpossibleHeaderLengths() throws IOException {
    Path tiny = dir.resolve("bad.safetensors");
    Files.write(tiny, new byte[] {1, 2, 3});
    refused(tiny, "fewer than the 8-byte");
    ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).putLong(0);
    Files.write(tiny, b.array());
    refused(tiny, "header length");
    b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(100).putLong(0);
    Files.write(tiny, b.array());
    refused(tiny, "runs past the end");
    b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1).putLong(0);
    Files.write(tiny, b.array());
    refused(tiny, "header length 18446744073709551615");
  }

  @Test
  void readsAndValidatesShardedSets() throws IOException {
    Map<String, NamedTensor> all = new LinkedHashMap<>();
    for (int i = 0; i < 5; i++) all.put("t" + i, random("t" + i, new int[] {10, 10}, i));
    Path index = SafetensorsWriter.writeSharded(dir, "model", all.values(), 800, DType.F32);
    assertThat(index.getFileName().toString()).isEqualTo("model.safetensors.index.json");
    assertThat(dir.resolve("model-00003-of-00003.safetensors")).exists();
    try (ShardedSafetensors s = ShardedSafetensors.open(index)) {
      assertThat(s.names()).containsExactlyElementsOf(all.keySet());
      for (NamedTensor t : all.values()) assertThat(s.read(t.name())).isEqualTo(t);
      assertThat(s.metadata()).containsEntry("total_size", "2000");
    }
    // An index that maps a tensor to the wrong shard, or omits a shard's tensor, is refused.
    String text = Files.readString(index);
    Files.writeString(index, text.replace("\"t2\" : \"model-00002-of-00003.safetensors\"",
        "\"t2\" : \"model-00001-of-00003.safetensors\""));
    assertThatThrownBy(() -> ShardedSafetensors.open(index).close()).isInstanceOf(InvalidSafetensorsException.class)
        .hasMessageContaining("'t2'").hasMessageContaining("does not contain it");
    Files.writeString(index, text.replace("\n    \"t1\" : \"model-00001-of-00003.safetensors\",", ""));
    assertThatThrownBy(() -> ShardedSafetensors.open(index).close()).hasMessageContaining("[t1]");
    Files.writeString(index, text.replace("model-00003-of-00003", "model-00009-of-00003"));
    assertThatThrownBy(() -> ShardedSafetensors.open(index).close()).hasMessageContaining("does not exist");
  }
}
