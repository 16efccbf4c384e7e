package io.prefstream.deploy.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The model commands end to end on the tiny preset: demo-corpus → init-model → sft (LoRA and full) →
 * generate → score, and their refusals. One model and one LoRA adapter are built once for the class.
 */
class ModelCommandsTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private record Run(int exitCode, String out, String err) {}

  private static Run run(String... args) {
    CommandLine cli = Main.commandLine();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = Main.run(args, Map.of(), cli);
    return new Run(code, out.toString(), err.toString());
  }

  @TempDir static Path dir;
  static Path corpus, model, adapter, pairs;

  @BeforeAll
  static void buildModelAndAdapter() throws Exception {
    corpus = dir.resolve("corpus.jsonl");
    model = dir.resolve("model");
    adapter = dir.resolve("adapter");
    assertThat(run("demo-corpus", "--out", corpus.toString(), "--count", "200", "--seed", "3").exitCode()).isZero();
    Run init = run("init-model", "--preset", "tiny", "--out", model.toString(), "--merges", "60", "--corpus", corpus.toString(),
        "--chat-template", "../models/assistant-tiny/chat_template.jinja", "--seed", "1");
    assertThat(init.exitCode()).as(init.err()).isZero();
    assertThat(init.out()).contains("vocab 319 with 60 merges");
    Run sft = run("sft", "--model", model.toString(), "--data", corpus.toString(), "--steps", "12", "--lora-rank", "4",
        "--batch", "4", "--lr", "1e-2", "--eval", "16", "--log-every", "6", "--out", adapter.toString());
    assertThat(sft.exitCode()).as(sft.err()).isZero();
    assertThat(sft.out()).contains("step 6/12 loss", "step 12/12 loss", "held-out loss", "wrote PEFT adapter");
    pairs = dir.resolve("pairs.jsonl");
    Files.writeString(pairs, """
        {"prompt": "Where is my order?", "chosen": "Thank you for reaching out! It ships today.", "rejected": "Check the tracking page."}

        {"prompt": "I want a refund.", "chosen": "Happy to help!", "rejected": ""}
        """);
  }

  @Test
  void initModelWritesAHuggingFaceDirectoryWithLearnedMerges() throws Exception {
    for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
        "chat_template.jinja")) {
      assertThat(model.resolve(f)).isRegularFile();
    }
    JsonNode cfg = JSON.readTree(model.resolve("config.json").toFile());
    assertThat(cfg.get("vocab_size").asInt()).isEqualTo(259 + 60);
    assertThat(cfg.get("hidden_size").asInt()).isEqualTo(64);
    assertThat(JSON.readTree(model.resolve("tokenizer.json").toFile()).at("/model/merges").size()).isEqualTo(60);
  }

  @Test
  void initModelRefusesANonEmptyOutputAndMergesWithoutACorpus() {
    Run exists = run("init-model", "--out", model.toString());
    assertThat(exists.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(exists.err()).contains("already exists");
    Run noCorpus = run("init-model", "--out", dir.resolve("x").toString(), "--merges", "5");
    assertThat(noCorpus.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(noCorpus.err()).contains("--merges 5 needs --corpus");
    Run preset = run("init-model", "--out", dir.resolve("y").toString(), "--preset", "huge");
    assertThat(preset.err()).contains("unknown preset 'huge'");
  }

  @Test
  void generateIsReproducibleForASeedAndRespectsTheTokenBudget() {
    String[] args = {"generate", "--model", model.toString(), "--adapter", adapter.toString(), "--prompt", "Where is my order?",
        "--max-new-tokens", "12", "--temperature", "0.9", "--seed", "5"};
    Run a = run(args);
    Run b = run(args);
    assertThat(a.exitCode()).as(a.err()).isZero();
    assertThat(a.out()).isEqualTo(b.out()).isNotBlank();
    // 12 tokens of at most a few bytes each
    assertThat(a.out().strip().length()).isLessThan(12 * 12);
    Run two = run("generate", "--model", model.toString(), "--prompt", "Hello", "--max-new-tokens", "8", "--samples", "2",
        "--seed", "1", "--raw");
    assertThat(two.exitCode()).as(two.err()).isZero();
    assertThat(two.out().lines().filter(l -> !l.isEmpty()).count()).isGreaterThanOrEqualTo(1);
  }

  @Test
  void generateRefusesBadSamplingSettingsAndMissingModels() {
    Run badP = run("generate", "--model", model.toString(), "--prompt", "hi", "--top-p", "1.5");
    assertThat(badP.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(badP.err()).contains("top_p must be in (0, 1]");
    Run missing = run("generate", "--model", dir.resolve("nope").toString(), "--prompt", "hi");
    assertThat(missing.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(missing.err()).contains("model directory " + dir.resolve("nope").toAbsolutePath().normalize() + " does not exist");
  }

  @Test
  void holdBackNeverPrintsAStopStringOrTheReplysLeadingSpace() {
    StringWriter w = new StringWriter();
    GenerateCommand.HoldBack h = new GenerateCommand.HoldBack(new PrintWriter(w), List.of("\nUser:"), true);
    h.push(" ");
    assertThat(w.toString()).isEmpty();
    h.push("Hello.");
    h.push("\nUs");
    assertThat(w.toString()).isEqualTo("Hello.");
    h.push("er: more");
    h.finish(" Hello.");
    assertThat(w.toString()).isEqualTo("Hello.");
  }

  @Test
  void scoreWithoutAdaptersGivesZeroRewardsAndLossLn2() throws Exception {
    Run r = run("score", "--model", model.toString(), "--pairs", pairs.toString(), "--beta", "0.1", "--json");
    assertThat(r.exitCode()).as(r.err()).isZero();
    List<JsonNode> rows = parse(r.out());
    assertThat(rows).hasSize(2);
    assertThat(rows.get(0).get("line").asInt()).isEqualTo(1);
    assertThat(rows.get(1).get("line").asInt()).isEqualTo(3);
    for (JsonNode n : rows) {
      assertThat(n.get("logps/chosen").asDouble()).isEqualTo(n.get("ref_logps/chosen").asDouble()).isNegative();
      assertThat(n.get("rewards/chosen").asDouble()).isZero();
      assertThat(n.get("loss").asDouble()).isCloseTo(Math.log(2), within(1e-12));
    }
  }

  @Test
  void scoreWithAnAdapterReportsRewardsAsBetaTimesLogRatioAndTheDpoLoss() throws Exception {
    double beta = 0.5;
    Run r = run("score", "--model", model.toString(), "--adapter", adapter.toString(), "--pairs", pairs.toString(), "--beta",
        String.valueOf(beta), "--json");
    assertThat(r.exitCode()).as(r.err()).isZero();
    for (JsonNode n : parse(r.out())) {
      double rc = beta * (n.get("logps/chosen").asDouble() - n.get("ref_logps/chosen").asDouble());
      double rr = beta * (n.get("logps/rejected").asDouble() - n.get("ref_logps/rejected").asDouble());
      assertThat(rc).isNotZero();
      assertThat(n.get("rewards/chosen").asDouble()).isCloseTo(rc, within(1e-9));
      assertThat(n.get("rewards/rejected").asDouble()).isCloseTo(rr, within(1e-9));
      assertThat(n.get("loss").asDouble()).isCloseTo(Math.log1p(Math.exp(-(rc - rr))), within(1e-9));
    }
    // the adapter as reference too: policy == reference again
    Run same = run("score", "--model", model.toString(), "--adapter", adapter.toString(), "--reference-adapter",
        adapter.toString(), "--pairs", pairs.toString());
    assertThat(same.exitCode()).as(same.err()).isZero();
    assertThat(same.out()).contains("2 pairs: mean DPO loss 0.6931");
  }

  @Test
  void scoreNamesTheLineOfABadPair() throws Exception {
    Path bad = dir.resolve("bad.jsonl");
    Files.writeString(bad, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\", \"chosen\": \"b\"}\n");
    Run r = run("score", "--model", model.toString(), "--pairs", bad.toString());
    assertThat(r.exitCode()).isEqualTo(CommandLine.ExitCode.SOFTWARE);
    assertThat(r.err()).contains("bad.jsonl", "line 2: missing 'rejected'");
    Files.writeString(bad, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{oops\n");
    assertThat(run("score", "--model", model.toString(), "--pairs", bad.toString()).err()).contains("bad.jsonl", "line 2: not valid JSON");
    Run beta = run("score", "--model", model.toString(), "--pairs", pairs.toString(), "--beta", "-1");
    assertThat(beta.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(beta.err()).contains("beta");
  }

  @Test
  void fullSftWritesAModelDirectoryThatGenerates() {
    Path out = dir.resolve("full");
    Run sft = run("sft", "--model", model.toString(), "--data", corpus.toString(), "--steps", "4", "--full", "--batch", "2",
        "--eval", "0", "--out", out.toString(), "--dtype", "BF16");
    assertThat(sft.exitCode()).as(sft.err()).isZero();
    assertThat(sft.out()).contains("sft full", "wrote model directory");
    assertThat(out.resolve("model.safetensors")).isRegularFile();
    assertThat(out.resolve("tokenizer.json")).isRegularFile();
    Run gen = run("generate", "--model", out.toString(), "--prompt", "Hello", "--max-new-tokens", "4", "--temperature", "0");
    assertThat(gen.exitCode()).as(gen.err()).isZero();
  }

  @Test
  void sftRefusesConflictingModesBadDataAndAnExistingOutput() throws Exception {
    Run both = run("sft", "--model", model.toString(), "--data", corpus.toString(), "--steps", "1", "--full", "--lora-rank", "4",
        "--out", dir.resolve("z").toString());
    assertThat(both.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(both.err()).contains("mutually exclusive");
    Path bad = dir.resolve("bad-sft.jsonl");
    Files.writeString(bad, "{\"prompt\": \"hi\", \"completion\": \"hello\"}\n{\"prompt\": \"hi\", \"completion\": 3}\n");
    Run data = run("sft", "--model", model.toString(), "--data", bad.toString(), "--steps", "1", "--out", dir.resolve("z").toString());
    assertThat(data.exitCode()).isEqualTo(CommandLine.ExitCode.SOFTWARE);
    assertThat(data.err()).contains("bad-sft.jsonl:2", "'completion' must be a string or a list of messages");
    Run exists = run("sft", "--model", model.toString(), "--data", corpus.toString(), "--steps", "1", "--out", adapter.toString());
    assertThat(exists.exitCode()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(exists.err()).contains("already exists");
  }

  private static List<JsonNode> parse(String jsonl) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String line : jsonl.lines().toList()) out.add(JSON.readTree(line));
    return out;
  }
}
