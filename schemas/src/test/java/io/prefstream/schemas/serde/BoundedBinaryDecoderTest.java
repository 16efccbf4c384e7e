package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.junit.jupiter.api.Test;

/**
 * The skip operations move past exactly one value, length prefix included, as Avro's own
 * {@code BinaryDecoder} does; schema resolution skips every writer field the reader lacks with them.
 */
class BoundedBinaryDecoderTest {
  private interface Writes {
    void to(BinaryEncoder e) throws IOException;
  }

  /** The bytes of the value written by {@code first}, followed by the int 42. */
  private static BoundedBinaryDecoder valueThen42(Writes first) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
    first.to(e);
    e.writeInt(42);
    e.flush();
    byte[] b = out.toByteArray();
    return new BoundedBinaryDecoder(b, 0, b.length);
  }

  @Test
  void skipStringSkipsTheLengthPrefixAndTheText() throws IOException {
    for (String s : List.of("", "x", "a longer string of some bytes", "é".repeat(100))) {
      BoundedBinaryDecoder d = valueThen42(e -> e.writeString(s));
      d.skipString();
      assertThat(d.readInt()).as("after skipping %s", s).isEqualTo(42);
      assertThat(d.isEnd()).isTrue();
    }
  }

  @Test
  void skipBytesSkipsTheLengthPrefixAndTheBytes() throws IOException {
    for (int n : new int[] {0, 1, 63, 64, 300}) {
      BoundedBinaryDecoder d = valueThen42(e -> e.writeBytes(ByteBuffer.wrap(new byte[n])));
      d.skipBytes();
      assertThat(d.readInt()).as("after skipping %d bytes", n).isEqualTo(42);
      assertThat(d.isEnd()).isTrue();
    }
  }

  @Test
  void skipFixedSkipsExactlyItsSize() throws IOException {
    BoundedBinaryDecoder d = valueThen42(e -> e.writeFixed(new byte[] {9, 9, 9}));
    d.skipFixed(3);
    assertThat(d.readInt()).isEqualTo(42);
  }

  @Test
  void skipArrayPassesSizedBlocksAndReturnsTheCountOfAnUnsizedOne() throws IOException {
    // Block 1: count -2 with its byte size (two strings "ab", "c" = 5 bytes), then an unsized block of 1 item.
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(CorruptInputTest.zigzagVarint(-2));
    out.writeBytes(CorruptInputTest.zigzagVarint(5));
    out.writeBytes(new byte[] {4, 'a', 'b', 2, 'c'});
    out.writeBytes(CorruptInputTest.zigzagVarint(1));
    out.writeBytes(new byte[] {2, 'z'});
    out.writeBytes(CorruptInputTest.zigzagVarint(0));
    out.writeBytes(CorruptInputTest.zigzagVarint(42));
    byte[] b = out.toByteArray();
    BoundedBinaryDecoder d = new BoundedBinaryDecoder(b, 0, b.length);
    assertThat(d.skipArray()).isEqualTo(1);
    d.skipString();
    assertThat(d.skipArray()).isZero();
    assertThat(d.readInt()).isEqualTo(42);
  }

  @Test
  void skipMapOfWrittenEntriesThenTheNextValue() throws IOException {
    BoundedBinaryDecoder d = valueThen42(e -> {
      e.writeMapStart();
      e.setItemCount(2);
      for (Map.Entry<String, String> en : Map.of("k1", "v1", "k2", "").entrySet()) {
        e.startItem();
        e.writeString(en.getKey());
        e.writeString(en.getValue());
      }
      e.writeMapEnd();
    });
    for (long n = d.skipMap(); n > 0; n = d.skipMap()) {
      for (long i = 0; i < n; i++) {
        d.skipString();
        d.skipString();
      }
    }
    assertThat(d.readInt()).isEqualTo(42);
  }

  @Test
  void skippingAStringLongerThanWhatIsLeftIsEof() throws IOException {
    byte[] b = CorruptInputTest.zigzagVarint(1L << 40);
    BoundedBinaryDecoder d = new BoundedBinaryDecoder(b, 0, b.length);
    assertThatThrownBy(d::skipString).isInstanceOf(EOFException.class).hasMessageContaining("0 are left");
  }
}
