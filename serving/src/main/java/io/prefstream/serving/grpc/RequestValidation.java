package io.prefstream.serving.grpc;

import io.prefstream.model.generate.SamplingParams;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.Content;
import io.prefstream.model.text.SequenceEncoder;
import io.prefstream.model.tokenizer.Tokenizer;
import io.prefstream.schemas.grpc.ChatRequest;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.ScoreRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * Checks requests at the boundary and turns them into model inputs. Every refusal is an
 * INVALID_ARGUMENT whose description starts with the field's name and says what was expected.
 */
final class RequestValidation {
  static final Pattern POLICY_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  static final int MAX_STOPS = 8;
  static final int MAX_STOP_CHARS = 64;
  static final int MAX_USER_ID_CHARS = 256;
  static final int MAX_MESSAGES = 256;
  static final int MAX_ROLE_CHARS = 64;
  static final double MAX_TEMPERATURE = 2.0;
  static final double MAX_BETA = 100.0;

  private final ServingConfig config;
  private final int context;
  private final String defaultPolicy;
  /** Prompt and response ids as training builds them (TRL's rule): Score measures what the learner optimises. */
  private final SequenceEncoder encoder;

  RequestValidation(ServingConfig config, int context, String defaultPolicy, Tokenizer tokenizer) {
    this.config = config;
    this.context = context;
    this.defaultPolicy = defaultPolicy;
    this.encoder = SequenceEncoder.unlimited(tokenizer);
  }

  record Generation(String policyId, int[] prompt, SamplingParams params, BestOf bestOf) {
    /** Refuses best-of-n on a stream, which cannot know the best reply before all are done. */
    Generation streamable() {
      if (bestOf != null) {
        throw Rpc.invalid("sampling.best_of", "works with Generate and Chat, not with the streams: the best reply is known"
            + " only when every candidate is done");
      }
      return this;
    }
  }

  /**
   * Best-of-n: sample {@code n} replies, score each by beta·(log π − log π_ref) (per token when
   * {@code perToken}), return the best (and all of them when {@code returnCandidates}).
   */
  record BestOf(int n, boolean perToken, boolean returnCandidates, double beta) {}

  /** A Chat request as model input: the generation, the conversation and the text it rendered to. */
  record Chat(Generation generation, List<ChatMessage> messages, String renderedPrompt) {}

  record Scoring(String policyId, int[] prompt, List<int[]> responses, double beta) {}

  String policyId(String given) {
    if (given.isEmpty()) return defaultPolicy;
    if (!POLICY_ID.matcher(given).matches()) {
      throw Rpc.invalid("policy_id", "'" + abbreviate(given) + "' is not a policy id; expected letters, digits, '.', '_'"
          + " or '-' (at most 128, starting with a letter or digit)");
    }
    return given;
  }

  private int[] prompt(String prompt, String field) {
    if (prompt.isEmpty()) throw Rpc.invalid(field, "must not be empty");
    if (prompt.length() > config.maxPromptChars()) {
      throw Rpc.invalid(field, prompt.length() + " characters, more than the limit of " + config.maxPromptChars());
    }
    int[] ids;
    try {
      ids = encoder.promptIds(Content.text(prompt));
    } catch (IllegalArgumentException e) {
      throw Rpc.invalid(field, e.getMessage());
    }
    if (ids.length >= context) {
      throw Rpc.invalid(field, ids.length + " tokens; the model's context is " + context + " tokens, so at most "
          + (context - 1) + " fit with room to generate");
    }
    return ids;
  }

  Generation generation(GenerateRequest req, java.util.Set<Integer> eos) {
    String policy = policyId(req.getPolicyId());
    userId(req.getUserId());
    var s = req.getSampling();
    validateSampling(s);
    return generation(policy, s, prompt(req.getPrompt(), "prompt"), eos);
  }

