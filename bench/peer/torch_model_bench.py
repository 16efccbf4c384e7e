#!/usr/bin/env python3
"""PyTorch peer of io.prefstream.bench.ModelBench: the same Llama computation on the CPU.

Forward: the summed log-probs of a (1 prompt token, seq-1 response tokens) sequence without
gradients. Forward+backward: the same with a LoRA adapter (rank 16, alpha 32, on q/k/v/o/gate/up/
down, PEFT's layout) and the gradient of the summed log-probs to the LoRA parameters only (base
weights frozen). Random weights in the SmolLM2-135M shape (or tiny/small). Written out here in plain
torch (RMSNorm, rotate-half RoPE, grouped-query causal attention, SwiGLU, tied head) so it needs no
transformers. Prints one JSON object with tokens/s (best of --iters after --warmup runs), peak RSS
and the BLAS/threads that ran it. Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.
"""
import argparse
import json
import math
import os
import platform
import resource
import time

import torch

SHAPES = {
    # vocab, hidden, intermediate, layers, heads, kv heads, head_dim, rope_theta
    "smollm2-135m": (49152, 576, 1536, 30, 9, 3, 64, 100000.0),
    "small": (259, 256, 688, 6, 8, 4, 32, 10000.0),
    "tiny": (259, 64, 172, 4, 4, 2, 16, 10000.0),
}
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoraLinear(torch.nn.Module):
    """y = x W^T + (alpha/r) (x A^T) B^T, W frozen; B starts at 0 as PEFT initialises it."""

    def __init__(self, inp, out, rank, alpha):
        super().__init__()
        self.weight = torch.nn.Parameter((torch.rand(out, inp) * 2 - 1) * 0.02 * math.sqrt(3), requires_grad=False)
        self.lora_a = torch.nn.Parameter(torch.empty(rank, inp)) if rank else None
        self.lora_b = torch.nn.Parameter(torch.zeros(out, rank)) if rank else None
        if rank:
            torch.nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scaling = alpha / rank if rank else 0.0

    def forward(self, x):
        y = x @ self.weight.t()
        if self.lora_a is not None:
            y = y + ((x @ self.lora_a.t()) @ self.lora_b.t()) * self.scaling
        return y


def rms_norm(x, w, eps=1e-5):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, c, f, heads, kv, hd, rank, alpha):
        super().__init__()
        self.heads, self.kv, self.hd = heads, kv, hd
        self.q_proj = LoraLinear(c, heads * hd, rank, alpha)
        self.k_proj = LoraLinear(c, kv * hd, rank, alpha)
        self.v_proj = LoraLinear(c, kv * hd, rank, alpha)
        self.o_proj = LoraLinear(heads * hd, c, rank, alpha)
        self.gate_proj = LoraLinear(c, f, rank, alpha)
        self.up_proj = LoraLinear(c, f, rank, alpha)
        self.down_proj = LoraLinear(f, c, rank, alpha)
        self.ln1 = torch.nn.Parameter(torch.ones(c), requires_grad=False)
        self.ln2 = torch.nn.Parameter(torch.ones(c), requires_grad=False)

    def forward(self, x, cos, sin, mask):
        t = x.shape[0]
        h = rms_norm(x, self.ln1)
        q = self.q_proj(h).view(t, self.heads, self.hd).transpose(0, 1)
        k = self.k_proj(h).view(t, self.kv, self.hd).transpose(0, 1)
        v = self.v_proj(h).view(t, self.kv, self.hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        g = self.heads // self.kv
        k = k.repeat_interleave(g, dim=0)
        v = v.repeat_interleave(g, dim=0)
        att = (q @ k.transpose(1, 2)) / math.sqrt(self.hd) + mask
        att = torch.softmax(att, dim=-1) @ v
        x = x + self.o_proj(att.transpose(0, 1).reshape(t, self.heads * self.hd))
        h = rms_norm(x, self.ln2)
        return x + self.down_proj(torch.nn.functional.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(torch.nn.Module):
    def __init__(self, shape, rank, alpha):
        super().__init__()
        vocab, c, f, layers, heads, kv, hd, theta = shape
        self.hd, self.theta = hd, theta
        self.embed = torch.nn.Parameter((torch.rand(vocab, c) * 2 - 1) * 0.02 * math.sqrt(3), requires_grad=False)
        self.layers = torch.nn.ModuleList(Layer(c, f, heads, kv, hd, rank, alpha) for _ in range(layers))
        self.norm = torch.nn.Parameter(torch.ones(c), requires_grad=False)

    def seq_logprob(self, tokens):
        """Sum of log p(tokens[i] | tokens[:i]) for i >= 1 (one prompt token, the rest scored)."""
        t = tokens.shape[0]
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        ang = torch.outer(torch.arange(t, dtype=torch.float32), inv)
        ang = torch.cat((ang, ang), dim=-1)
        cos, sin = ang.cos(), ang.sin()
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.embed[tokens]
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        x = rms_norm(x, self.norm)
        logits = x[:-1] @ self.embed.t()  # tied head, rows that predict a response token
        return torch.log_softmax(logits, dim=-1).gather(1, tokens[1:, None]).sum()


def best(iters, fn):
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="smollm2-135m", choices=sorted(SHAPES))
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(args.threads)
    shape = SHAPES[args.preset]
    model = Llama(shape, rank=16, alpha=32).eval()
    tokens = torch.randint(0, shape[0], (args.seq,))

    def forward():
        with torch.no_grad():
            return model.seq_logprob(tokens).item()

    lora = [p for p in model.parameters() if p.requires_grad]

    def forward_backward():
        for p in lora:
            p.grad = None
        model.seq_logprob(tokens).backward()

    # Warm both paths up before timing either, and interleave the timed runs: the first calls of a
    # fresh process (thread pools, allocator, oneDNN) are slow, and must not land in one path only.
    for _ in range(args.warmup):
        forward()
        forward_backward()
    fwd_times, fb_times = [], []
    for _ in range(args.iters):
        fwd_times.append(best(1, forward))
        fb_times.append(best(1, forward_backward))
    fwd, fb = min(fwd_times), min(fb_times)
    assert all(p.grad is not None for p in lora) and all(p.grad is None for p in model.parameters() if not p.requires_grad)
    blas = []
    try:
        from threadpoolctl import threadpool_info
        blas = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "threading_layer", "num_threads")}
                for i in threadpool_info()]
    except ImportError:
        pass
    print(json.dumps({
        "preset": args.preset, "seq": args.seq, "threads": torch.get_num_threads(),
        "forward_tokens_per_s": args.seq / fwd, "forward_s": fwd,
        "forward_backward_tokens_per_s": args.seq / fb, "forward_backward_s": fb,
        "lora_params": sum(p.numel() for p in lora),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch": torch.__version__, "python": platform.python_version(), "blas": blas,
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
    }))


if __name__ == "__main__":
    main()
