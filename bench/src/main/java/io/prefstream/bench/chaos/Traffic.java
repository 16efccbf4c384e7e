package io.prefstream.bench.chaos;

import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.prefstream.schemas.grpc.ChatMessage;
import io.prefstream.schemas.grpc.ChatRequest;
import io.prefstream.schemas.grpc.ChatResponse;
import io.prefstream.schemas.grpc.ComparisonFeedback;
import io.prefstream.schemas.grpc.FeedbackGrpc;
import io.prefstream.schemas.grpc.GenerateRequest;
import io.prefstream.schemas.grpc.GenerateResponse;
import io.prefstream.schemas.grpc.GenerationGrpc;
import io.prefstream.schemas.grpc.PolicyRef;
import io.prefstream.schemas.grpc.SamplingParams;
import io.prefstream.schemas.grpc.SubmitFeedbackRequest;
import io.prefstream.schemas.grpc.ThumbFeedback;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * Simulated users against the two replicas over real gRPC. Each user, in a loop: asks a question
 * nobody asked before (Chat, or Generate with the template's text prompt), gets two sampled replies,
 * and sends feedback with an event id of its own: a comparison (chosen, rejected), or thumbs up and
 * down on the two replies, or a single thumb. Every call goes to the user's replica first and, when
 * it fails, to the other one, alternating until it succeeds (feedback keeps its event id across
 * retries, so a retry after a lost acknowledgement is a duplicate the ingest must drop). Every
 * attempt, every served version and every acknowledged event id is recorded for the checks.
 * Owned by its user threads; the records are concurrent queues.
 */
final class Traffic {
  /** One RPC attempt: which replica, what, when, and the gRPC status code (OK when it succeeded). */
  record Attempt(int user, String replica, String rpc, long start, long end, String code) {
    boolean ok() {
      return code.equals("OK");
    }
  }

  /** A reply and the policy version that produced it, as the replica said. */
  record Served(String replica, long version, long at) {}

  /** An event the serving acknowledged: its id and what kind of feedback it was. */
  record Acked(String eventId, String kind) {}

  final Queue<Attempt> attempts = new ConcurrentLinkedQueue<>();
  final Queue<Served> served = new ConcurrentLinkedQueue<>();
  final Queue<Acked> acked = new ConcurrentLinkedQueue<>();
  final AtomicLong interactions = new AtomicLong();
  final AtomicLong gaveUp = new AtomicLong();
  /** Requests the API refused (INVALID_ARGUMENT), with its reason: never retried. */
  final Queue<String> refusals = new ConcurrentLinkedQueue<>();

  private final String[] names = {"replica-a", "replica-b"};
  private final ManagedChannel[] channels;
  private final long seed;
  private final int users;
  private volatile boolean stopping;
  private final List<Thread> threads = new ArrayList<>();
  /** How long one user keeps retrying one call over both replicas before giving up (counted). */
  private static final long GIVE_UP_MS = 120_000;

  Traffic(int portA, int portB, long seed, int users) {
    channels = new ManagedChannel[] {
        ManagedChannelBuilder.forAddress("127.0.0.1", portA).usePlaintext().build(),
        ManagedChannelBuilder.forAddress("127.0.0.1", portB).usePlaintext().build()};
    this.seed = seed;
    this.users = users;
  }

  void start() {
    for (int u = 0; u < users; u++) {
      int user = u;
      Thread t = new Thread(() -> runUser(user), "chaos-user-" + u);
      t.setDaemon(true);
      threads.add(t);
      t.start();
    }
  }

  /** Lets every user finish the interaction it is in (feedback included), then returns. */
  void stopAndJoin() throws InterruptedException {
    stopping = true;
    for (Thread t : threads) t.join(GIVE_UP_MS * 3);
    for (ManagedChannel c : channels) {
      c.shutdownNow();
      c.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private void runUser(int user) {
    SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + user);
    int home = user % 2;
    long n = 0;
    while (!stopping) {
      n++;
      try {
        interaction(user, home, n, rnd);
        interactions.incrementAndGet();
      } catch (Unanswered e) {
        if (!e.refused) gaveUp.incrementAndGet();
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private void interaction(int user, int home, long n, SplittableRandom rnd) throws InterruptedException {
    String question = "Where is my order " + user + "-" + n + "? It has been " + (1 + rnd.nextInt(30)) + " days.";
    String userId = "user-" + user;
    String eventBase = "chaos-" + seed + "-u" + user + "-i" + n;
    boolean chat = rnd.nextBoolean();
    String prompt;
    String[] replies = new String[2];
    long[] versions = new long[2];
    for (int k = 0; k < 2; k++) {
      SamplingParams sampling = SamplingParams.newBuilder().setMaxNewTokens(10).setTemperature(1.0f)
          .setSeed(rnd.nextLong()).build();
      if (chat) {
        ChatRequest req = ChatRequest.newBuilder().setPolicyId(Cluster.POLICY).setUserId(userId).setSampling(sampling)
            .addMessages(ChatMessage.newBuilder().setRole("user").setContent(question)).build();
        ChatResponse r = call(user, home, "Chat", ch -> GenerationGrpc.newBlockingStub(ch)
            .withDeadlineAfter(30, TimeUnit.SECONDS).chat(req));
        replies[k] = r.getText();
        versions[k] = record(r.getPolicy());
        prompt = r.getRenderedPrompt();
        if (k == 1) {
          sendFeedback(user, home, eventBase, prompt, replies, versions, rnd, userId);
          return;
        }
      } else {
        String text = "<|bos|>User: " + question + "\nAssistant:";
        GenerateRequest req = GenerateRequest.newBuilder().setPolicyId(Cluster.POLICY).setUserId(userId)
            .setPrompt(text).setSampling(sampling).build();
        GenerateResponse r = call(user, home, "Generate", ch -> GenerationGrpc.newBlockingStub(ch)
            .withDeadlineAfter(30, TimeUnit.SECONDS).generate(req));
        replies[k] = r.getText();
        versions[k] = record(r.getPolicy());
        if (k == 1) {
          sendFeedback(user, home, eventBase, text, replies, versions, rnd, userId);
          return;
        }
      }
    }
  }

  /** The replica that answered this thread's last call. */
  private final ThreadLocal<String> answered = new ThreadLocal<>();

  private long record(PolicyRef ref) {
    served.add(new Served(answered.get(), ref.getVersion(), System.currentTimeMillis()));
    return ref.getVersion();
  }

  private void sendFeedback(int user, int home, String eventBase, String prompt, String[] replies, long[] versions,
      SplittableRandom rnd, String userId) throws InterruptedException {
    int kind = rnd.nextInt(10);
    boolean firstBlank = replies[0].isBlank();
    boolean bothUsable = !firstBlank && !replies[1].isBlank() && !replies[0].equals(replies[1]);
    // The API refuses blank texts and a comparison of equal texts (INVALID_ARGUMENT): a user only
    // sends feedback the API accepts, so any refusal is a finding.
    if (kind < 5 && bothUsable) {
      long oldest = Math.min(versions[0], versions[1]);
      submit(user, home, base(eventBase + "-cmp", prompt, oldest, userId)
          .setComparison(ComparisonFeedback.newBuilder().setChosen(replies[0]).setRejected(replies[1])).build(),
          "comparison");
    } else if (kind < 8 && bothUsable) {
      // Thumbs up and down on the two replies of one prompt: the ingest pairs them.
      submit(user, home, base(eventBase + "-up", prompt, versions[0], userId)
          .setThumb(ThumbFeedback.newBuilder().setResponse(replies[0]).setUp(true)).build(), "thumb");
      submit(user, home, base(eventBase + "-down", prompt, versions[1], userId)
          .setThumb(ThumbFeedback.newBuilder().setResponse(replies[1]).setUp(false)).build(), "thumb");
    } else if (!firstBlank) {
      // One thumb alone: unpaired when its window closes (KTO).
      submit(user, home, base(eventBase + "-one", prompt, versions[0], userId)
          .setThumb(ThumbFeedback.newBuilder().setResponse(replies[0]).setUp(rnd.nextBoolean())).build(), "thumb");
    }
  }

  private static SubmitFeedbackRequest.Builder base(String eventId, String prompt, long version, String userId) {
    SubmitFeedbackRequest.Builder b = SubmitFeedbackRequest.newBuilder().setEventId(eventId)
        .setPolicyId(Cluster.POLICY).setUserId(userId).setPrompt(prompt);
    if (version > 0) b.setPolicyVersion(version);
    return b;
  }

  private void submit(int user, int home, SubmitFeedbackRequest req, String kind) throws InterruptedException {
    call(user, home, "Feedback", ch -> FeedbackGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS)
        .submit(req));
    acked.add(new Acked(req.getEventId(), kind));
  }

  /** One call: the home replica first, then alternating, until one answers or the time is up. */
  private <T> T call(int user, int home, String rpc, Function<ManagedChannel, T> f) throws InterruptedException {
    long deadline = System.currentTimeMillis() + GIVE_UP_MS;
    int r = home;
    long backoff = 100;
    while (true) {
      reconnectPromptly(channels[r]);
      long start = System.currentTimeMillis();
      try {
        T out = f.apply(channels[r]);
        attempts.add(new Attempt(user, names[r], rpc, start, System.currentTimeMillis(), "OK"));
        answered.set(names[r]);
        return out;
      } catch (StatusRuntimeException e) {
        attempts.add(new Attempt(user, names[r], rpc, start, System.currentTimeMillis(),
            e.getStatus().getCode().name()));
        // A refusal is the same on any replica: retrying would only repeat it.
        if (e.getStatus().getCode() == io.grpc.Status.Code.INVALID_ARGUMENT) {
          refusals.add(rpc + ": " + e.getStatus().getDescription());
          throw new Unanswered(rpc + " refused: " + e.getStatus().getDescription(), true);
        }
      }
      if (System.currentTimeMillis() > deadline) {
        throw new Unanswered(rpc + ": no replica answered within " + GIVE_UP_MS + " ms", false);
      }
      r = 1 - r;
      Thread.sleep(backoff);
      backoff = Math.min(backoff * 2, 2_000);
    }
  }

  /**
   * What a client with a second replica does before it tries one that failed: a channel that lost
   * its server waits out an exponential reconnect backoff (seconds, growing) and fails calls fast
   * meanwhile, even once the server is back. Skip that wait and give the connection a moment, so a
   * replica that is up gets the call; one that is down still fails it at once.
   */
  private static void reconnectPromptly(ManagedChannel ch) throws InterruptedException {
    ConnectivityState s = ch.getState(true);
    if (s == ConnectivityState.READY) return;
    if (s == ConnectivityState.TRANSIENT_FAILURE) ch.resetConnectBackoff();
    boolean retried = s != ConnectivityState.TRANSIENT_FAILURE;
    // Up to 2 s for a connection in progress: on a loaded machine a just-restarted replica can take
    // over a second to complete one (the 2026-12-03 long run saw 500 ms run out).
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
    while (System.nanoTime() < end) {
      s = ch.getState(true);
      if (s == ConnectivityState.READY) return;
      // Back in TRANSIENT_FAILURE after a fresh try: refused, the replica is down.
      if (s == ConnectivityState.TRANSIENT_FAILURE && retried) return;
      if (s != ConnectivityState.TRANSIENT_FAILURE) retried = true;
      CountDownLatch changed = new CountDownLatch(1);
      ch.notifyWhenStateChanged(s, changed::countDown);
      changed.await(Math.max(1, end - System.nanoTime()), TimeUnit.NANOSECONDS);
    }
  }

  /** A call that ended the interaction: refused by the API, or unanswered by both replicas for {@link #GIVE_UP_MS}. */
  static final class Unanswered extends RuntimeException {
    final boolean refused;

    Unanswered(String m, boolean refused) {
      super(m);
      this.refused = refused;
    }
  }
}