  /**
   * A Chat request: the messages rendered by the model's chat template with the generation prompt,
   * through the one encoder (so the ids are the prompt ids training builds for this conversation).
   * The template's refusal, or its absence, is an INVALID_ARGUMENT on {@code messages} with its message.
   */
  Chat chat(ChatRequest req, java.util.Set<Integer> eos) {
    String policy = policyId(req.getPolicyId());
    userId(req.getUserId());
    validateSampling(req.getSampling());
    List<ChatMessage> messages = messages(req);
    int[] ids;
    String rendered;
    try {
      ids = encoder.promptIds(Content.messages(messages));
      rendered = encoder.renderPrompt(messages);
    } catch (IllegalArgumentException e) { // ChatTemplateException, or no chat template
      throw Rpc.invalid("messages", e.getMessage());
    }
    if (ids.length >= context) {
      throw Rpc.invalid("messages", "the rendered conversation is " + ids.length + " tokens; the model's context is "
          + context + " tokens, so at most " + (context - 1) + " fit with room to generate");
    }
    return new Chat(generation(policy, req.getSampling(), ids, eos), messages, rendered);
  }

  private List<ChatMessage> messages(ChatRequest req) {
    if (req.getMessagesCount() == 0) throw Rpc.invalid("messages", "give at least one message (e.g. {role: \"user\", content: …})");
    if (req.getMessagesCount() > MAX_MESSAGES) {
      throw Rpc.invalid("messages", req.getMessagesCount() + " messages, more than the limit of " + MAX_MESSAGES);
    }
    List<ChatMessage> out = new ArrayList<>(req.getMessagesCount());
    long chars = 0;
    for (int i = 0; i < req.getMessagesCount(); i++) {
      var m = req.getMessages(i);
      if (m.getRole().isBlank()) throw Rpc.invalid("messages[" + i + "].role", "must not be empty; e.g. \"user\"");
      if (m.getRole().length() > MAX_ROLE_CHARS) {
        throw Rpc.invalid("messages[" + i + "].role", m.getRole().length() + " characters, more than " + MAX_ROLE_CHARS);
      }
      chars += m.getContent().length();
      if (chars > config.maxPromptChars()) {
        throw Rpc.invalid("messages[" + i + "].content", "the messages' contents reach " + chars
            + " characters, more than the limit of " + config.maxPromptChars());
      }
      out.add(new ChatMessage(m.getRole(), m.getContent()));
    }
    return out;
  }

  private void userId(String userId) {
    if (userId.length() > MAX_USER_ID_CHARS) {
      throw Rpc.invalid("user_id", userId.length() + " characters, more than " + MAX_USER_ID_CHARS);
    }
  }

  private void validateSampling(io.prefstream.schemas.grpc.SamplingParams s) {
    int maxNew = s.getMaxNewTokens();
    if (maxNew < 0 || maxNew > config.maxNewTokens()) {
      throw Rpc.invalid("sampling.max_new_tokens", "must be in [0, " + config.maxNewTokens() + "] (0 = the default "
          + config.defaultMaxNewTokens() + "), got " + maxNew);
    }
    double temperature = s.hasTemperature() ? s.getTemperature() : 0.0;
    if (!(temperature >= 0 && temperature <= MAX_TEMPERATURE)) {
      throw Rpc.invalid("sampling.temperature", "must be in [0, " + MAX_TEMPERATURE + "] (0 = greedy), got " + s.getTemperature());
    }
    double topP = s.hasTopP() ? s.getTopP() : 1.0;
    if (!(topP > 0 && topP <= 1)) throw Rpc.invalid("sampling.top_p", "must be in (0, 1], got " + s.getTopP());
    if (s.getTopK() < 0) throw Rpc.invalid("sampling.top_k", "must be >= 0 (0 = off), got " + s.getTopK());
    if (s.getStopCount() > MAX_STOPS) throw Rpc.invalid("sampling.stop", "at most " + MAX_STOPS + " stop strings, got " + s.getStopCount());
    for (int i = 0; i < s.getStopCount(); i++) {
      String stop = s.getStop(i);
      if (stop.isEmpty() || stop.length() > MAX_STOP_CHARS) {
        throw Rpc.invalid("sampling.stop[" + i + "]", "must have 1 to " + MAX_STOP_CHARS + " characters, got " + stop.length());
      }
    }
    if (s.getBestOf() < 0 || s.getBestOf() > config.maxScoreResponses()) {
      throw Rpc.invalid("sampling.best_of", "must be in [0, " + config.maxScoreResponses() + "] (0 or 1 = off; the limit is"
          + " the server's --max-score-responses), got " + s.getBestOf());
    }
    if (s.getBestOf() > 1 && temperature == 0) {
      throw Rpc.invalid("sampling.best_of", "needs sampling (temperature > 0): greedy candidates would all be the same reply");
    }
    if (s.getBestOf() <= 1 && (s.getReturnCandidates() || s.getBestOfScoreValue() != 0)) {
      throw Rpc.invalid("sampling.best_of", "return_candidates and best_of_score need best_of > 1, got best_of " + s.getBestOf());
    }
    if (s.getBestOfScore() == io.prefstream.schemas.grpc.BestOfScore.UNRECOGNIZED) {
      throw Rpc.invalid("sampling.best_of_score", "unknown value " + s.getBestOfScoreValue()
          + "; use BEST_OF_SCORE_SEQUENCE (0) or BEST_OF_SCORE_PER_TOKEN (1)");
    }
  }

