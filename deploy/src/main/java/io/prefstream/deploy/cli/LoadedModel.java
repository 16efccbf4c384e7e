package io.prefstream.deploy.cli;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.GenerationDefaults;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.peft.PeftAdapters;
import io.prefstream.model.text.SequenceEncoder;
import io.prefstream.model.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A Hugging Face model directory loaded for a command: the model on the CPU backend and its
 * tokenizer. Shared by generate, score and sft so that they load and refuse directories alike.
 */
record LoadedModel(Path dir, LlamaModel model, Tokenizer tokenizer, GenerationDefaults generation,
    java.util.Set<Integer> stopTokenIds) implements AutoCloseable {
  static LoadedModel open(Path dir) throws IOException {
    return open(dir, new CpuBackend());
  }

  /**
   * The backend a {@code --device} value names (auto|cpu|cuda), said on the command's stderr; a
   * bad value is a usage error naming the option.
   */
  static io.prefstream.model.backend.Backend chooseDevice(String device, picocli.CommandLine cmd) {
    io.prefstream.model.backend.Backends.Choice choice;
    try {
      choice = io.prefstream.model.backend.Backends.choose(device);
    } catch (IllegalArgumentException e) {
      throw new picocli.CommandLine.ParameterException(cmd, e.getMessage());
    }
    cmd.getErr().println("device: " + choice.device() + " (" + choice.reason() + ")");
    return choice.backend();
  }

  /** Loads {@code dir} onto the given compute backend. */
  static LoadedModel open(Path dir, io.prefstream.model.backend.Backend backend) throws IOException {
    if (!Files.isDirectory(dir)) throw new IOException(dir + ": no such model directory (expected config.json, model.safetensors, tokenizer.json)");
    HfModel hf = HfModelDir.load(dir);
    LlamaModel model = LlamaModel.create(hf.config(), hf.weights(), backend);
    return new LoadedModel(dir, model, hf.tokenizer(), hf.generationDefaults(), hf.stopTokenIds());
  }

  LlamaConfig config() {
    return model.config();
  }

  /** Reads a PEFT adapter directory and checks it against this model's shape. */
  PeftAdapter readAdapter(Path adapterDir) throws IOException {
    if (!Files.isDirectory(adapterDir)) throw new IOException(adapterDir + ": no such adapter directory (expected adapter_config.json)");
    return PeftAdapters.read(adapterDir, config());
  }

  /** Attaches the adapter in {@code adapterDir}, or detaches any when it is null. */
  void useAdapter(PeftAdapter adapter) {
    if (adapter == null) {
      model.detachLora();
    } else {
      model.attachLora(adapter.config(), adapter.tensors());
    }
  }

  /**
   * The one text-to-tokens rule (TRL's) for this model, with the model's context as the max length
   * and no EOS requirement (generation and scoring).
   */
  SequenceEncoder encoder() {
    return new SequenceEncoder(tokenizer, model.config().maxPositions(), 0, false);
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
