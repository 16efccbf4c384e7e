package io.prefstream.learner.optim;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * The optimiser-state file: a small self-checking binary format, so that a restarted learner resumes
 * with exactly the moments it saved and refuses anything else.
 *
 * <pre>
 *   8 bytes  magic "PSADAMW1"
 *   int      format version (1)
 *   long     step count
 *   int      parameter count P
 *   P times: UTF name (DataOutput.writeUTF), int length n, n floats m, n floats v
 *   long     CRC32C of every byte above
 * </pre>
 * Header integers are big-endian (DataOutputStream); the float arrays are little-endian IEEE 754 bit
 * patterns (as in safetensors), written as raw bits so the round trip is exact.
 */
final class AdamWStateFile {
  static final byte[] MAGIC = "PSADAMW1".getBytes(StandardCharsets.US_ASCII);
  static final int VERSION = 1;
  private static final int CHUNK_FLOATS = 1 << 16;

  private AdamWStateFile() {}


  /** What the file records of a parameter: its name and element count. */
  record Entry(String name, int size) {
    static List<Entry> of(List<Parameter> parameters) {
      return parameters.stream().map(p -> new Entry(p.name(), p.size())).toList();
    }
  }

  static void write(OutputStream sink, long step, List<Entry> parameters, float[][] m,
      float[][] v) throws IOException {
    CRC32C crc = new CRC32C();
    CheckedOutputStream checked = new CheckedOutputStream(new BufferedOutputStream(sink, 1 << 16), crc);
    DataOutputStream out = new DataOutputStream(checked);
    out.write(MAGIC);
    out.writeInt(VERSION);
    out.writeLong(step);
    out.writeInt(parameters.size());
    byte[] buffer = new byte[CHUNK_FLOATS * Float.BYTES];
    for (int i = 0; i < parameters.size(); i++) {
      out.writeUTF(parameters.get(i).name());
      out.writeInt(m[i].length);
      writeFloats(out, m[i], buffer);
      writeFloats(out, v[i], buffer);
    }
    out.flush();
    // Taken before the trailer is written: the checksum covers everything but itself.
    long checksum = crc.getValue();
    out.writeLong(checksum);
    out.flush();
  }

  /**
   * Reads a state written for {@code parameters} and returns its step count. The moments go into
   * {@code m} and {@code v} (arrays of the parameters' sizes) as they are read; with both null the
   * file is only validated. Either way the checksum is verified at the end, so a caller that must not
   * see partial data reads into scratch arrays or validates first.
   */
  static long read(InputStream source, List<Entry> parameters, float[][] m, float[][] v)
      throws IOException {
    CRC32C crc = new CRC32C();
    DataInputStream in = new DataInputStream(
        new CheckedInputStream(new BufferedInputStream(source, 1 << 16), crc));
    try {
      byte[] magic = new byte[MAGIC.length];
      in.readFully(magic);
      if (!Arrays.equals(magic, MAGIC)) {
        throw new IOException("not an AdamW state file: expected magic PSADAMW1, found "
            + new String(magic, StandardCharsets.ISO_8859_1));
      }
      int version = in.readInt();
      if (version != VERSION) {
        throw new IOException("AdamW state format version " + version + " is not supported; expected "
            + VERSION);
      }
      long step = in.readLong();
      if (step < 0) {
        throw new IOException("AdamW state has a negative step count " + step);
      }
      int count = in.readInt();
      if (count != parameters.size()) {
        throw new IOException("AdamW state holds " + count + " parameters, expected "
            + parameters.size());
      }
      byte[] buffer = new byte[CHUNK_FLOATS * Float.BYTES];
      for (int i = 0; i < count; i++) {
        Entry p = parameters.get(i);
        String name = in.readUTF();
        int length = in.readInt();
        if (!name.equals(p.name()) || length != p.size()) {
          throw new IOException("AdamW state parameter " + i + " is '" + name + "' with " + length
              + " elements; expected '" + p.name() + "' with " + p.size());
        }
        readFloats(in, length, buffer, m == null ? null : m[i]);
        readFloats(in, length, buffer, v == null ? null : v[i]);
      }
      long computed = crc.getValue();
      long stored = in.readLong();
      if (computed != stored) {
        throw new IOException("AdamW state checksum mismatch: stored " + Long.toHexString(stored)
            + ", computed " + Long.toHexString(computed) + " (the file is corrupt)");
      }
      return step;
    } catch (EOFException e) {
      throw new IOException("AdamW state is truncated", e);
    }
  }

  private static void writeFloats(DataOutputStream out, float[] a, byte[] buffer) throws IOException {
    FloatBuffer view = ByteBuffer.wrap(buffer).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    for (int off = 0; off < a.length; off += CHUNK_FLOATS) {
      int len = Math.min(CHUNK_FLOATS, a.length - off);
      view.clear();
      view.put(a, off, len);
      out.write(buffer, 0, len * Float.BYTES);
    }
  }

  private static void readFloats(DataInputStream in, int length, byte[] buffer, float[] dest)
      throws IOException {
    FloatBuffer view = ByteBuffer.wrap(buffer).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    for (int off = 0; off < length; off += CHUNK_FLOATS) {
      int len = Math.min(CHUNK_FLOATS, length - off);
      in.readFully(buffer, 0, len * Float.BYTES);
      if (dest != null) {
        view.clear();
        view.get(dest, off, len);
      }
    }
  }
}