  /** Sampling parameters (already validated) for a prompt of these ids. */
  private Generation generation(String policy, io.prefstream.schemas.grpc.SamplingParams s, int[] prompt, java.util.Set<Integer> eos) {
    int maxNew = s.getMaxNewTokens() == 0 ? config.defaultMaxNewTokens() : s.getMaxNewTokens();
    double temperature = s.hasTemperature() ? s.getTemperature() : 0.0;
    double topP = s.hasTopP() ? s.getTopP() : 1.0;
    long seed = s.hasSeed() ? s.getSeed() : ThreadLocalRandom.current().nextLong();
    int budget = Math.min(maxNew, context - prompt.length);
    SamplingParams params = new SamplingParams(temperature, s.getTopK(), topP, seed, budget,
        s.getIgnoreEos() ? java.util.Set.of() : eos, s.getStopList());
    BestOf bestOf = s.getBestOf() > 1 ? new BestOf(s.getBestOf(),
        s.getBestOfScore() == io.prefstream.schemas.grpc.BestOfScore.BEST_OF_SCORE_PER_TOKEN, s.getReturnCandidates(),
        config.defaultBeta()) : null;
    return new Generation(policy, prompt, params, bestOf);
  }

  /**
   * A generated reply as training (and Score) encode it after its prompt, TRL's way: the
   * tokenizer's EOS closes a text reply, the chat template's turn end closes an assistant message.
   * Cut to the model's context.
   */
  PromptResponse reply(String promptText, List<ChatMessage> messages, String reply) {
    PromptResponse pr = messages != null
        ? encoder.encode(Content.messages(messages), Content.messages(List.of(new ChatMessage("assistant", reply))))
        : encoder.encode(Content.text(promptText), Content.text(reply));
    int room = context - pr.prompt().length;
    return pr.response().length <= room ? pr : new PromptResponse(pr.prompt(), java.util.Arrays.copyOf(pr.response(), Math.max(0, room)));
  }

  Scoring scoring(ScoreRequest req, double defaultBeta) {
    String policy = policyId(req.getPolicyId());
    double beta = req.hasBeta() ? req.getBeta() : defaultBeta;
    if (!(beta > 0 && beta <= MAX_BETA)) throw Rpc.invalid("beta", "must be in (0, " + MAX_BETA + "], got " + req.getBeta());
    if (req.getResponsesCount() == 0) throw Rpc.invalid("responses", "give at least one response to score");
    if (req.getResponsesCount() > config.maxScoreResponses()) {
      throw Rpc.invalid("responses", req.getResponsesCount() + " responses, more than the limit of " + config.maxScoreResponses());
    }
    int[] prompt = prompt(req.getPrompt(), "prompt");
    List<int[]> responses = new ArrayList<>();
    for (int i = 0; i < req.getResponsesCount(); i++) {
      String r = req.getResponses(i);
      String field = "responses[" + i + "]";
      if (r.isEmpty()) throw Rpc.invalid(field, "must not be empty");
      if (r.length() > config.maxPromptChars()) {
        throw Rpc.invalid(field, r.length() + " characters, more than the limit of " + config.maxPromptChars());
      }
      int[] ids;
      try {
        ids = encoder.encode(req.getPrompt(), r).response();
      } catch (IllegalArgumentException e) {
        throw Rpc.invalid(field, e.getMessage());
      }
      if (prompt.length + ids.length > context) {
        throw Rpc.invalid(field, "prompt and response are " + (prompt.length + ids.length) + " tokens; the model's context is "
            + context);
      }
      responses.add(ids);
    }
    return new Scoring(policy, prompt, responses, beta);
  }

  static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "…";
  }
}
