package io.prefstream.deploy.demo.corpus;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Generates short customer-support exchanges for the demo's assistant: a customer message on one of
 * fifteen topics (orders, refunds, returns, passwords …) and a reply assembled from the topic's
 * answers in a chosen {@link Tone} and {@link Length}. Polite replies open with thanks or an apology
 * and close with an offer of more help; neutral ones give the answer; curt ones give a brusque
 * version of it. Long replies add one or two details. Which {@link #KEYWORDS} a reply mentions varies
 * with the answers picked. The mix is even over tones and lengths, so a model trained on the corpus
 * samples all styles for the same message, and a preference has something to choose between.
 */
public final class SupportCorpus {
  /** Content words a hidden preference may reward or punish. */
  public static final List<String> KEYWORDS =
      List.of("refund", "tracking number", "email", "24 hours", "discount", "free shipping", "support team");

  private static final ObjectMapper JSON = new ObjectMapper();

  /** A topic: what customers ask, the neutral and curt answers, and details for long replies. */
  record Intent(String name, boolean problem, List<String> prompts, List<String> answers, List<String> curt,
      List<String> details) {}

  static final List<Intent> INTENTS = List.of(
      new Intent("order_status", true,
          List.of("Where is my order?", "My package hasn't arrived yet.", "When will my order arrive?",
              "Has my order shipped?", "I want to track my order."),
          List.of("Your order has shipped and should arrive in 2 to 4 business days.",
              "You can follow your package with the tracking number in your confirmation email.",
              "Your order is on its way and will arrive by Friday."),
          List.of("It shipped. Check the tracking page.", "Use the tracking number in your email.",
              "It's on the way. Wait a few days."),
          List.of("The tracking page is updated every few hours.",
              "If it has not arrived in 5 days, write to us again and our support team will look into it.",
              "Deliveries can take a little longer during holidays.")),
      new Intent("refund", false,
          List.of("I want a refund.", "How do I get my money back?", "Can I get a refund for my order?",
              "When will I receive my refund?"),
          List.of("You can request a refund from the Orders page within 30 days of delivery.",
              "Refunds go back to your original payment method within 5 to 7 business days.",
              "Your refund has been approved and will reach your account in a few days."),
          List.of("Request it on the Orders page.", "Refunds take 5 to 7 days. Wait.",
              "No refund after 30 days."),
          List.of("Once we receive the returned item, we process the refund within 24 hours.",
              "You will get an email when the refund is issued.",
              "Shipping costs are refunded if the item was faulty.")),
      new Intent("cancel_order", false,
          List.of("Can I cancel my order?", "I need to cancel my order.", "How do I cancel an order?"),
          List.of("You can cancel your order from the Orders page as long as it has not shipped.",
              "Orders can be cancelled within one hour of purchase.",
              "I have cancelled your order, and the payment will be released."),
          List.of("Cancel it on the Orders page.", "Too late, it already shipped.", "Not possible after one hour."),
          List.of("If it has already shipped, you can return it for a refund instead.",
              "You will receive a confirmation email once it is cancelled.",
              "The hold on your card is released within 24 hours.")),
      new Intent("change_address", false,
          List.of("How do I change my delivery address?", "I entered the wrong address.",
              "Can I ship to a different address?"),
          List.of("You can change the address on the Orders page until the order ships.",
              "I have updated the delivery address on your order.",
              "Addresses can be changed in your account settings under Addresses."),
          List.of("Change it in your account.", "Too late, it already shipped.", "Fix it on the Orders page."),
          List.of("After shipping, the carrier can redirect the package for a small fee.",
              "You will get an email confirming the new address.",
              "The change applies to future orders as well.")),
      new Intent("password", true,
          List.of("I forgot my password.", "I can't log in to my account.", "How do I reset my password?"),
          List.of("You can reset your password with the Forgot password link on the sign-in page.",
              "I have sent a password reset link to your email address.",
              "Your account is unlocked now, and you can sign in again."),
          List.of("Click Forgot password.", "Check your email for the reset link.", "Reset it yourself on the sign-in page."),
          List.of("The reset link is valid for 24 hours.",
              "If the email does not arrive, look in your spam folder.",
              "For security, you will be signed out on your other devices.")),
      new Intent("damaged_item", true,
          List.of("My item arrived damaged.", "The product I received is broken.", "I got the wrong item."),
          List.of("We will send you a replacement right away at no cost.",
              "You can return the item for a full refund, and the return label is free.",
              "Send us a photo of the item and we will replace it."),
          List.of("Send a photo.", "Return it. We'll see.", "Use the return form."),
          List.of("The replacement ships within 24 hours.",
              "You do not need to pay for return shipping.",
              "Our support team will confirm by email once the photo is reviewed.")),
      new Intent("returns", false,
          List.of("What is your return policy?", "How do I return an item?", "Can I exchange a product?"),
          List.of("You can return any unused item within 30 days for a refund or an exchange.",
              "Start a return from the Orders page and print the free return label.",
              "Exchanges are free, and the new item ships as soon as we receive the old one."),
          List.of("30 days. Read the FAQ.", "Use the Orders page.", "Return it within 30 days or keep it."),
          List.of("Items must be in their original packaging.",
              "The refund is issued within 24 hours of the return arriving.",
              "Sale items can be exchanged but not refunded.")),
      new Intent("payment", true,
          List.of("My payment failed.", "Why was my card declined?", "Which payment methods do you accept?"),
          List.of("We accept credit cards, debit cards, and PayPal.",
              "A declined card is usually a bank check, so your bank can tell you more.",
              "Your payment did not go through, so you were not charged."),
          List.of("Ask your bank.", "Try another card.", "Cards and PayPal only."),
          List.of("You can update your card on the Payment page.",
              "Pending charges disappear within 24 hours.",
              "Your order is kept for 24 hours while you retry the payment.")),
      new Intent("contact", false,
          List.of("How can I talk to a human?", "What are your opening hours?", "What is your phone number?"),
          List.of("Our support team is available by chat from 8 am to 8 pm, Monday to Saturday.",
              "You can reach a person at 555 0100 on weekdays.",
              "You can write to our support team by email at any time."),
          List.of("Call 555 0100.", "Chat is open 8 to 8.", "Email us. We answer eventually."),
          List.of("Most emails are answered within 24 hours.",
              "Waiting times are shortest in the morning.",
              "You can also find answers in the help center.")),
      new Intent("discount", false,
          List.of("Do you have a discount code?", "My promo code doesn't work.", "Are there any sales coming up?"),
          List.of("You can use the code WELCOME10 for a 10 percent discount on your first order.",
              "Promo codes work only on full-price items and cannot be combined.",
              "Our next sale starts on Monday with discounts of up to 40 percent."),
          List.of("No codes right now.", "The code expired.", "Wait for the sale."),
          List.of("Subscribers to our newsletter get early access to every sale.",
              "Orders over 50 dollars also get free shipping.",
              "A discount cannot be added after the order is placed.")),
      new Intent("shipping", false,
          List.of("How much is shipping?", "Do you ship internationally?", "How long does delivery take?"),
          List.of("Shipping costs 5 dollars, and orders over 50 dollars get free shipping.",
              "We ship to more than 40 countries, and delivery takes 5 to 10 days.",
              "Standard delivery takes 2 to 4 business days."),
          List.of("5 dollars.", "Yes, we ship abroad.", "2 to 4 days."),
          List.of("Express delivery arrives the next day for 15 dollars.",
              "Customs fees may apply outside the country.",
              "You get a tracking number as soon as the order ships.")),
      new Intent("delete_account", false,
          List.of("How do I delete my account?", "Please remove my personal data.", "I want to close my account."),
          List.of("You can delete your account in the settings under Privacy.",
              "I have started the deletion of your account and your personal data.",
              "Your data will be erased within 30 days of the request."),
          List.of("Settings, Privacy, Delete.", "Done. It's gone.", "Do it in the settings."),
          List.of("You will get an email to confirm the deletion.",
              "Open orders are still delivered after the account is closed.",
              "A deleted account cannot be restored.")),
      new Intent("subscription", false,
          List.of("How do I unsubscribe from your emails?", "How do I cancel my subscription?",
              "Can I pause my subscription?"),
          List.of("You can unsubscribe with the link at the bottom of any email.",
              "You can cancel the subscription in your account under Plans.",
              "Subscriptions can be paused for up to three months."),
          List.of("Click unsubscribe.", "Cancel it under Plans.", "Pause it yourself."),
          List.of("The change takes effect within 24 hours.",
              "You keep access until the end of the paid period.",
              "You will get one last email to confirm.")),
      new Intent("greeting", false,
          List.of("Hello", "Hi there", "Good morning"),
          List.of("Hello, what can I do for you today?", "Hi, how can I help you?",
              "Good morning, what do you need help with?"),
          List.of("What?", "Yes?", "Go ahead."),
          List.of("I can help with orders, refunds, returns, and your account.",
              "Tell me your order number if your question is about an order.",
              "Our support team is also available by chat.")),
      new Intent("thanks", false,
          List.of("Thanks for your help!", "That solved it, thanks.", "Great, thank you."),
          List.of("Good to know that it is sorted out now.", "Good to hear that it works now.", "Enjoy your order, and have a good time with it."),
          List.of("Fine.", "OK.", "Noted."),
          List.of("You can always reach us here if something else comes up.",
              "Your feedback helps us improve the service.",
              "We will send you an email if anything changes with your order.")));

  private static final List<String> WELCOME = List.of("Thank you for reaching out!", "Happy to help!",
      "Thanks for your message.", "Great question!", "Of course!");
  private static final List<String> APOLOGY = List.of("I'm so sorry about that.", "I'm sorry for the trouble.",
      "I apologize for the inconvenience.", "Thank you for your patience, and sorry about this.");
  private static final List<String> CLOSERS = List.of("Is there anything else I can help you with?",
      "Have a wonderful day!", "Please let me know if you have any other questions.",
      "Thank you for shopping with us!");
  private static final List<String> CURT_EXTRAS = List.of("Read the FAQ.", "That's all.", "Nothing else to do.",
      "Don't write again about this.", "Figure it out from there.");

  private SupportCorpus() {}

  /** {@code count} exchanges, the same for the same seed. */
  public static List<SupportExchange> generate(int count, long seed) {
    if (count < 1) throw new IllegalArgumentException("count = " + count + ": expected >= 1");
    SplittableRandom r = new SplittableRandom(seed);
    List<SupportExchange> out = new ArrayList<>(count);
    for (int i = 0; i < count; i++) out.add(sample(r));
    return out;
  }

  /** One exchange with a random topic, message, tone and length. */
  public static SupportExchange sample(SplittableRandom r) {
    Intent intent = pick(r, INTENTS);
    Tone tone = Tone.values()[r.nextInt(Tone.values().length)];
    Length length = Length.values()[r.nextInt(Length.values().length)];
    return compose(intent, pick(r, intent.prompts()), tone, length, r);
  }

  /** Every reply part the corpus assembles replies from (openers, answers, details, closers), each once. */
  static Set<String> parts() {
    Set<String> out = new LinkedHashSet<>();
    for (Intent i : INTENTS) out.addAll(partsOf(i));
    return out;
  }

  /** The parts {@link #compose} can put into a reply to one of {@code intent}'s messages, each once. */
  static Set<String> partsOf(Intent intent) {
    Set<String> out = new LinkedHashSet<>(WELCOME);
    if (intent.problem()) out.addAll(APOLOGY);
    out.addAll(intent.answers());
    out.addAll(intent.curt());
    out.addAll(intent.details());
    out.addAll(CLOSERS);
    out.addAll(CURT_EXTRAS);
    return out;
  }

  /**
   * How many of the corpus's messages ({@link #prompts()}) have some reply the corpus composes with {@code text}
   * in one of its sentences (case-insensitive). The demo's users ask these messages alike, so for a model trained
   * on the corpus that only chooses among the replies it learnt, {@code keyword:TEXT} is liked about this share of
   * the time at most: more needs the text in replies to messages it never had it for.
   */
  public static int promptsWithReplyContaining(String text) {
    String needle = text.toLowerCase(Locale.ROOT);
    int n = 0;
    for (Intent i : INTENTS) {
      if (partsOf(i).stream().anyMatch(part -> part.toLowerCase(Locale.ROOT).contains(needle))) n += i.prompts().size();
    }
    return n;
  }

  /** Every customer message the corpus uses (what the demo's simulated users ask). */
  public static List<String> prompts() {
    List<String> out = new ArrayList<>();
    for (Intent i : INTENTS) out.addAll(i.prompts());
    return out;
  }

  static SupportExchange compose(Intent intent, String prompt, Tone tone, Length length, SplittableRandom r) {
    List<String> parts = new ArrayList<>();
    switch (tone) {
      case POLITE -> {
        parts.add(pick(r, intent.problem() && r.nextInt(4) != 0 ? APOLOGY : WELCOME));
        parts.add(pick(r, intent.answers()));
        if (length == Length.LONG) {
          addDetails(parts, intent, r);
          parts.add(pick(r, CLOSERS));
        }
      }
      case NEUTRAL -> {
        parts.add(pick(r, intent.answers()));
        if (length == Length.LONG) addDetails(parts, intent, r);
      }
      case CURT -> {
        parts.add(pick(r, intent.curt()));
        if (length == Length.LONG) {
          parts.add(pick(r, intent.details()));
          parts.add(pick(r, CURT_EXTRAS));
        }
      }
    }
    String reply = String.join(" ", parts);
    Set<String> kw = new LinkedHashSet<>();
    String lower = reply.toLowerCase(Locale.ROOT);
    for (String k : KEYWORDS) if (lower.contains(k)) kw.add(k);
    return new SupportExchange(intent.name(), prompt, reply, tone, length, kw);
  }

  private static void addDetails(List<String> parts, Intent intent, SplittableRandom r) {
    int first = r.nextInt(intent.details().size());
    parts.add(intent.details().get(first));
    if (r.nextBoolean()) parts.add(intent.details().get((first + 1 + r.nextInt(intent.details().size() - 1)) % intent.details().size()));
  }

  private static <T> T pick(SplittableRandom r, List<T> from) {
    return from.get(r.nextInt(from.size()));
  }

  /**
   * Writes one JSON object per line in TRL's conversational prompt-completion layout (what
   * {@code prefstream sft} and TRL's SFTTrainer read): {@code "prompt": [{"role": "user", …}]},
   * {@code "completion": [{"role": "assistant", …}]}, and the labels {@code intent}, {@code tone},
   * {@code length}, {@code keywords}.
   */
  public static void writeJsonl(Path file, List<SupportExchange> exchanges) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) Files.createDirectories(parent);
    try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      for (SupportExchange e : exchanges) {
        ObjectNode n = JSON.createObjectNode();
        n.putArray("prompt").addObject().put("role", "user").put("content", e.prompt());
        n.putArray("completion").addObject().put("role", "assistant").put("content", e.reply());
        n.put("intent", e.intent());
        n.put("tone", e.tone().name().toLowerCase(Locale.ROOT));
        n.put("length", e.length().name().toLowerCase(Locale.ROOT));
        var kw = n.putArray("keywords");
        e.keywords().forEach(kw::add);
        w.write(JSON.writeValueAsString(n));
        w.newLine();
      }
    }
  }
}
