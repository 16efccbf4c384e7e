package io.prefstream.deploy.cli;

import io.prefstream.model.config.LlamaConfig;
import io.prefstream.model.cpu.CpuBackend;
import io.prefstream.model.io.HfModel;
import io.prefstream.model.io.HfModelDir;
import io.prefstream.model.llama.LlamaModel;
import io.prefstream.model.peft.PeftAdapter;
import io.prefstream.model.peft.PeftAdapters;
import io.prefstream.model.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A Hugging Face model directory loaded for a command: the model on the CPU backend and its
 * tokenizer. Shared by generate, score and sft so that they load and refuse directories alike.
 */
record LoadedModel(Path dir, LlamaModel model, Tokenizer tokenizer) implements AutoCloseable {
  static LoadedModel open(Path dir) throws IOException {
    return open(dir, new CpuBackend());
  }

  /** Loads {@code dir} onto the given compute backend. */
  static LoadedModel open(Path dir, io.prefstream.model.backend.Backend backend) throws IOException {
    if (!Files.isDirectory(dir)) throw new IOException(dir + ": no such model directory (expected config.json, model.safetensors, tokenizer.json)");
    HfModel hf = HfModelDir.load(dir);
    LlamaModel model = LlamaModel.create(hf.config(), hf.weights(), backend);
    return new LoadedModel(dir, model, hf.tokenizer());
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

  @Override
  public void close() {
    tokenizer.close();
  }
}
