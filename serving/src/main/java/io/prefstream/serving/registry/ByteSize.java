package io.prefstream.serving.registry;

import java.math.BigDecimal;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads and writes memory sizes the way operators type them ({@code 512MiB}, {@code 2GiB},
 * {@code 1.5G}, {@code 1048576}), in binary units as {@code -Xmx} does, so that the
 * {@code --resident-budget} flag and the logs agree. One place for the rule; tested in
 * {@code ResidentBudgetTest}.
 */
public final class ByteSize {
  private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(b|k|kib|m|mib|g|gib|t|tib)?");

  private ByteSize() {}

  /**
   * Bytes in {@code text}: a number with an optional binary unit (B, K/KiB, M/MiB, G/GiB, T/TiB,
   * any case); a fraction is rounded down to whole bytes.
   *
   * @throws IllegalArgumentException not a size, or more than {@link Long#MAX_VALUE} bytes
   */
  public static long parse(String text) {
    Matcher m = SIZE.matcher(text.trim().toLowerCase(Locale.ROOT));
    if (!m.matches()) {
      throw new IllegalArgumentException("'" + text + "' is not a size; expected a number of bytes with an optional"
          + " binary unit, e.g. 0, 536870912, 512MiB, 2GiB, 1.5G");
    }
    int shift = switch (m.group(2) == null ? "b" : m.group(2)) {
      case "k", "kib" -> 10;
      case "m", "mib" -> 20;
      case "g", "gib" -> 30;
      case "t", "tib" -> 40;
      default -> 0;
    };
    BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(2).pow(shift));
    if (bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
      throw new IllegalArgumentException("'" + text + "' is more bytes than fit in a long");
    }
    return bytes.longValue();
  }

  /** {@code bytes} in the largest binary unit that keeps one decimal (e.g. "7.5 MiB"), for logs. */
  public static String format(long bytes) {
    String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = bytes;
    int u = 0;
    while (Math.abs(v) >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return u == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
  }
}
