package io.prefstream.learner.sft;

import io.prefstream.learner.optim.AdamW;
import io.prefstream.learner.optim.AdamWConfig;
import io.prefstream.learner.optim.LrSchedule;
import io.prefstream.learner.optim.StepResult;
import io.prefstream.model.backend.Backend;
import io.prefstream.model.llama.ForwardPass;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.text.ChatTemplateException;
import io.prefstream.model.text.SequenceEncoder;
import io.prefstream.model.tokenizer.Tokenizer;
import io.prefstream.model.train.GradMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Next-token supervised fine-tuning: each step takes a batch of prompt-completion examples, built by
 * {@link SequenceEncoder} as TRL's SFT trainer builds them, computes the mean negative log-likelihood
 * of the completion tokens (EOS included; prompt tokens are context only), back-propagates to the LoRA adapter or to every weight,
 * and applies one AdamW update. The examples are visited in a seeded random order, reshuffled each
 * epoch, so a run is reproducible.
 *
 * <p>AdamW works on host arrays: before each update the gradients are downloaded from the model's
 * backend, after it the new values are uploaded (which also refreshes any layout the backend derives
 * from a weight). That keeps the trainer independent of the backend at the cost of two copies of the
 * trainable parameters per step, small next to a forward and backward pass.
 */
public final class SftTrainer {
  /** Told after every optimiser step. */
  @FunctionalInterface
  public interface StepListener {
    void onStep(StepStats stats);
  }

  /** One step's figures: mean loss per reply token, tokens in the batch, gradient norm, learning rate. */
  public record StepStats(int step, double loss, int tokens, double gradNorm, double learningRate, boolean applied) {}

  private final LlamaModel model;
  private final SftConfig config;
  private final List<PromptResponse> examples;
  private final List<Bridge> params = new ArrayList<>();
  private final AdamW optimizer;
  private final SplittableRandom random;
  private int[] order;
  private int cursor;
  private int step;

  /** A model parameter with the host copies AdamW updates. */
  private record Bridge(io.prefstream.model.train.Parameter model, io.prefstream.learner.optim.Parameter host) {}

  /**
   * Prepares a run: tokenizes {@code data} (completions longer than the model's context are cut;
   * examples whose prompt fills it are left out) and, in LORA mode, attaches a fresh adapter to {@code model}.
   */
  public SftTrainer(LlamaModel model, Tokenizer tokenizer, List<SftExample> data, SftConfig config) {
    if (data.isEmpty()) throw new IllegalArgumentException("no training examples");
    this.model = model;
    this.config = config;
    this.examples = tokenize(tokenizer, data, model.config().maxPositions());
    if (config.mode() == GradMode.LORA) model.attachNewLora(config.lora(), config.seed());
    List<io.prefstream.learner.optim.Parameter> hosts = new ArrayList<>();
    for (io.prefstream.model.train.Parameter p : model.parameters(config.mode())) {
      float[] grads = new float[p.numel()];
      var host = new io.prefstream.learner.optim.Parameter(p.name(), p.values(), grads);
      params.add(new Bridge(p, host));
      hosts.add(host);
    }
    AdamWConfig adam = new AdamWConfig(0.9, 0.999, 1e-8, config.weightDecay(), config.maxGradNorm());
    LrSchedule schedule = config.steps() > config.warmupSteps()
        ? new LrSchedule.WarmupCosine(config.learningRate(), config.warmupSteps(), config.steps(), config.learningRate() / 10)
        : new LrSchedule.WarmupConstant(config.learningRate(), config.warmupSteps());
    this.optimizer = new AdamW(adam, schedule, hosts);
    this.random = new SplittableRandom(config.seed());
    this.order = shuffled(examples.size());
  }

  static List<PromptResponse> tokenize(Tokenizer tok, List<SftExample> data, int maxPositions) {
    SequenceEncoder encoder = new SequenceEncoder(tok, maxPositions, 0, true);
    List<PromptResponse> out = new ArrayList<>(data.size());
    String firstRefusal = null;
    for (SftExample e : data) {
      try {
        out.add(encoder.encode(e.prompt(), e.completion()));
      } catch (ChatTemplateException ex) {
        throw ex; // a template that refuses the data refuses all of it: say so rather than train on the rest
      } catch (IllegalArgumentException ex) {
        if (firstRefusal == null) firstRefusal = ex.getMessage(); // e.g. a prompt longer than the context
      }
    }
    if (out.isEmpty()) throw new IllegalArgumentException("no example fits the model: " + firstRefusal);
    return out;
  }

  private int[] shuffled(int n) {
    int[] o = new int[n];
    for (int i = 0; i < n; i++) o[i] = i;
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = o[i];
      o[i] = o[j];
      o[j] = t;
    }
    return o;
  }

  private List<PromptResponse> nextBatch() {
    List<PromptResponse> batch = new ArrayList<>(config.batchSize());
    for (int i = 0; i < Math.min(config.batchSize(), examples.size()); i++) {
      if (cursor == order.length) {
        order = shuffled(examples.size());
        cursor = 0;
      }
      batch.add(examples.get(order[cursor++]));
    }
    return batch;
  }

  /** Runs the configured number of steps; returns the last step's figures. */
  public StepStats train(StepListener listener) {
    StepStats last = null;
    while (step < config.steps()) {
      last = step();
      if (listener != null) listener.onStep(last);
    }
    return last;
  }

  /** One optimiser step on the next batch. A non-finite loss or gradient skips the update. */
  public StepStats step() {
    List<PromptResponse> batch = nextBatch();
    model.zeroGrad(config.mode());
    ForwardPass pass = model.forward(batch, config.mode(), false);
    SequenceLogProbs lp = pass.result();
    int tokens = 0;
    double sum = 0;
    for (int s = 0; s < lp.size(); s++) {
      tokens += lp.tokenCounts()[s];
      sum += lp.sum(s);
    }
    double loss = -sum / tokens;
    double[] d = new double[lp.size()];
    Arrays.fill(d, -1.0 / tokens); // d(mean NLL)/d(sequence log-prob sum)
    pass.backward(d);
    Backend be = model.backend();
    for (Bridge b : params) be.download(b.model().grad(), b.host().grads());
    StepResult r = Double.isFinite(loss) ? optimizer.step() : null;
    boolean applied = r != null && r.applied();
    if (applied) for (Bridge b : params) b.model().set(b.host().values());
    step++;
    return new StepStats(step, loss, tokens, r == null ? Double.NaN : r.gradNorm(), r == null ? 0 : r.learningRate(), applied);
  }

  /** Mean loss per reply token over {@code data}, without training (a held-out check). */
  public static double evaluate(LlamaModel model, Tokenizer tokenizer, List<SftExample> data, int batchSize) {
    List<PromptResponse> all = tokenize(tokenizer, data, model.config().maxPositions());
    double sum = 0;
    long tokens = 0;
    for (int i = 0; i < all.size(); i += batchSize) {
      SequenceLogProbs lp = model.logProbs(all.subList(i, Math.min(all.size(), i + batchSize)));
      for (int s = 0; s < lp.size(); s++) {
        sum += lp.sum(s);
        tokens += lp.tokenCounts()[s];
      }
    }
    return -sum / tokens;
  }

  public int stepsDone() {
    return step;
  }

  public SftConfig config() {
    return config;
  }
}
