package io.prefstream.ingest.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.ChatMessage;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The ingest's own binary values: the current version round-trips the chat conversation, and values
 * written by the previous build (version 1, no conversation), still in state stores, changelogs or the
 * repartition topic at an upgrade, read as text prompts.
 */
class InternalSerdesTest {
  static final List<ChatMessage> CONVERSATION = List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"));

  @Test
  void itemsRoundTripWithAndWithoutAConversation() {
    var serde = InternalSerdes.items();
    Item pair = new Item.Pair("default", new PreferencePair("p", "a", "b", List.of("e1", "e2"), 3L, CONVERSATION), true, 1, 2);
    Item textPair = new Item.Pair("default", new PreferencePair("p", "a", "b", List.of("e1"), null, null), false, 1, 1);
    Item unpaired = new Item.Unpaired("default", new UnpairedExample("p", "r", true, "e3", 4L, CONVERSATION), 5);
    for (Item item : List.of(pair, textPair, unpaired)) {
      assertThat(serde.deserializer().deserialize("t", serde.serializer().serialize("t", item))).isEqualTo(item);
    }
  }

  @Test
  void windowsRoundTripTheirThumbsConversations() {
    var serde = InternalSerdes.thumbWindows();
    ThumbWindow w = new ThumbWindow("default", "p", 99, 1, List.of(
        new ThumbWindow.Thumb("u", "good", true, 2L, 10, true, CONVERSATION),
        new ThumbWindow.Thumb("d", "bad", false, null, 11, false, null)));
    assertThat(serde.deserializer().deserialize("t", serde.serializer().serialize("t", w))).isEqualTo(w);
  }

  @Test
  void aVersionOnePairAndWindowFromThePreviousBuildReadAsTextPrompts() throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeByte(1); // version 1, as the previous build wrote a pair
      out.writeByte(1); // kind: pair
      Bin.writeString(out, "default");
      out.writeBoolean(false);
      out.writeLong(7);
      out.writeLong(8);
      Bin.writeString(out, "p");
      Bin.writeString(out, "a");
      Bin.writeString(out, "b");
      Bin.writeStrings(out, List.of("e1"));
      Bin.writeNullableLong(out, 5L);
    }
    Item item = InternalSerdes.items().deserializer().deserialize("t", bytes.toByteArray());
    assertThat(item).isEqualTo(new Item.Pair("default", new PreferencePair("p", "a", "b", List.of("e1"), 5L, null), false, 7, 8));

    bytes.reset();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeByte(1); // version 1 window
      Bin.writeString(out, "default");
      Bin.writeString(out, "p");
      out.writeLong(99);
      out.writeInt(0);
      out.writeInt(1);
      Bin.writeString(out, "u");
      Bin.writeString(out, "good");
      out.writeBoolean(true);
      Bin.writeNullableLong(out, null);
      out.writeLong(10);
      out.writeBoolean(false);
    }
    ThumbWindow w = InternalSerdes.thumbWindows().deserializer().deserialize("t", bytes.toByteArray());
    assertThat(w.thumbs()).containsExactly(new ThumbWindow.Thumb("u", "good", true, null, 10, false, null));
  }
}
