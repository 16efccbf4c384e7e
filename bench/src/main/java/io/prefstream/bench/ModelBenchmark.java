package io.prefstream.bench;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.train.GradMode;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Forward (no-grad log-probs) and forward+backward (LoRA r=16 on every projection) of one
 * sequence of {@code seq} tokens on the CPU backend with random weights. Seconds per operation;
 * tokens/s = seq / score. {@link ModelBench} prints the same figures directly.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 10)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx8g"})
public class ModelBenchmark {
  @Param({"tiny", "smollm2-135m"})
  public String preset;

  @Param({"256"})
  public int seq;

  private LlamaModel model;
  private List<PromptResponse> batch;
  private double[] grads;

  @Setup
  public void setUp() {
    LlamaConfig cfg = BenchModels.byName(preset);
    model = LlamaModel.create(cfg, BenchModels.randomWeights(cfg, 1), new CpuBackend());
    model.attachNewLora(BenchModels.lora(), 2);
    batch = BenchModels.batch(cfg, 1, seq, 3);
    grads = new double[batch.size()];
    Arrays.fill(grads, 1.0);
  }

  @Benchmark
  public SequenceLogProbs forward() {
    return model.logProbs(batch);
  }

  @Benchmark
  public SequenceLogProbs forwardBackwardLora() {
    var pass = model.forward(batch, GradMode.LORA, false);
    pass.backward(grads);
    return pass.result();
  }
}
