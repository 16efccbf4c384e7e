package io.prefstream.deploy.demo.corpus;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Whether a reply is made of the {@link SupportCorpus}'s parts, the sentences the bundled assistant was
 * trained to assemble: {@link #WELL_FORMED} (parts joined by single spaces, each at most once, in any
 * order or mix of topics), {@link #REPEATS} (parts only, one said twice or more) or {@link #BROKEN}
 * (some text is no part: a misspelt or cut-off fragment, "delivery arrives are sale"). For the
 * bundled model this tells broken replies from fluent ones exactly, where the reference's NLL only
 * says how unlikely a reply is.
 */
public enum ReplyForm {
  WELL_FORMED,
  REPEATS,
  BROKEN;

  private static final List<String> PARTS = List.copyOf(SupportCorpus.parts());

  /** The form of {@code reply} (surrounding white space ignored; an empty reply is broken). */
  public static ReplyForm of(String reply) {
    String text = reply.strip();
    if (text.isEmpty()) return BROKEN;
    // ways[i]: text[0, i) written as parts joined by spaces (the way with the fewest repeats), or null.
    @SuppressWarnings("unchecked")
    List<String>[] ways = new List[text.length() + 1];
    ways[0] = List.of();
    for (int i = 0; i < text.length(); i++) {
      if (ways[i] == null || (i > 0 && text.charAt(i) != ' ')) continue; // a space joins parts
      int from = i == 0 ? 0 : i + 1;
      for (String part : PARTS) {
        if (!text.startsWith(part, from)) continue;
        int end = from + part.length();
        List<String> way = new ArrayList<>(ways[i]);
        way.add(part);
        if (ways[end] == null || repeats(way) < repeats(ways[end])) ways[end] = way;
      }
    }
    List<String> whole = ways[text.length()];
    if (whole == null) return BROKEN;
    return repeats(whole) > 0 ? REPEATS : WELL_FORMED;
  }

  private static int repeats(List<String> parts) {
    Set<String> seen = new HashSet<>();
    int n = 0;
    for (String p : parts) if (!seen.add(p)) n++;
    return n;
  }
}
