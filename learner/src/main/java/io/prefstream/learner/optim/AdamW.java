package io.prefstream.learner.optim;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * AdamW (Loshchilov and Hutter 2019) over named fp32 parameters, with fp32 first and second moments,
 * bias correction, decoupled weight decay, global gradient-norm clipping and a guard against
 * non-finite gradients. The arithmetic follows PyTorch's {@code torch.optim.AdamW}: per element,
 * p ← p·(1 − lr·λ); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε), with scalars formed in double and element
 * work in float in a fixed order, so a run is bit-for-bit reproducible on the JVM (Java float
 * arithmetic is strict IEEE 754; nothing is fused or reordered).
 *
 * <p>Owned by one thread (the trainer's). The state — the step count and the moments — is saved and
 * restored bit-exactly by {@link #saveState}/{@link #loadState}, which is what lets a restarted learner
 * continue with exactly the weights an uninterrupted one would have.
 */
public final class AdamW implements Optimizer {
  private final AdamWConfig config;
  private final LrSchedule schedule;
  private final List<Parameter> parameters;
  private final float[][] firstMoments;
  private final float[][] secondMoments;
  private long step;

  public AdamW(AdamWConfig config, LrSchedule schedule, List<Parameter> parameters) {
    if (config == null || schedule == null || parameters == null) {
      throw new IllegalArgumentException("AdamW needs a config, a learning-rate schedule and parameters");
    }
    if (parameters.isEmpty()) {
      throw new IllegalArgumentException("AdamW needs at least one parameter, got none");
    }
    Set<String> names = new HashSet<>();
    for (Parameter p : parameters) {
      if (!names.add(p.name())) {
        throw new IllegalArgumentException("parameter name '" + p.name()
            + "' appears twice; expected unique names");
      }
    }
    this.config = config;
    this.schedule = schedule;
    this.parameters = List.copyOf(parameters);
    this.firstMoments = new float[this.parameters.size()][];
    this.secondMoments = new float[this.parameters.size()][];
    for (int i = 0; i < this.parameters.size(); i++) {
      firstMoments[i] = new float[this.parameters.get(i).size()];
      secondMoments[i] = new float[this.parameters.get(i).size()];
    }
  }

  /**
   * One update from the gradients currently in the parameters' buffers. When any gradient is NaN or
   * infinite, nothing is touched (weights, moments, step count) and the result says
   * {@code applied=false}; the caller skips the batch. The gradient buffers are read, never modified
   * (clipping is applied on the fly).
   */
  @Override
  public StepResult step() {
    double norm = GradientNorms.globalNorm(parameters);
    if (!Double.isFinite(norm)) {
      return new StepResult(false, step, norm, 0.0, 0.0);
    }
    double scale = GradientNorms.clipScale(norm, config.maxGradNorm());
    double lr = schedule.learningRate(step);
    long t = step + 1;
    double biasCorrection1 = 1 - Math.pow(config.beta1(), t);
    double biasCorrection2 = 1 - Math.pow(config.beta2(), t);
    Constants c = new Constants(
        (float) scale,
        (float) config.beta1(), (float) (1 - config.beta1()),
        (float) config.beta2(), (float) (1 - config.beta2()),
        (float) (lr / biasCorrection1),
        (float) Math.sqrt(biasCorrection2),
        (float) config.epsilon());
    float decayFactor = (float) (1 - lr * config.weightDecay());
    for (int i = 0; i < parameters.size(); i++) {
      Parameter p = parameters.get(i);
      update(p.values(), p.grads(), firstMoments[i], secondMoments[i],
          p.decay() ? decayFactor : 1.0f, c);
    }
    step = t;
    return new StepResult(true, step, norm, scale, lr);
  }

  private record Constants(float gradScale, float beta1, float oneMinusBeta1, float beta2,
      float oneMinusBeta2, float stepSize, float biasCorrection2Sqrt, float epsilon) {}

  private static void update(float[] values, float[] grads, float[] m, float[] v, float decayFactor,
      Constants c) {
    for (int k = 0; k < values.length; k++) {
      float g = grads[k] * c.gradScale;
      float mk = c.beta1 * m[k] + c.oneMinusBeta1 * g;
      float vk = c.beta2 * v[k] + c.oneMinusBeta2 * g * g;
      m[k] = mk;
      v[k] = vk;
      float denom = (float) Math.sqrt(vk) / c.biasCorrection2Sqrt + c.epsilon;
      values[k] = values[k] * decayFactor - c.stepSize * mk / denom;
    }
  }

  /** Sets every gradient buffer to zero, ready for the next backward pass to accumulate into. */
  public void zeroGrads() {
    for (Parameter p : parameters) {
      Arrays.fill(p.grads(), 0.0f);
    }
  }

  /** Updates applied so far (also the step the learning rate of the next update is taken at). */
  @Override
  public long stepCount() {
    return step;
  }

  /** The learning rate the next update will use. */
  @Override
  public double nextLearningRate() {
    return schedule.learningRate(step);
  }

  public AdamWConfig config() {
    return config;
  }

  public LrSchedule schedule() {
    return schedule;
  }

  /** The parameters, in the order they are updated and saved. */
  public List<Parameter> parameters() {
    return parameters;
  }

  /** A copy of the first moment m of the named parameter. */
  @Override
  public float[] firstMoment(String name) {
    return firstMoments[indexOf(name)].clone();
  }

  /** A copy of the second moment v of the named parameter. */
  public float[] secondMoment(String name) {
    return secondMoments[indexOf(name)].clone();
  }

  private int indexOf(String name) {
    for (int i = 0; i < parameters.size(); i++) {
      if (parameters.get(i).name().equals(name)) {
        return i;
      }
    }
    throw new IllegalArgumentException("no parameter named '" + name + "'");
  }

  /** Writes the step count and moments in the checksummed optimiser-state format (magic PSADAMW1). */
  @Override
  public void writeState(OutputStream out) throws IOException {
    AdamWStateFile.write(out, step, AdamWStateFile.Entry.of(parameters), firstMoments, secondMoments);
  }

  /**
   * Replaces the step count and moments with those read from {@code in}. The whole input is read into
   * scratch arrays and its checksum verified before anything is replaced, so a corrupt or mismatched
   * state leaves this optimiser as it was and throws.
   */
  @Override
  public void readState(InputStream in) throws IOException {
    float[][] m = new float[parameters.size()][];
    float[][] v = new float[parameters.size()][];
    for (int i = 0; i < parameters.size(); i++) {
      m[i] = new float[parameters.get(i).size()];
      v[i] = new float[parameters.get(i).size()];
    }
    long loadedStep = AdamWStateFile.read(in, AdamWStateFile.Entry.of(parameters), m, v);
    for (int i = 0; i < parameters.size(); i++) {
      System.arraycopy(m[i], 0, firstMoments[i], 0, m[i].length);
      System.arraycopy(v[i], 0, secondMoments[i], 0, v[i].length);
    }
    step = loadedStep;
  }

  /** Writes the state to {@code file} (created or replaced) and forces it to disk before returning. */
  public void saveState(Path file) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE,
        StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
      // Not closed separately: closing it would close the channel before force().
      OutputStream out = Channels.newOutputStream(channel);
      writeState(out);
      out.flush();
      channel.force(true);
    }
  }

  /**
   * Reads the state from {@code file}, as {@link #readState} does but without a second copy of the
   * moments in memory (for FULL training the moments are twice the model): a first pass validates the
   * file and its checksum, a second reads it into place. A corrupt or mismatched file is refused by the
   * first pass with the optimiser untouched. The file must not change between the passes (checkpoints
   * are immutable once renamed into place); if it does, the second pass's checksum fails, the state
   * is reset to zero moments at step 0 (never left half-loaded) and the error says so.
   */
  @Override
  public void loadState(Path file) throws IOException {
    try (InputStream in = open(file)) {
      AdamWStateFile.read(in, AdamWStateFile.Entry.of(parameters), null, null);
    }
    try (InputStream in = open(file)) {
      step = AdamWStateFile.read(in, AdamWStateFile.Entry.of(parameters), firstMoments, secondMoments);
    } catch (IOException e) {
      for (int i = 0; i < parameters.size(); i++) {
        Arrays.fill(firstMoments[i], 0.0f);
        Arrays.fill(secondMoments[i], 0.0f);
      }
      step = 0;
      throw new IOException(file + " changed while it was loaded; the optimiser state was reset", e);
    }
  }

  private static InputStream open(Path file) throws IOException {
    return Channels.newInputStream(FileChannel.open(file, StandardOpenOption.READ));
  }
}
