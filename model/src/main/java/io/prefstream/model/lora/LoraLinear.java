package io.prefstream.model.lora;

import io.prefstream.model.train.Parameter;

/**
 * The low-rank update of one projection: y += scaling·(x·Aᵀ)·Bᵀ with A [r, in] and B [out, r],
 * as PEFT's {@code lora.Linear} defines it. Holds the two trainable parameters.
 */
public record LoraLinear(Parameter a, Parameter b, int rank, int in, int out, float scaling) {}
