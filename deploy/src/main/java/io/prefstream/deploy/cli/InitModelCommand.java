package io.prefstream.deploy.cli;

import io.prefstream.learner.sft.SftExample;
import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.io.LlamaWeights;
import io.prefstream.model.io.ModelInit;
import io.prefstream.model.io.ModelPresets;
import io.prefstream.model.safetensors.DType;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.ChatTemplate;
import io.prefstream.model.text.Content;
import io.prefstream.model.tokenizer.BpeMerge;
import io.prefstream.model.tokenizer.BpeTrainer;
import io.prefstream.model.tokenizer.ByteLevelTokenizerFiles;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream init-model}: writes a Hugging Face model directory with random weights (a
 * preset's shape, optionally resized) and a byte-level BPE tokenizer, whose merges are learned from
 * a corpus when {@code --merges} is given.
 */
@Command(
    name = "init-model",
    mixinStandardHelpOptions = true,
    description = {
      "Write a model directory with random weights (Hugging Face layout: config.json, model.safetensors,"
          + " tokenizer.json) and a byte-level tokenizer.",
      "With --merges N --corpus FILE the tokenizer learns N BPE merges from FILE (plain text, one"
          + " document per line, or JSONL in TRL's prompt-completion layout; conversations are rendered with"
          + " --chat-template, without the special tokens' text).",
      "--chat-template FILE (Jinja, as Hugging Face chat templates) is copied into the model as chat_template.jinja."
    })
public final class InitModelCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Spec CommandSpec spec;

  @Option(names = "--preset", defaultValue = "tiny", description = "Shape: tiny (hidden 64, 4 layers) or small (hidden 256, 6 layers). Default: ${DEFAULT-VALUE}.")
  String preset;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to create (must not exist or be empty).")
  Path out;

  @Option(names = "--seed", defaultValue = "0", description = "Seed of the random weights. Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--merges", defaultValue = "0", paramLabel = "N", description = "BPE merges to learn from --corpus (0: bytes only). Default: ${DEFAULT-VALUE}.")
  int merges;

  @Option(names = "--corpus", paramLabel = "FILE", description = "Text for the BPE merges.")
  Path corpus;

  @Option(names = "--dtype", defaultValue = "F32", description = "Weight type in model.safetensors: F32 or BF16. Default: ${DEFAULT-VALUE}.")
  String dtype;

  @Option(names = "--hidden", paramLabel = "C", description = "Override the preset's hidden_size.")
  Integer hidden;

  @Option(names = "--layers", paramLabel = "L", description = "Override num_hidden_layers.")
  Integer layers;

  @Option(names = "--heads", paramLabel = "H", description = "Override num_attention_heads (head_dim becomes hidden/heads).")
  Integer heads;

  @Option(names = "--kv-heads", paramLabel = "H", description = "Override num_key_value_heads.")
  Integer kvHeads;

  @Option(names = "--intermediate", paramLabel = "F", description = "Override the MLP's intermediate_size.")
  Integer intermediate;

  @Option(names = "--max-positions", paramLabel = "T", description = "Override max_position_embeddings.")
  Integer maxPositions;

  @Option(names = "--chat-template", paramLabel = "FILE",
      description = "Jinja chat template of the new model (written as chat_template.jinja; it also renders"
          + " conversational corpus lines).")
  Path chatTemplate;

  @Override
  public Integer call() throws IOException {
    if (merges < 0) throw new ParameterException(spec.commandLine(), "--merges must be >= 0, got " + merges);
    if (merges > 0 && corpus == null) throw new ParameterException(spec.commandLine(), "--merges " + merges + " needs --corpus FILE to learn them from");
    if (corpus != null && merges == 0) throw new ParameterException(spec.commandLine(), "--corpus is only read with --merges N > 0");
    DType type = switch (dtype.toUpperCase(java.util.Locale.ROOT)) {
      case "F32" -> DType.F32;
      case "BF16" -> DType.BF16;
      default -> throw new ParameterException(spec.commandLine(), "--dtype must be F32 or BF16, got " + dtype);
    };
    if (Files.exists(out) && !(Files.isDirectory(out) && isEmpty(out))) {
      throw new ParameterException(spec.commandLine(), "--out " + out + " already exists and is not an empty directory; choose a new one");
    }
    String template = null;
    if (chatTemplate != null) {
      if (!Files.isRegularFile(chatTemplate)) throw new ParameterException(spec.commandLine(), "--chat-template "
          + chatTemplate + ": no such file");
      template = Files.readString(chatTemplate);
    }
    List<BpeMerge> learned = merges > 0 ? BpeTrainer.train(readCorpus(corpus, template), merges) : List.of();
    LlamaConfig cfg = shape(ByteLevelTokenizerFiles.vocabSize(learned));
    ModelInit.writeRandomModel(out, cfg, seed, learned, type);
    if (template != null) Files.writeString(out.resolve("chat_template.jinja"), template);
    spec.commandLine().getOut().printf("wrote %s: %,d parameters (hidden %d, %d layers, %d heads, %d kv heads, vocab %d with %d merges), %s%n",
        out, LlamaWeights.parameterCount(cfg), cfg.hiddenSize(), cfg.numLayers(), cfg.numHeads(), cfg.numKvHeads(),
        cfg.vocabSize(), learned.size(), type);
    return 0;
  }

  private LlamaConfig shape(int vocab) {
    LlamaConfig p;
    try {
      p = ModelPresets.byName(preset, vocab);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), "--preset: " + e.getMessage());
    }
    int c = hidden != null ? hidden : p.hiddenSize();
    int h = heads != null ? heads : p.numHeads();
    int kv = kvHeads != null ? kvHeads : Math.min(p.numKvHeads(), h);
    if (c % h != 0) throw new ParameterException(spec.commandLine(), "hidden size " + c + " is not a multiple of " + h + " heads");
    try {
      return new LlamaConfig(vocab, c, intermediate != null ? intermediate : (hidden != null ? 8 * c / 3 / 4 * 4 : p.intermediateSize()),
          layers != null ? layers : p.numLayers(), h, kv, c / h, maxPositions != null ? maxPositions : p.maxPositions(),
          p.rmsNormEps(), p.rope(), p.tieWordEmbeddings(), p.attentionBias(), p.bosTokenId(), p.eosTokenId());
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), "invalid shape: " + e.getMessage());
    }
  }

  /**
   * Documents of a corpus file: plain lines, or JSONL examples (TRL's prompt-completion layout) as
   * prompt + completion text, conversations rendered with {@code template} with empty special tokens
   * (their text is no input for merges).
   */
  static List<String> readCorpus(Path file, String template) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException(file + ": no such corpus file");
    List<String> docs = new ArrayList<>();
    int no = 0;
    for (String line : Files.readAllLines(file)) {
      no++;
      if (line.isBlank()) continue;
      if (line.stripLeading().startsWith("{")) {
        JsonNode n;
        try {
          n = JSON.readTree(line);
        } catch (IOException e) {
          throw new IOException(file + ":" + no + ": looks like JSON but does not parse", e);
        }
        if (n.has("prompt") && n.has("completion") || n.has("messages")) {
          docs.add(document(SftExample.parse(line, file + ":" + no), template, file + ":" + no));
          continue;
        }
      }
      docs.add(line);
    }
    if (docs.isEmpty()) throw new IOException(file + ": the corpus is empty");
    return docs;
  }

  private static String document(SftExample e, String template, String where) throws IOException {
    return switch (e.prompt()) {
      case Content.Text p -> p.text() + ((Content.Text) e.completion()).text();
      case Content.Messages p -> {
        if (template == null) throw new IOException(where + ": a conversation needs --chat-template to be rendered");
        List<ChatMessage> all = new ArrayList<>(p.messages());
        all.addAll(((Content.Messages) e.completion()).messages());
        yield new ChatTemplate(template, Map.of()).render(all, false);
      }
    };
  }

  private static boolean isEmpty(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.findAny().isEmpty();
    }
  }
}
