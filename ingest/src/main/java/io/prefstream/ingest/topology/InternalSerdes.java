package io.prefstream.ingest.topology;

import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * Serdes for values only the ingest reads: {@link Item}s on the {@code items-by-policy}
 * repartition topic and in the open-batch store, {@link ThumbWindow}s in the pairing store and
 * {@link BatchHead}s in the batching store (and their changelogs). Plain binary
 * with a leading format version; nothing outside this application reads them, so they need no
 * schema registry, and they avoid Avro's per-record schema resolution on the hot path. Version 2 of
 * items and windows added the chat conversation ({@code prompt_messages}); version 1 values, left in
 * state stores, changelogs and the repartition topic by an older build, still read (without one).
 */
final class InternalSerdes {
  private InternalSerdes() {}

  private static final int ITEM_VERSION = 2;
  private static final int WINDOW_VERSION = 2;
  private static final int HEAD_VERSION = 1;
  private static final byte PAIR = 1;
  private static final byte UNPAIRED = 2;

  interface Writer<T> {
    void write(DataOutputStream out, T value) throws IOException;
  }

  interface Reader<T> {
    T read(DataInputStream in) throws IOException;
  }

  static <T> Serde<T> serde(String what, Writer<T> writer, Reader<T> reader) {
    return Serdes.serdeFrom((topic, value) -> {
      if (value == null) return null;
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
      try (DataOutputStream out = new DataOutputStream(bytes)) {
        writer.write(out, value);
      } catch (IOException e) {
        throw new SerializationException("cannot write " + what + ": " + e.getMessage(), e);
      }
      return bytes.toByteArray();
    }, (topic, data) -> {
      if (data == null) return null;
      try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
        return reader.read(in);
      } catch (IOException e) {
        throw new SerializationException("cannot read " + what + " (" + data.length + " bytes): " + e.getMessage(), e);
      }
    });
  }

  static Serde<Item> items() {
    return serde("ingest item", InternalSerdes::writeItem, InternalSerdes::readItem);
  }

  static Serde<ThumbWindow> thumbWindows() {
    return serde("thumb window", InternalSerdes::writeWindow, InternalSerdes::readWindow);
  }

  static Serde<BatchHead> batchHeads() {
    return serde("batch head", InternalSerdes::writeHead, InternalSerdes::readHead);
  }

  private static void writeHead(DataOutputStream out, BatchHead h) throws IOException {
    out.writeByte(HEAD_VERSION);
    out.writeLong(h.nextSequence());
    out.writeInt(h.count());
    out.writeLong(h.openedAt());
    out.writeLong(h.eventTimeMin());
    out.writeLong(h.eventTimeMax());
  }

  private static BatchHead readHead(DataInputStream in) throws IOException {
    Bin.expectVersion(in, HEAD_VERSION, "batch head");
    return new BatchHead(in.readLong(), in.readInt(), in.readLong(), in.readLong(), in.readLong());
  }

  private static void writeItem(DataOutputStream out, Item item) throws IOException {
    out.writeByte(ITEM_VERSION);
    switch (item) {
      case Item.Pair p -> {
        out.writeByte(PAIR);
        Bin.writeString(out, p.policyId());
        out.writeBoolean(p.heldOut());
        out.writeLong(p.eventTimeMin());
        out.writeLong(p.eventTimeMax());
        PreferencePair pair = p.pair();
        Bin.writeString(out, pair.getPrompt());
        Bin.writeString(out, pair.getChosen());
        Bin.writeString(out, pair.getRejected());
        Bin.writeStrings(out, pair.getSourceEventIds());
        Bin.writeNullableLong(out, pair.getPolicyVersion());
        Bin.writeMessages(out, pair.getPromptMessages());
      }
      case Item.Unpaired u -> {
        out.writeByte(UNPAIRED);
        Bin.writeString(out, u.policyId());
        out.writeLong(u.eventTime());
        UnpairedExample ex = u.example();
        Bin.writeString(out, ex.getPrompt());
        Bin.writeString(out, ex.getResponse());
        out.writeBoolean(ex.getDesirable());
        Bin.writeString(out, ex.getSourceEventId());
        Bin.writeNullableLong(out, ex.getPolicyVersion());
        Bin.writeMessages(out, ex.getPromptMessages());
      }
    }
  }

  private static Item readItem(DataInputStream in) throws IOException {
    int version = Bin.readVersion(in, 1, ITEM_VERSION, "ingest item");
    byte kind = in.readByte();
    String policyId = Bin.readString(in);
    return switch (kind) {
      case PAIR -> {
        boolean heldOut = in.readBoolean();
        long min = in.readLong();
        long max = in.readLong();
        PreferencePair pair = new PreferencePair(Bin.readString(in), Bin.readString(in), Bin.readString(in),
            Bin.readStrings(in), Bin.readNullableLong(in), null);
        if (version >= 2) pair.setPromptMessages(Bin.readMessages(in));
        yield new Item.Pair(policyId, pair, heldOut, min, max);
      }
      case UNPAIRED -> {
        long time = in.readLong();
        UnpairedExample ex = new UnpairedExample(Bin.readString(in), Bin.readString(in), in.readBoolean(),
            Bin.readString(in), Bin.readNullableLong(in), null);
        if (version >= 2) ex.setPromptMessages(Bin.readMessages(in));
        yield new Item.Unpaired(policyId, ex, time);
      }
      default -> throw new IOException("unknown item kind " + kind + "; expected 1 (pair) or 2 (unpaired)");
    };
  }

  private static void writeWindow(DataOutputStream out, ThumbWindow w) throws IOException {
    out.writeByte(WINDOW_VERSION);
    Bin.writeString(out, w.policyId());
    Bin.writeString(out, w.prompt());
    out.writeLong(w.closeAt());
    out.writeInt(w.pairsMade());
    out.writeInt(w.thumbs().size());
    for (ThumbWindow.Thumb t : w.thumbs()) {
      Bin.writeString(out, t.eventId());
      Bin.writeString(out, t.response());
      out.writeBoolean(t.up());
      Bin.writeNullableLong(out, t.policyVersion());
      out.writeLong(t.eventTime());
      out.writeBoolean(t.paired());
      Bin.writeMessages(out, t.promptMessages());
    }
  }

  private static ThumbWindow readWindow(DataInputStream in) throws IOException {
    int version = Bin.readVersion(in, 1, WINDOW_VERSION, "thumb window");
    String policyId = Bin.readString(in);
    String prompt = Bin.readString(in);
    long closeAt = in.readLong();
    int pairsMade = in.readInt();
    int n = in.readInt();
    if (n < 0) throw new IOException("negative thumb count " + n);
    List<ThumbWindow.Thumb> thumbs = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      thumbs.add(new ThumbWindow.Thumb(Bin.readString(in), Bin.readString(in), in.readBoolean(),
          Bin.readNullableLong(in), in.readLong(), in.readBoolean(), version >= 2 ? Bin.readMessages(in) : null));
    }
    return new ThumbWindow(policyId, prompt, closeAt, pairsMade, thumbs);
  }
}
