package io.prefstream.serving.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.SequenceEncoder;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.schemas.grpc.ChatChunk;
import io.prefstream.schemas.grpc.ChatRequest;
import io.prefstream.schemas.grpc.ChatResponse;
import io.prefstream.schemas.grpc.ComparisonFeedback;
import io.prefstream.schemas.grpc.FeedbackGrpc;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerateResponse;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.SamplingParams;
import io.prefstream.schemas.grpc.SubmitFeedbackRequest;
import io.prefstream.schemas.grpc.ThumbFeedback;
import io.prefstream.serving.Fixture;
import io.prefstream.serving.feedback.EventKeys;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chat and ChatStream over the in-process transport, on a model with the bundled assistant's chat
 * template, and feedback that names responses by id instead of echoing texts.
 */
class ChatServiceTest {
  @TempDir static Path root;
  static Fixture fx;
  static TestServer ts;
  static GenerationGrpc.GenerationBlockingStub gen;
  static FeedbackGrpc.FeedbackBlockingStub feedback;

  static final List<ChatMessage> CONVERSATION = List.of(ChatMessage.user("Where is my order?"),
      ChatMessage.assistant("Which order do you mean?"), ChatMessage.user("The blue one."));

  @BeforeAll
  static void start() throws Exception {
    fx = Fixture.withAssistantTemplate(root);
    ts = new TestServer(fx, TestServer.config(), RolloutMode.AUTO, false);
    gen = GenerationGrpc.newBlockingStub(ts.channel);
    feedback = FeedbackGrpc.newBlockingStub(ts.channel);
  }

  @AfterAll
  static void stop() throws Exception {
    ts.close();
  }

  static ChatRequest chat(List<ChatMessage> messages, SamplingParams.Builder sampling) {
    ChatRequest.Builder b = ChatRequest.newBuilder().setSampling(sampling);
    for (ChatMessage m : messages) b.addMessages(io.prefstream.schemas.grpc.ChatMessage.newBuilder().setRole(m.role()).setContent(m.content()));
    return b.build();
  }

  static SamplingParams.Builder greedy(int maxNew) {
    return SamplingParams.newBuilder().setMaxNewTokens(maxNew).setTemperature(0);
  }

