/**
 * The Llama-architecture policy model, written once against {@link io.prefstream.model.backend.Backend}.
 *
 * <pre>{@code
 * LlamaModel model = LlamaModel.create(config, tensors, new CpuBackend());   // HF names
 * model.attachNewLora(new LoraConfig(16, 32, LoraConfig.ALL_TARGETS, 0), seed);
 *
 * // reference log-probs, no activations kept
 * SequenceLogProbs ref = model.logProbs(batch);                               // List<PromptResponse>
 *
 * // policy log-probs with a backward pass
 * model.zeroGrad(GradMode.LORA);
 * ForwardPass pass = model.forward(batch, GradMode.LORA, false);             // true: recompute layers
 * double[] dLoss = ...;                                                      // dL/d(sum logp) per sequence
 * pass.backward(dLoss);                                                      // accumulates into grads
 * for (Parameter p : model.parameters(GradMode.LORA)) { ... p.grads() ... p.set(newValues); }
 *
 * // the pinned reference over the same base weights (no copy), with or without its own adapter
 * LlamaModel reference = model.sibling();
 *
 * // generation
 * GenerationResult r = new Generator(model).generate(promptTokens, params, tokenText, listener);
 * }</pre>
 */
package io.prefstream.model.llama;
