#!/usr/bin/env python3
"""PyTorch peer of io.prefstream.bench.gpu.GpuBench on the same GPU.

DPO step: the SmolLM2-135M shape (random weights, no download), bf16, SDPA attention, a PEFT LoRA
adapter (r=16, alpha 32, on q/k/v/o/gate/up/down), 16 pairs of sequence 512 (chosen and rejected
share a 128-token prompt, 384 response tokens each). One step = reference log-probs (adapter
disabled, no grad) + policy forward and backward on chosen and rejected + AdamW. Policy tokens/s =
32 x 512 / median step time. Logits and log-softmax are computed for the response rows only, as
the Java side does. Decode: Hugging Face generate(), batch 1, greedy, after a 16-token prompt; the
timed span includes the prefill, as on the Java side. Prints one JSON object (and writes it to --out).
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM


def model_135m():
    cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
                      rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True,
                      attn_implementation="sdpa", torch_dtype=torch.bfloat16)
    torch.manual_seed(1)
    return LlamaForCausalLM(cfg).to(device="cuda", dtype=torch.bfloat16)


def seq_logps(model, ids, prompt_len):
    # Equal work with the Java side: LM-head logits and the fp32 log-softmax only for the rows that
    # predict response tokens (positions prompt_len-1 .. seq-2), not for every position.
    keep = ids.shape[1] - prompt_len + 1
    try:
        out = model(input_ids=ids, logits_to_keep=keep)
    except TypeError:  # transformers < 4.50 names it num_logits_to_keep
        out = model(input_ids=ids, num_logits_to_keep=keep)
    logits = out.logits[:, :-1].float()
    targets = ids[:, prompt_len:]
    return torch.gather(F.log_softmax(logits, dim=-1), 2, targets.unsqueeze(-1)).squeeze(-1).sum(-1)


def dpo_bench(pairs, seq, prompt, steps, warmup, beta=0.1):
    base = model_135m()
    lcfg = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(base, lcfg)
    for n, p in model.named_parameters():
        if p.requires_grad:
            p.data = p.data.float()  # fp32 trainable parameters, as the Java side keeps them
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    g = torch.Generator(device="cuda").manual_seed(3)
    vocab = 49152
    times = []
    torch.cuda.reset_peak_memory_stats()
    for it in range(warmup + steps):
        p_ids = torch.randint(0, vocab, (pairs, prompt), device="cuda", generator=g)
        chosen = torch.cat([p_ids, torch.randint(0, vocab, (pairs, seq - prompt), device="cuda", generator=g)], 1)
        rejected = torch.cat([p_ids, torch.randint(0, vocab, (pairs, seq - prompt), device="cuda", generator=g)], 1)
        ids = torch.cat([chosen, rejected], 0)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad(), model.disable_adapter(), torch.autocast("cuda", dtype=torch.bfloat16):
            ref = seq_logps(model, ids, prompt)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            pol = seq_logps(model, ids, prompt)
        z = beta * ((pol[:pairs] - ref[:pairs]) - (pol[pairs:] - ref[pairs:]))
        loss = -F.logsigmoid(z).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if it >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"step_ms": med * 1e3, "policy_tokens_per_s": 2 * pairs * seq / med,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30, "steps": steps}


def decode_bench(new_tokens, prompt_len):
    model = model_135m().eval()
    ids = torch.randint(0, 49152, (1, prompt_len), device="cuda")
    with torch.no_grad():
        model.generate(ids, max_new_tokens=8, do_sample=False, min_new_tokens=8)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    n = out.shape[1] - prompt_len
    return {"tokens": n, "tokens_per_s": n / dt, "prefill_timed": True}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--out")
    a = ap.parse_args()
    res = {"peer": "pytorch", "torch": torch.__version__, "device": torch.cuda.get_device_name(0),
           "dpo": dpo_bench(a.pairs, a.seq, a.prompt, a.steps, a.warmup)}
    torch.cuda.empty_cache()
    res["decode"] = decode_bench(a.decode_tokens, 16)
    line = json.dumps(res)
    print(line, flush=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
