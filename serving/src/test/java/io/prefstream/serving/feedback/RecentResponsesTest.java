package io.prefstream.serving.feedback;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.model.text.ChatMessage;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The response memory's three bounds (entries, characters, age), on a fake clock. */
class RecentResponsesTest {
  private final AtomicLong nanos = new AtomicLong(1_000);

  private static RecentResponses.Remembered response(String id, String reply) {
    return new RecentResponses.Remembered(id, "default", 1, "prompt", null, reply);
  }

  @Test
  void aResponseIsFoundUntilItsTtlHasPassed() {
    RecentResponses r = new RecentResponses(new RecentResponses.Limits(10, 10_000, Duration.ofMinutes(5)), nanos::get);
    r.remember(response("a", "x"));
    nanos.addAndGet(Duration.ofMinutes(5).toNanos() - 1);
    assertThat(r.find("a")).map(RecentResponses.Remembered::reply).contains("x");
    nanos.addAndGet(1);
    assertThat(r.find("a")).isEmpty();
    assertThat(r.size()).isZero();
    assertThat(r.chars()).isZero();
  }

  @Test
  void theOldestGoFirstWhenTheEntryLimitIsReachedAndLookupsDoNotRefresh() {
    RecentResponses r = new RecentResponses(new RecentResponses.Limits(2, 10_000, Duration.ofHours(1)), nanos::get);
    r.remember(response("a", "1"));
    r.remember(response("b", "2"));
    assertThat(r.find("a")).isPresent();
    r.remember(response("c", "3"));
    assertThat(r.find("a")).isEmpty();
    assertThat(r.find("b")).isPresent();
    assertThat(r.find("c")).isPresent();
  }

  @Test
  void charactersHeldStayWithinTheLimitAndAnOversizedResponseIsNotKept() {
    RecentResponses.Remembered chat = new RecentResponses.Remembered("a", "default", 1, "rendered",
        List.of(ChatMessage.user("hello")), "reply");
    long one = chat.chars();
    assertThat(one).isEqualTo(RecentResponses.OVERHEAD_CHARS + "a".length() + "default".length() + "rendered".length()
        + "reply".length() + "user".length() + "hello".length());
    RecentResponses r = new RecentResponses(new RecentResponses.Limits(100, 2 * one + 1, Duration.ofHours(1)), nanos::get);
    r.remember(chat);
    r.remember(new RecentResponses.Remembered("b", "default", 1, "rendered", List.of(ChatMessage.user("hello")), "reply"));
    r.remember(new RecentResponses.Remembered("c", "default", 1, "rendered", List.of(ChatMessage.user("hello")), "reply"));
    assertThat(r.size()).isEqualTo(2);
    assertThat(r.chars()).isEqualTo(2 * one);
    assertThat(r.find("a")).isEmpty();

    r.remember(response("huge", "x".repeat((int) (3 * one))));
    assertThat(r.find("huge")).isEmpty();
    assertThat(r.size()).isEqualTo(2);
  }

  @Test
  void aZeroEntryMemoryKeepsNothing() {
    RecentResponses r = new RecentResponses(new RecentResponses.Limits(0, 10_000, Duration.ofHours(1)), nanos::get);
    r.remember(response("a", "x"));
    assertThat(r.find("a")).isEmpty();
  }
}
