package io.prefstream.deploy.demo;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.prefstream.deploy.demo.corpus.SupportCorpus;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.schemas.grpc.Candidate;
import io.prefstream.schemas.grpc.ChatRequest;
import io.prefstream.schemas.grpc.ChatResponse;
import io.prefstream.schemas.grpc.ComparisonFeedback;
import io.prefstream.schemas.grpc.FeedbackGrpc;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.SamplingParams;
import io.prefstream.schemas.grpc.SubmitFeedbackRequest;
import io.prefstream.schemas.grpc.ThumbFeedback;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The demo's users: each is a thread with a real gRPC client on the server's port. A user sends a
 * customer message (from the support corpus's messages) to Chat as a one-turn conversation (the
 * server renders it with the model's chat template), judges the reply with the hidden
 * {@link PreferenceProfile} and sends a thumb through the Feedback service naming the reply by its
 * response id only: the server supplies the policy, version, conversation and reply, and no text is
 * echoed. Now and then ({@code compareShare}) it is shown an A/B pair instead (two candidates of one
 * call, {@code best_of: 2} with their response ids) and sends its choice by the two ids (two thumbs
 * when it likes both or neither). With {@code bestOf} > 1 every single reply is the best of that many
 * by implicit reward. Every judged reply is recorded in the {@link DemoTimeline}: that is the served
 * liked-reply rate.
 */
public final class SimulatedUsers implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SimulatedUsers.class);
  /** The finish reason of a reply stopped by max_new_tokens. */
  private static final String CUT = "length";

  /** How the users behave: how many, sampling, how often they compare, pause between turns. */
  public record Behaviour(int users, double temperature, double topP, int maxNewTokens, double compareShare,
      long thinkMillis, long seed, int bestOf) {
    public Behaviour {
      if (users < 1) throw new IllegalArgumentException("users must be at least 1, got " + users);
      if (!(temperature > 0 && temperature <= 2)) {
        throw new IllegalArgumentException("temperature must be in (0, 2], got " + temperature);
      }
      if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
      if (maxNewTokens < 1) throw new IllegalArgumentException("maxNewTokens must be at least 1, got " + maxNewTokens);
      if (!(compareShare >= 0 && compareShare <= 1)) {
        throw new IllegalArgumentException("compareShare must be in [0, 1], got " + compareShare);
      }
      if (thinkMillis < 0) throw new IllegalArgumentException("thinkMillis must be >= 0, got " + thinkMillis);
      if (bestOf < 1) throw new IllegalArgumentException("bestOf must be at least 1 (1 = off), got " + bestOf);
    }
  }

  private final ManagedChannel channel;
  private final List<Thread> threads = new ArrayList<>();
  private final AtomicBoolean stopped = new AtomicBoolean();

  private SimulatedUsers(ManagedChannel channel) {
    this.channel = channel;
  }

  /** Starts the users against the Generation/Feedback services on {@code host:port}. */
  public static SimulatedUsers start(String host, int port, String policy, PreferenceProfile profile, Behaviour behaviour,
      DemoTimeline timeline) {
    ManagedChannel channel = ManagedChannelBuilder.forAddress(host, port).usePlaintext().build();
    SimulatedUsers users = new SimulatedUsers(channel);
    List<String> messages = SupportCorpus.prompts();
    for (int i = 0; i < behaviour.users(); i++) {
      String userId = "demo-user-" + (i + 1);
      SplittableRandom random = new SplittableRandom(behaviour.seed() * 1_000_003L + i);
      User user = new User(userId, policy, profile, behaviour, timeline, messages, random,
          GenerationGrpc.newBlockingStub(channel), FeedbackGrpc.newBlockingStub(channel));
      Thread t = Thread.ofPlatform().name(userId).daemon(true).unstarted(() -> user.loop(users.stopped::get));
      users.threads.add(t);
      t.start();
    }
    return users;
  }

  /** Stops the users after their current turn and closes the channel. */
  @Override
  public void close() throws InterruptedException {
    stopped.set(true);
    for (Thread t : threads) t.join(TimeUnit.SECONDS.toMillis(30));
    channel.shutdown();
    if (!channel.awaitTermination(10, TimeUnit.SECONDS)) channel.shutdownNow();
  }

  private record User(String id, String policy, PreferenceProfile profile, Behaviour behaviour, DemoTimeline timeline,
      List<String> messages, SplittableRandom random, GenerationGrpc.GenerationBlockingStub generation,
      FeedbackGrpc.FeedbackBlockingStub feedback) {

    void loop(BooleanSupplier stop) {
      while (!stop.getAsBoolean()) {
        try {
          turn();
          if (behaviour.thinkMillis() > 0) Thread.sleep(behaviour.thinkMillis());
        } catch (StatusRuntimeException e) {
          if (stop.getAsBoolean()) return;
          timeline.failure();
          LOG.debug("user {}: {}", id, e.getStatus());
          try {
            Thread.sleep(200);
          } catch (InterruptedException ie) {
            return;
          }
        } catch (InterruptedException e) {
          return;
        }
      }
    }

    void turn() {
      List<ChatMessage> conversation = List.of(ChatMessage.user(messages.get(random.nextInt(messages.size()))));
      if (random.nextDouble() < behaviour.compareShare()) {
        // An A/B prompt: two candidates of one call, shown side by side; the choice goes back by ids.
        ChatResponse pair = chat(conversation, 2, true);
        Candidate a = pair.getCandidates(0), b = pair.getCandidates(1);
        if (a.getText().isBlank() || b.getText().isBlank()) return;
        long version = pair.getPolicy().getVersion();
        boolean likesA = judge(version, a), likesB = judge(version, b);
        if (likesA != likesB) {
          Candidate chosen = likesA ? a : b;
          Candidate rejected = likesA ? b : a;
          timeline.comparisonSent(feedback.withDeadlineAfter(30, TimeUnit.SECONDS).submit(SubmitFeedbackRequest
              .newBuilder().setUserId(id)
              .setComparison(ComparisonFeedback.newBuilder().setChosenResponseId(chosen.getResponseId())
                  .setRejectedResponseId(rejected.getResponseId()))
              .build()).getEventId());
          return;
        }
        thumb(a.getResponseId(), likesA);
        thumb(b.getResponseId(), likesB);
        return;
      }
      ChatResponse r = chat(conversation, behaviour.bestOf(), false);
      if (r.getText().isBlank()) return;
      thumb(r.getResponseId(), judge(r.getPolicy().getVersion(), r.getText(), CUT.equals(r.getFinishReason())));
    }

    /** A single reply: judged as a chat UI shows it. */
    private boolean judge(long version, String text, boolean cut) {
      String reply = text.strip();
      boolean liked = profile.likes(reply);
      timeline.judged(version, liked, reply, true, cut, Double.NaN, 0);
      return liked;
    }

    /** An A/B candidate: judged as shown, with the reference NLL the server scored it with. */
    private boolean judge(long version, Candidate c) {
      String reply = c.getText().strip();
      boolean liked = profile.likes(reply);
      timeline.judged(version, liked, reply, false, CUT.equals(c.getFinishReason()), -c.getReferenceLogp(),
          c.getScoredTokens());
      return liked;
    }

    private ChatResponse chat(List<ChatMessage> conversation, int bestOf, boolean candidates) {
      SamplingParams.Builder sampling = SamplingParams.newBuilder().setMaxNewTokens(behaviour.maxNewTokens())
          .setTemperature((float) behaviour.temperature()).setSeed(random.nextLong());
      if (behaviour.topP() < 1) sampling.setTopP((float) behaviour.topP());
      if (bestOf > 1) sampling.setBestOf(bestOf).setReturnCandidates(candidates);
      ChatRequest.Builder req = ChatRequest.newBuilder().setPolicyId(policy).setUserId(id).setSampling(sampling);
      for (ChatMessage m : conversation) {
        req.addMessages(io.prefstream.schemas.grpc.ChatMessage.newBuilder().setRole(m.role()).setContent(m.content()));
      }
      return generation.withDeadlineAfter(60, TimeUnit.SECONDS).chat(req.build());
    }

    private void thumb(String responseId, boolean up) {
      timeline.thumbSent(feedback.withDeadlineAfter(30, TimeUnit.SECONDS).submit(SubmitFeedbackRequest.newBuilder()
          .setUserId(id).setResponseId(responseId).setThumb(ThumbFeedback.newBuilder().setUp(up)).build()).getEventId());
    }
  }
}
