package io.prefstream.schemas.serde;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.avro.io.Decoder;
import org.apache.avro.util.Utf8;

/**
 * An Avro binary decoder over one byte array that checks every length against the bytes that are
 * actually left before allocating anything. Avro's own {@code BinaryDecoder} trusts the length
 * prefixes up to its global limits (about 2 GiB), so a corrupt or hostile five-byte message could
 * make it allocate gigabytes; here a string, bytes value or collection block that claims more than
 * is left fails with {@link EOFException} (reported as truncated) at once.
 *
 * <p>Collection block counts are bounded by the bytes left, which holds because every array item and
 * map entry takes at least one byte: {@link WriterSchemaCheck} refuses writer schemas with arrays whose
 * items could take none ({@code array<null>}).
 */
final class BoundedBinaryDecoder extends Decoder {
  /** Corrupt data that cannot be explained by truncation. */
  static final class MalformedException extends IOException {
    private static final long serialVersionUID = 1L;

    MalformedException(String message) {
      super(message);
    }
  }

  private final byte[] buf;
  private int pos;
  private final int limit;

  BoundedBinaryDecoder(byte[] buf, int offset, int length) {
    this.buf = buf;
    this.pos = offset;
    this.limit = offset + length;
  }

  boolean isEnd() {
    return pos == limit;
  }

  int remaining() {
    return limit - pos;
  }

  int position() {
    return pos;
  }

  private void require(long n, String what) throws EOFException {
    if (n > limit - pos) {
      throw new EOFException(what + " needs " + n + " bytes at offset " + pos + " but only " + (limit - pos) + " are left");
    }
  }

  private int nextByte() throws EOFException {
    require(1, "a varint");
    return buf[pos++] & 0xff;
  }

  @Override
  public void readNull() {}

  @Override
  public boolean readBoolean() throws IOException {
    require(1, "a boolean");
    int b = buf[pos++];
    if (b != 0 && b != 1) throw new MalformedException("boolean byte " + b + " at offset " + (pos - 1) + " is neither 0 nor 1");
    return b == 1;
  }

  @Override
  public int readInt() throws IOException {
    long raw = readVarint(5, "int");
    if (raw > 0xFFFFFFFFL) throw new MalformedException("int varint ending at offset " + pos + " overflows 32 bits");
    int n = (int) raw;
    return (n >>> 1) ^ -(n & 1);
  }

  @Override
  public long readLong() throws IOException {
    long n = readVarint(10, "long");
    return (n >>> 1) ^ -(n & 1);
  }

  private long readVarint(int maxBytes, String type) throws IOException {
    long value = 0;
    for (int i = 0; i < maxBytes; i++) {
      int b = nextByte();
      value |= (long) (b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) return value;
    }
    throw new MalformedException(type + " varint ending at offset " + pos + " is longer than " + maxBytes + " bytes");
  }

  @Override
  public float readFloat() throws IOException {
    require(4, "a float");
    int bits = (buf[pos] & 0xff) | (buf[pos + 1] & 0xff) << 8 | (buf[pos + 2] & 0xff) << 16 | (buf[pos + 3] & 0xff) << 24;
    pos += 4;
    return Float.intBitsToFloat(bits);
  }

  @Override
  public double readDouble() throws IOException {
    require(8, "a double");
    long bits = 0;
    for (int i = 7; i >= 0; i--) bits = (bits << 8) | (buf[pos + i] & 0xff);
    pos += 8;
    return Double.longBitsToDouble(bits);
  }

  /** Reads a length prefix and checks it against what is left. */
  private int readLength(String what) throws IOException {
    long n = readLong();
    if (n < 0) throw new MalformedException(what + " length " + n + " at offset " + pos + " is negative");
    require(n, what);
    return (int) n;
  }

  @Override
  public Utf8 readString(Utf8 old) throws IOException {
    int n = readLength("a string");
    Utf8 result = new Utf8(Arrays.copyOfRange(buf, pos, pos + n));
    pos += n;
    return result;
  }

  @Override
  public String readString() throws IOException {
    int n = readLength("a string");
    String s = new String(buf, pos, n, StandardCharsets.UTF_8);
    pos += n;
    return s;
  }

  @Override
  public void skipString() throws IOException {
    // Not `pos += readLength(...)`: Java reads pos before the call, which would undo skipping the prefix.
    int n = readLength("a string");
    pos += n;
  }

  @Override
  public ByteBuffer readBytes(ByteBuffer old) throws IOException {
    int n = readLength("a bytes value");
    ByteBuffer result = ByteBuffer.wrap(Arrays.copyOfRange(buf, pos, pos + n));
    pos += n;
    return result;
  }

  @Override
  public void skipBytes() throws IOException {
    int n = readLength("a bytes value");
    pos += n;
  }

  @Override
  public void readFixed(byte[] bytes, int start, int length) throws IOException {
    require(length, "a fixed value");
    System.arraycopy(buf, pos, bytes, start, length);
    pos += length;
  }

  @Override
  public void skipFixed(int length) throws IOException {
    require(length, "a fixed value");
    pos += length;
  }

  @Override
  public int readEnum() throws IOException {
    return readInt();
  }

  @Override
  public long readArrayStart() throws IOException {
    return readBlockCount("an array");
  }

  @Override
  public long arrayNext() throws IOException {
    return readBlockCount("an array");
  }

  @Override
  public long skipArray() throws IOException {
    return skipBlocks("an array");
  }

  @Override
  public long readMapStart() throws IOException {
    return readBlockCount("a map");
  }

  @Override
  public long mapNext() throws IOException {
    return readBlockCount("a map");
  }

  @Override
  public long skipMap() throws IOException {
    return skipBlocks("a map");
  }

  @Override
  public int readIndex() throws IOException {
    return readInt();
  }

  /** A block count; a negative count is followed by the block's size in bytes, which we do not need. */
  private long readBlockCount(String what) throws IOException {
    long count = readLong();
    if (count < 0) {
      if (count == Long.MIN_VALUE) throw new MalformedException(what + " block count at offset " + pos + " is out of range");
      count = -count;
      readLong();
    }
    require(count, what + " block of " + count + " items");
    return count;
  }

  /** Skips whole blocks that carry their byte size; returns the item count of the first block without one. */
  private long skipBlocks(String what) throws IOException {
    while (true) {
      long count = readLong();
      if (count >= 0) {
        require(count, what + " block of " + count + " items");
        return count;
      }
      long size = readLong();
      if (size < 0) throw new MalformedException(what + " block size " + size + " at offset " + pos + " is negative");
      require(size, what + " block");
      pos += (int) size;
    }
  }
}
