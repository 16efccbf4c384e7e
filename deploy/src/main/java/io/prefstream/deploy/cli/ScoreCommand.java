package io.prefstream.deploy.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.learner.objective.PairObjective;
import io.prefstream.learner.offline.JsonlExamples;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.llama.SequenceLogProbs;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.text.SequenceEncoder;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream score}: for each preference pair of a JSONL file, the summed log-probs of the
 * chosen and the rejected reply under the policy (model + {@code --adapter}) and the reference (model
 * + {@code --reference-adapter}, or the bare model), the implicit rewards β·(log π − log π_ref), and
 * DPO's loss −log σ(β·margin). The file is read by {@link JsonlExamples} and the sequences built by
 * {@link SequenceEncoder} exactly as {@code train} builds them (TRL's rule: standard text as it stands,
 * conversations through the model's chat template, EOS appended to text completions), so a score
 * measures what training optimises.
 */
@Command(
    name = "score",
    mixinStandardHelpOptions = true,
    description = {
      "Score preference pairs: policy and reference log-probs, implicit rewards and DPO loss per pair.",
      "--pairs is JSONL in TRL's preference layout, one {\"prompt\": …, \"chosen\": …, \"rejected\": …} per"
          + " line: strings (standard) or lists of {\"role\", \"content\"} messages (conversational)."
    })
public final class ScoreCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Spec CommandSpec spec;

  @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto",
      description = "Compute backend: cuda, cpu, or auto (cuda when a GPU and the CUDA libraries are found, else cpu;"
          + " it says which on stderr). Default: ${DEFAULT-VALUE}.")
  String device;

  @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model directory (the base).")
  Path model;

  @Option(names = "--adapter", paramLabel = "DIR", description = "PEFT adapter of the policy (default: the bare model).")
  Path adapter;

  @Option(names = "--reference-adapter", paramLabel = "DIR", description = "PEFT adapter of the reference (default: the bare model).")
  Path referenceAdapter;

  @Option(names = "--pairs", required = true, paramLabel = "FILE", description = "JSONL file of preference pairs.")
  Path pairs;

  @Option(names = "--beta", defaultValue = "0.1", description = "DPO's β. Default: ${DEFAULT-VALUE}.")
  double beta;

  @Option(names = "--json", description = "One JSON object per pair instead of a table.")
  boolean json;

  @Option(names = "--batch", defaultValue = "16", description = "Sequences per forward pass. Default: ${DEFAULT-VALUE}.")
  int batch;

  /** One pair as read from the file, with its line number. */
  record Pair(int line, TrainingBatch.Pair pair) {}

  /** The scores of one pair. */
  record Scored(Pair pair, double policyChosen, double policyRejected, double refChosen, double refRejected, double beta,
      double loss) {
    double rewardChosen() {
      return beta * (policyChosen - refChosen);
    }

    double rewardRejected() {
      return beta * (policyRejected - refRejected);
    }

    double margin() {
      return rewardChosen() - rewardRejected();
    }
  }

  @Override
  public Integer call() throws IOException {
    if (batch < 1) throw new ParameterException(spec.commandLine(), "--batch must be >= 1, got " + batch);
    PairObjective dpo;
    try {
      dpo = PairObjective.of("sigmoid", beta, 0);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), "--beta: " + e.getMessage());
    }
    List<Pair> input = readPairs(pairs);
    List<Scored> scored = new ArrayList<>();
    ModelDirectory.require(spec.commandLine(), "--model", model);
    try (LoadedModel m = LoadedModel.open(model, LoadedModel.chooseDevice(device, spec.commandLine()))) {
      PeftAdapter policy = adapter == null ? null : m.readAdapter(adapter);
      PeftAdapter reference = referenceAdapter == null ? null : m.readAdapter(referenceAdapter);
      List<PromptResponse> seqs = new ArrayList<>();
      SequenceEncoder encoder = m.encoder();
      for (Pair p : input) {
        try {
          seqs.add(encoder.encode(p.pair().prompt(), p.pair().chosen()));
          seqs.add(encoder.encode(p.pair().prompt(), p.pair().rejected()));
        } catch (IllegalArgumentException e) {
          throw new IOException(pairs + ":" + p.line() + ": " + e.getMessage(), e);
        }
      }
      m.useAdapter(reference);
      double[] ref = logProbs(m, seqs);
      m.useAdapter(policy);
      double[] pol = logProbs(m, seqs);
      for (int i = 0; i < input.size(); i++) {
        double h = (pol[2 * i] - ref[2 * i]) - (pol[2 * i + 1] - ref[2 * i + 1]);
        scored.add(new Scored(input.get(i), pol[2 * i], pol[2 * i + 1], ref[2 * i], ref[2 * i + 1], beta, dpo.pairLoss(h)));
      }
    }
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      for (Scored s : scored) out.println(JSON.writeValueAsString(toJson(s)));
    } else {
      printTable(out, scored);
    }
    out.flush();
    return 0;
  }

  private double[] logProbs(LoadedModel m, List<PromptResponse> seqs) {
    double[] out = new double[seqs.size()];
    for (int i = 0; i < seqs.size(); i += batch) {
      SequenceLogProbs lp = m.model().logProbs(seqs.subList(i, Math.min(seqs.size(), i + batch)));
      for (int s = 0; s < lp.size(); s++) out[i + s] = lp.sum(s);
    }
    return out;
  }

  static ObjectNode toJson(Scored s) {
    ObjectNode n = JSON.createObjectNode();
    n.put("line", s.pair().line());
    n.put("logps/chosen", s.policyChosen());
    n.put("logps/rejected", s.policyRejected());
    n.put("ref_logps/chosen", s.refChosen());
    n.put("ref_logps/rejected", s.refRejected());
    n.put("rewards/chosen", s.rewardChosen());
    n.put("rewards/rejected", s.rewardRejected());
    n.put("rewards/margins", s.margin());
    n.put("loss", s.loss());
    return n;
  }

  private static void printTable(PrintWriter out, List<Scored> scored) {
    out.printf(Locale.ROOT, "%5s %11s %11s %11s %11s %9s %9s %9s %8s%n", "line", "logp(c)", "logp(r)", "ref(c)", "ref(r)",
        "reward(c)", "reward(r)", "margin", "loss");
    double loss = 0;
    int correct = 0;
    for (Scored s : scored) {
      out.printf(Locale.ROOT, "%5d %11.3f %11.3f %11.3f %11.3f %9.4f %9.4f %9.4f %8.4f%n", s.pair().line(), s.policyChosen(),
          s.policyRejected(), s.refChosen(), s.refRejected(), s.rewardChosen(), s.rewardRejected(), s.margin(), s.loss());
      loss += s.loss();
      if (s.margin() > 0) correct++;
    }
    out.printf(Locale.ROOT, "%d pairs: mean DPO loss %.4f, reward accuracy %.3f%n", scored.size(), loss / scored.size(),
        (double) correct / scored.size());
  }

  /** The pairs of a JSONL file (the reader train uses); errors name the file and line. */
  static List<Pair> readPairs(Path file) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException(file + ": no such pairs file");
    JsonlExamples.Result data = JsonlExamples.read(file, false);
    if (!data.thumbs().isEmpty()) {
      throw new IOException(file + ": " + data.thumbs().size() + " unpaired (prompt/completion/label) lines; score needs"
          + " preference pairs");
    }
    if (data.pairs().isEmpty()) throw new IOException(file + ": no pairs; expected JSON lines with prompt, chosen and rejected");
    List<Pair> out = new ArrayList<>();
    for (int i = 0; i < data.pairs().size(); i++) out.add(new Pair(data.pairLines().get(i), data.pairs().get(i)));
    return out;
  }
}
