package io.prefstream.deploy.demo.corpus;

import java.util.Set;

/**
 * One generated customer-support exchange: the customer's message, the assistant's reply, the topic
 * it belongs to, and the style the reply was written in (tone, length, and which of
 * {@link SupportCorpus#KEYWORDS} it mentions), so a simulated user can prefer one style to another.
 */
public record SupportExchange(String intent, String prompt, String reply, Tone tone, Length length, Set<String> keywords) {
  public SupportExchange {
    keywords = Set.copyOf(keywords);
  }
}
