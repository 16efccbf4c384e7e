package io.prefstream.ingest.topology;

import io.prefstream.schemas.avro.ChatMessage;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Tiny binary helpers for the ingest's own state and repartition values. Strings are a 4-byte
 * length and UTF-8 bytes ({@code writeUTF} stops at 64 KiB, below the configurable text limits);
 * nullable longs carry a presence byte. A format version byte leads every value so that a later
 * build can read state written by this one.
 */
final class Bin {
  private Bin() {}

  static void writeString(DataOutputStream out, String s) throws IOException {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    out.writeInt(b.length);
    out.write(b);
  }

  static String readString(DataInputStream in) throws IOException {
    int n = in.readInt();
    if (n < 0) throw new IOException("negative string length " + n);
    return new String(in.readNBytes(n), StandardCharsets.UTF_8);
  }

  static void writeNullableLong(DataOutputStream out, Long v) throws IOException {
    out.writeBoolean(v != null);
    if (v != null) out.writeLong(v);
  }

  static Long readNullableLong(DataInputStream in) throws IOException {
    return in.readBoolean() ? in.readLong() : null;
  }

  static void writeStrings(DataOutputStream out, List<String> list) throws IOException {
    out.writeInt(list.size());
    for (String s : list) writeString(out, s);
  }

  static List<String> readStrings(DataInputStream in) throws IOException {
    int n = in.readInt();
    if (n < 0) throw new IOException("negative list length " + n);
    List<String> list = new ArrayList<>(n);
    for (int i = 0; i < n; i++) list.add(readString(in));
    return list;
  }

  static void expectVersion(DataInputStream in, int expected, String what) throws IOException {
    int v = in.readUnsignedByte();
    if (v != expected) throw new IOException(what + " format version " + v + "; this build reads version " + expected);
  }

  /** Reads the format version byte; it must lie in [oldest, newest]. */
  static int readVersion(DataInputStream in, int oldest, int newest, String what) throws IOException {
    int v = in.readUnsignedByte();
    if (v < oldest || v > newest) {
      throw new IOException(what + " format version " + v + "; this build reads versions " + oldest + " to " + newest);
    }
    return v;
  }

  /** A nullable list of chat messages: -1 for null, else the count and each role and content. */
  static void writeMessages(DataOutputStream out, List<ChatMessage> messages) throws IOException {
    if (messages == null) {
      out.writeInt(-1);
      return;
    }
    out.writeInt(messages.size());
    for (ChatMessage m : messages) {
      writeString(out, m.getRole());
      writeString(out, m.getContent());
    }
  }

  static List<ChatMessage> readMessages(DataInputStream in) throws IOException {
    int n = in.readInt();
    if (n == -1) return null;
    if (n < 0) throw new IOException("negative message count " + n);
    List<ChatMessage> list = new ArrayList<>(n);
    for (int i = 0; i < n; i++) list.add(new ChatMessage(readString(in), readString(in)));
    return list;
  }
}