  static void assertStatus(Runnable call, Status.Code code, String descriptionStart) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(code);
      assertThat(e.getStatus().getDescription()).startsWith(descriptionStart);
    });
  }

  private static PreferenceEvent published(String eventId) {
    return ts.sink.events().stream().map(k -> k.event()).filter(e -> e.getEventId().equals(eventId)).findFirst().orElseThrow();
  }

  @Test
  void chatRendersWithTheModelsTemplateAndAnswersAsGenerateDoesOnThatText() {
    String rendered = SequenceEncoder.unlimited(fx.base.tokenizer()).renderPrompt(CONVERSATION);
    assertThat(rendered).isEqualTo("<|bos|>User: Where is my order?\nAssistant: Which order do you mean?<|eos|>\n"
        + "User: The blue one.\nAssistant:");

    ChatResponse c = gen.chat(chat(CONVERSATION, greedy(8)));
    GenerateResponse g = gen.generate(GenerateRequest.newBuilder().setPrompt(rendered).setSampling(greedy(8)).build());

    assertThat(c.getRenderedPrompt()).isEqualTo(rendered);
    assertThat(c.getPolicy()).isEqualTo(g.getPolicy());
    assertThat(c.getText()).isEqualTo(g.getText()).isEqualTo(fx.greedy(c.getPolicy().getVersion(), rendered, 8));
    assertThat(c.getPromptTokens()).isEqualTo(g.getPromptTokens());
    assertThat(c.getCompletionTokens()).isEqualTo(g.getCompletionTokens()).isBetween(1, 8);
    assertThat(c.getFinishReason()).isEqualTo(g.getFinishReason());
    assertThat(c.getResponseId()).hasSize(36).isNotEqualTo(g.getResponseId());
  }

  @Test
  void chatStreamChunksAddUpToTheChatTextAndTheLastOneCarriesTheRenderedPrompt() {
    ChatResponse unary = gen.chat(chat(CONVERSATION, greedy(12)));
    List<ChatChunk> chunks = new ArrayList<>();
    gen.chatStream(chat(CONVERSATION, greedy(12))).forEachRemaining(chunks::add);

    ChatChunk last = chunks.getLast();
    assertThat(last.getFinished()).isTrue();
    assertThat(chunks.subList(0, chunks.size() - 1)).allSatisfy(ch -> {
      assertThat(ch.getFinished()).isFalse();
      assertThat(ch.getRenderedPrompt()).isEmpty();
    });
    assertThat(chunks).extracting(ChatChunk::getResponseId).containsOnly(last.getResponseId());
    assertThat(chunks.stream().map(ChatChunk::getText).reduce("", String::concat)).isEqualTo(unary.getText());
    assertThat(last.getRenderedPrompt()).isEqualTo(unary.getRenderedPrompt());
    assertThat(last.getPromptTokens()).isEqualTo(unary.getPromptTokens());
    assertThat(last.getCompletionTokens()).isEqualTo(unary.getCompletionTokens());
    assertThat(last.getFinishReason()).isEqualTo(unary.getFinishReason());
  }

  @Test
  void aConversationTheTemplateRefusesIsInvalidArgumentWithTheTemplatesOwnMessage() {
    List<ChatMessage> withSystem = List.of(new ChatMessage("system", "Be brief."), ChatMessage.user("Hi"));
    assertStatus(() -> gen.chat(chat(withSystem, greedy(4))), Status.Code.INVALID_ARGUMENT,
        "messages: assistant-tiny's chat template knows user and assistant turns only, not 'system'");
    assertStatus(() -> gen.chatStream(chat(withSystem, greedy(4))).hasNext(), Status.Code.INVALID_ARGUMENT, "messages: ");
    assertStatus(() -> gen.chat(chat(List.of(), greedy(4))), Status.Code.INVALID_ARGUMENT, "messages: give at least one");
    assertStatus(() -> gen.chat(ChatRequest.newBuilder().addMessages(io.prefstream.schemas.grpc.ChatMessage.newBuilder()
        .setContent("no role")).build()), Status.Code.INVALID_ARGUMENT, "messages[0].role: ");
    assertStatus(() -> gen.chat(chat(List.of(ChatMessage.user("x".repeat(2_001))), greedy(4))), Status.Code.INVALID_ARGUMENT,
        "messages[0].content: ");
    assertStatus(() -> gen.chat(chat(CONVERSATION, greedy(4).setTopP(2))), Status.Code.INVALID_ARGUMENT, "sampling.top_p: ");
  }

  @Test
  void aThumbByResponseIdPublishesTheConversationTheRenderingAndTheReply() {
    ChatResponse c = gen.chat(chat(CONVERSATION, greedy(8)));
    String eventId = feedback.submit(SubmitFeedbackRequest.newBuilder().setUserId("u-1").setResponseId(c.getResponseId())
        .setThumb(ThumbFeedback.newBuilder().setUp(true)).build()).getEventId();

    PreferenceEvent e = published(eventId);
    assertThat(e.getFeedback()).isEqualTo(new Thumb(c.getText(), Rating.UP));
    assertThat(e.getPrompt()).isEqualTo(c.getRenderedPrompt());
    assertThat(e.getPromptMessages()).extracting(m -> m.getRole() + ": " + m.getContent()).containsExactly(
        "user: Where is my order?", "assistant: Which order do you mean?", "user: The blue one.");
    assertThat(e.getPolicyId()).isEqualTo(c.getPolicy().getPolicyId());
    assertThat(e.getPolicyVersion()).isEqualTo(c.getPolicy().getVersion());
    assertThat(e.getUserId()).isEqualTo("u-1");
    assertThat(e.getAttributes()).containsEntry("response_id", c.getResponseId());
    assertThat(ts.sink.events().stream().filter(k -> k.event().getEventId().equals(eventId)).findFirst().orElseThrow().key())
        .isEqualTo(EventKeys.key(e.getPolicyId(), c.getRenderedPrompt()));
  }

  @Test
  void aThumbByTheIdOfAGenerateResponseCarriesItsPromptTextAndNoConversation() {
    GenerateResponse g = gen.generate(GenerateRequest.newBuilder().setPrompt("Q: 2+2?").setSampling(greedy(6)).build());
    String eventId = feedback.submit(SubmitFeedbackRequest.newBuilder().setResponseId(g.getResponseId())
        .setThumb(ThumbFeedback.newBuilder().setUp(false)).build()).getEventId();

    PreferenceEvent e = published(eventId);
    assertThat(e.getPrompt()).isEqualTo("Q: 2+2?");
    assertThat(e.getPromptMessages()).isNull();
    assertThat(e.getFeedback()).isEqualTo(new Thumb(g.getText(), Rating.DOWN));
  }

  @Test
  void aComparisonByTwoResponseIdsOnOneConversationBecomesOneEvent() {
    List<ChatMessage> ask = List.of(ChatMessage.user("Can I return shoes?"));
    ChatResponse a = gen.chat(chat(ask, SamplingParams.newBuilder().setMaxNewTokens(8).setTemperature(1).setSeed(1)));
    ChatResponse b = null;
    for (long seed = 2; seed < 40 && (b == null || b.getText().equals(a.getText())); seed++) {
      b = gen.chat(chat(ask, SamplingParams.newBuilder().setMaxNewTokens(8).setTemperature(1).setSeed(seed)));
    }
    assertThat(b.getText()).as("two samples that differ").isNotEqualTo(a.getText());

    String eventId = feedback.submit(SubmitFeedbackRequest.newBuilder().setComparison(ComparisonFeedback.newBuilder()
        .setChosenResponseId(b.getResponseId()).setRejectedResponseId(a.getResponseId())).build()).getEventId();

    PreferenceEvent e = published(eventId);
    assertThat(e.getFeedback()).isEqualTo(new Comparison(b.getText(), a.getText()));
    assertThat(e.getPrompt()).isEqualTo(a.getRenderedPrompt());
    assertThat(e.getPromptMessages()).singleElement().satisfies(m -> {
      assertThat(m.getRole()).isEqualTo("user");
      assertThat(m.getContent()).isEqualTo("Can I return shoes?");
    });
    assertThat(e.getAttributes()).containsEntry("chosen_response_id", b.getResponseId())
        .containsEntry("rejected_response_id", a.getResponseId());

    // Two responses to different conversations are no comparison.
    ChatResponse other = gen.chat(chat(List.of(ChatMessage.user("Hello")), greedy(4)));
    assertStatus(() -> feedback.submit(SubmitFeedbackRequest.newBuilder().setComparison(ComparisonFeedback.newBuilder()
            .setChosenResponseId(a.getResponseId()).setRejectedResponseId(other.getResponseId())).build()),
        Status.Code.INVALID_ARGUMENT, "comparison: responses " + a.getResponseId() + " and " + other.getResponseId()
            + " answer different prompts");
    // Nor is one id with a text, or a single id.
    assertStatus(() -> feedback.submit(SubmitFeedbackRequest.newBuilder().setComparison(ComparisonFeedback.newBuilder()
        .setChosenResponseId(a.getResponseId()).setRejected("no")).build()), Status.Code.INVALID_ARGUMENT, "comparison: ");
    assertStatus(() -> feedback.submit(SubmitFeedbackRequest.newBuilder().setComparison(ComparisonFeedback.newBuilder()
            .setChosenResponseId(a.getResponseId())).build()), Status.Code.INVALID_ARGUMENT,
        "comparison.rejected_response_id: ");
  }

  @Test
  void anUnknownResponseIdIsNotFoundAndSaysToSendTheTexts() {
    assertThatThrownBy(() -> feedback.submit(SubmitFeedbackRequest.newBuilder().setResponseId("no-such-response")
        .setThumb(ThumbFeedback.newBuilder().setUp(true)).build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
          assertThat(e.getStatus().getDescription()).startsWith("response_id: response no-such-response is not among")
              .contains("send the texts instead");
        });
    ChatResponse c = gen.chat(chat(CONVERSATION, greedy(4)));
    assertStatus(() -> feedback.submit(SubmitFeedbackRequest.newBuilder().setComparison(ComparisonFeedback.newBuilder()
            .setChosenResponseId(c.getResponseId()).setRejectedResponseId("gone")).build()), Status.Code.NOT_FOUND,
        "comparison.rejected_response_id: response gone is not among");
    // What the request says besides the id must agree with the response.
    assertStatus(() -> feedback.submit(SubmitFeedbackRequest.newBuilder().setResponseId(c.getResponseId())
        .setPrompt("another prompt").setThumb(ThumbFeedback.newBuilder().setUp(true)).build()), Status.Code.INVALID_ARGUMENT,
        "prompt: differs from the prompt of response_id " + c.getResponseId());
    assertStatus(() -> feedback.submit(SubmitFeedbackRequest.newBuilder().setResponseId(c.getResponseId())
            .setPolicyVersion(c.getPolicy().getVersion() + 5).setThumb(ThumbFeedback.newBuilder().setUp(true)).build()),
        Status.Code.INVALID_ARGUMENT, "policy_version: ");
    // No text and no id: say both ways.
    assertStatus(() -> feedback.submit(SubmitFeedbackRequest.newBuilder().setPrompt("p")
        .setThumb(ThumbFeedback.newBuilder().setUp(true)).build()), Status.Code.INVALID_ARGUMENT, "thumb.response: ");
  }
}
