"""Runs every kernel on the CPU emulator against numpy float64 references (and finite differences
for attention backward). Usage: check_kernels.py BUILD_DIR (holding libemu.so and sigs.json)."""
import ctypes as C, json, math, sys
import numpy as np
lib = C.CDLL(sys.argv[1] + "/libemu.so")
sigs = json.load(open(sys.argv[1] + "/sigs.json"))
def ctype(p):
    if "*" in p: return C.c_void_p
    t = p.rsplit(" ", 1)[0].replace("const ", "").strip()
    return {"int": C.c_int, "long long": C.c_longlong, "float": C.c_float, "unsigned long long": C.c_ulonglong}[t]
def K(name, gx, gy, bx, *args):
    f = getattr(lib, "emu_" + name)
    f.argtypes = [C.c_uint, C.c_uint, C.c_uint] + [ctype(p) for p in sigs[name]]
    conv = [a.ctypes.data if isinstance(a, np.ndarray) else a for a in args]
    assert len(conv) == len(sigs[name]), (name, len(conv), len(sigs[name]))
    f(gx, gy, bx, *conv)
rng = np.random.default_rng(1)
f32 = lambda *s: rng.uniform(-1, 1, s).astype(np.float32)
i32 = lambda a: np.ascontiguousarray(a, dtype=np.int32)
def rel(a, b): return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(np.asarray(b).ravel()), 1e-30))
def ok(name, a, b, tol):
    e = rel(np.asarray(a, np.float64), np.asarray(b, np.float64)); print(f"{name:40s} rel {e:.2e}", "OK" if e < tol else "FAIL"); assert e < tol, name

# elementwise
n = 1000; x = f32(n); y = f32(n); x0 = x.copy()
K("scale_f32", 2, 1, 256, x, n, 0.5); ok("scale", x, x0 * 0.5, 1e-7)
x1 = x.copy(); K("add_f32", 2, 1, 256, x, y, n); ok("add", x, x1 + y, 1e-7)
bf = np.zeros(n, np.uint16); K("cast_f32_bf16", 2, 1, 256, bf, x, n)
back = (bf.astype(np.uint32) << 16).view(np.float32); ok("cast bf16", back, x, 5e-3)
# exact RNE check vs numpy
u = x.view(np.uint32); rne = ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype(np.uint16); assert (rne == bf).all()
rows, out = 37, 29; yb = f32(rows, out); b = f32(out); y0 = yb.copy()
K("add_bias", 4, 1, 256, yb, b, rows, out); ok("add_bias", yb, y0 + b, 1e-7)
db = f32(out); db0 = db.copy(); dy = f32(rows, out)
K("bias_backward", 1, 1, 256, db, dy, rows, out); ok("bias_backward", db, db0 + dy.sum(0), 1e-6)
src = f32(50, 33); sel = i32([3, 0, 49, 17]); dst = np.full((4, 33), np.nan, np.float32)
K("gather_rows", 1, 1, 256, dst, src, sel, 4, 33); ok("gather", dst, src[sel], 1e-9)
d2 = src.copy(); sm = f32(4, 33); K("scatter_add_rows", 1, 1, 256, d2, sm, sel, 4, 33); ref = src.copy(); ref[sel] += sm; ok("scatter", d2, ref, 1e-7)
# embedding
V, c, n = 20, 70, 55; table = f32(V, c); toks = i32(rng.integers(0, 6, n)); o = np.full((n, c), np.nan, np.float32)
K("embedding_forward", 8, 1, 256, o, table, toks, n, c); ok("embedding fwd", o, table[toks], 1e-9)
order = i32(np.argsort(toks, kind="stable")); uniq = []; offs = []
for k in range(n):
    if k == 0 or toks[order[k]] != toks[order[k - 1]]: uniq.append(toks[order[k]]); offs.append(k)
offs.append(n); uniq = i32(uniq); offs = i32(offs); dT = f32(V, c); dT0 = dT.copy(); dO = f32(n, c)
K("embedding_backward", len(uniq), (c + 255) // 256, 256, dT, dO, order, uniq, offs, len(uniq), c)
ref = dT0.copy(); np.add.at(ref, toks, dO); ok("embedding bwd", dT, ref, 1e-6)
# rmsnorm
n, c, eps = 9, 100, 1e-5; x = f32(n, c); w = f32(c); out_ = np.full((n, c), np.nan, np.float32); rstd = np.full(n, np.nan, np.float32)
K("rmsnorm_forward", n, 1, 256, out_, rstd, x, w, n, c, eps)
r = 1 / np.sqrt((x.astype(np.float64) ** 2).mean(1) + eps); ok("rmsnorm out", out_, x * r[:, None] * w, 1e-6); ok("rmsnorm rstd", rstd, r, 1e-6)
dOut = f32(n, c); dx = f32(n, c); dx0 = dx.copy()
K("rmsnorm_backward_dx", n, 1, 256, dx, dOut, x, w, rstd, n, c)
xh = x * r[:, None]; dxh = dOut * w; ref = dx0 + r[:, None] * (dxh - xh * (dxh * xh).mean(1, keepdims=True)); ok("rmsnorm dx", dx, ref, 1e-5)
rpb = 4; nb = (n + rpb - 1) // rpb; part = np.full((nb, c), np.nan, np.float32); dw = f32(c); dw0 = dw.copy()
K("rmsnorm_backward_dw_partial", 1, nb, 256, part, dOut, x, rstd, n, c, rpb)
K("rmsnorm_backward_dw_reduce", 1, 1, 256, dw, part, nb, c); ok("rmsnorm dw", dw, dw0 + (dOut * xh).sum(0), 1e-5)
# rope
n, H, hd, theta = 6, 3, 8, 10000.0; pos = i32([0, 1, 2, 7, 30, 5]); half = hd // 2; P = 64
ang = np.arange(P)[:, None] * theta ** (-2.0 * np.arange(half) / hd); cosT = np.cos(ang).astype(np.float32); sinT = np.sin(ang).astype(np.float32)
x = f32(n, H, hd); xr = x.copy()
K("rope_apply", 1, 1, 256, xr, pos, 0, cosT, sinT, n, H, hd, 1.0)
a, bb = x[..., :half], x[..., half:]; cs = cosT[pos][:, None, :]; sn = sinT[pos][:, None, :]
ok("rope fwd", xr, np.concatenate([a * cs - bb * sn, bb * cs + a * sn], -1), 1e-6)
K("rope_apply", 1, 1, 256, xr, pos, 0, cosT, sinT, n, H, hd, -1.0); ok("rope inverse", xr, x, 1e-6)
xr = x.copy(); K("rope_apply", 1, 1, 256, xr, None, 40, cosT, sinT, n, H, hd, 1.0)
cs = cosT[40:40 + n][:, None, :]; sn = sinT[40:40 + n][:, None, :]
ok("rope contiguous positions", xr, np.concatenate([a * cs - bb * sn, bb * cs + a * sn], -1), 1e-6)
# swiglu
n = 300; g = f32(n) * 6; u = f32(n); h = np.full(n, np.nan, np.float32)
K("swiglu_forward", 2, 1, 256, h, g, u, n); sig = 1 / (1 + np.exp(-g.astype(np.float64))); ok("swiglu", h, g * sig * u, 1e-6)
dh = f32(n); dg = np.full(n, np.nan, np.float32); du = dg.copy(); K("swiglu_backward", 2, 1, 256, dg, du, dh, g, u, n)
ok("swiglu dg", dg, dh * u * sig * (1 + g * (1 - sig)), 1e-6); ok("swiglu du", du, dh * g * sig, 1e-6)
# attention pipeline with numpy GEMMs in the layout CudaBackend uses
lens = [5, 9, 1]; B = len(lens); T = max(lens); Hq, KV, hd = 4, 2, 8; grp = Hq // KV; start = i32(np.cumsum([0] + lens[:-1])); ln = i32(lens); N = sum(lens)
q = f32(N, Hq * hd); k = f32(N, KV * hd); v = f32(N, KV * hd); scale = 1 / math.sqrt(hd)
def pack(src, Hh):
    dst = np.full((B, Hh, T, hd), np.nan, np.float32); K("attn_pack", 4, 1, 256, dst, src, start, ln, B, Hh, T, hd); return dst
qg, kg, vg = pack(q, Hq), pack(k, KV), pack(v, KV)
S = np.einsum("bhtd,bhsd->bhts", qg, np.repeat(kg, grp, 1)).astype(np.float32)
lse = np.full((N, Hq), np.nan, np.float32); Pm = S.copy()
K("attn_softmax_forward", B * Hq * T, 1, 128, Pm, lse, start, ln, B, Hq, T, scale)
O = np.einsum("bhts,bhsd->bhtd", Pm, np.repeat(vg, grp, 1)).astype(np.float32)
out_ = np.full((N, Hq * hd), np.nan, np.float32); K("attn_unpack", 4, 1, 256, out_, O, start, ln, B, Hq, T, hd)
def ref_attn(q, k, v):
    o = np.zeros((N, Hq * hd)); L = np.zeros((N, Hq))
    for b in range(B):
        s0 = start[b]
        for h in range(Hq):
            kh = h // grp
            Q = q[s0:s0 + lens[b], h * hd:(h + 1) * hd].astype(np.float64); Kk = k[s0:s0 + lens[b], kh * hd:(kh + 1) * hd]; Vv = v[s0:s0 + lens[b], kh * hd:(kh + 1) * hd]
            sc = Q @ Kk.T * scale; sc = np.where(np.tril(np.ones_like(sc)) > 0, sc, -np.inf)
            m = sc.max(1, keepdims=True); e = np.exp(sc - m); L[s0:s0 + lens[b], h] = (m + np.log(e.sum(1, keepdims=True)))[:, 0]
            o[s0:s0 + lens[b], h * hd:(h + 1) * hd] = (e / e.sum(1, keepdims=True)) @ Vv
    return o, L
ro, rl = ref_attn(q, k, v); ok("attention out", out_, ro, 1e-6); ok("attention lse", lse, rl, 1e-6)
# backward: finite differences of L = sum(R * out)
R = f32(N, Hq * hd); dog = pack(R, Hq)
S2 = np.einsum("bhtd,bhsd->bhts", qg, np.repeat(kg, grp, 1)).astype(np.float32)
dP = np.einsum("bhtd,bhsd->bhts", dog, np.repeat(vg, grp, 1)).astype(np.float32)
K("attn_softmax_backward", B * Hq * T, 1, 128, S2, dP, lse, R, out_, start, ln, B, Hq, T, hd, scale)
dQg = np.einsum("bhts,bhsd->bhtd", dP, np.repeat(kg, grp, 1))
dKg = np.einsum("bhts,bhtd->bhsd", dP, qg).reshape(B, KV, grp, T, hd).sum(2)
dVg = np.einsum("bhts,bhtd->bhsd", S2, dog).reshape(B, KV, grp, T, hd).sum(2)
def unpack(src, Hh):
    dst = np.full((N, Hh * hd), np.nan, np.float32); K("attn_unpack", 4, 1, 256, dst, np.ascontiguousarray(src, np.float32), start, ln, B, Hh, T, hd); return dst
dq, dk, dv = unpack(dQg, Hq), unpack(dKg, KV), unpack(dVg, KV)
def fd(which, base):
    g = np.zeros(base.shape); hstep = 1e-3
    for i in range(base.size):
        xp = base.astype(np.float64).copy().ravel(); xm = xp.copy(); xp[i] += hstep; xm[i] -= hstep
        args = [q, k, v]; args[which] = xp.reshape(base.shape); lp = (R * ref_attn(*args)[0]).sum()
        args[which] = xm.reshape(base.shape); lm = (R * ref_attn(*args)[0]).sum(); g.ravel()[i] = (lp - lm) / (2 * hstep)
    return g
ok("attention dq", dq, fd(0, q), 1e-5); ok("attention dk", dk, fd(1, k), 1e-5); ok("attention dv", dv, fd(2, v), 1e-5)
# kv cache + decode
cap, kd = 64, KV * hd; kc = np.zeros((cap, kd), np.float32); vc = np.zeros((cap, kd), np.float32)
L0 = lens[1]; kk = k[start[1]:start[1] + L0]; vv = v[start[1]:start[1] + L0]
K("kv_append", 1, 1, 256, kc, vc, np.ascontiguousarray(kk), np.ascontiguousarray(vv), 0, L0, kd)
past = 4; nq = L0 - past; od = np.full((nq, Hq * hd), np.nan, np.float32)
K("attn_decode", Hq, nq, 128, od, np.ascontiguousarray(q[start[1] + past:start[1] + L0]), kc, vc, past, nq, Hq, KV, hd, scale)
ok("decode attention", od, ro[start[1] + past:start[1] + L0], 1e-6)
# batched append + decode attention: per-sequence caches (a pointer table), different past lengths,
# a prefill chunk from position 0, a chunk after a prefix, decode rows, empty sequences; GQA 6/2
Hb, KVb, hdb = 6, 2, 16; kdb, qdb = KVb * hdb, Hb * hdb; scb = 1 / math.sqrt(hdb)
pastb = [0, 37, 5, 20, 12, 3]; nb = [9, 1, 0, 1, 4, 0]; capb = [64, 64, 128, 64, 64, 64]
rsb = i32(np.cumsum([0] + nb)); Rb = int(rsb[-1])
qb, kb, vb = f32(Rb, qdb), f32(Rb, kdb), f32(Rb, kdb)
prefk = [f32(p_, kdb) for p_ in pastb]; prefv = [f32(p_, kdb) for p_ in pastb]
def caches():
    kcs, vcs = [], []
    for s_ in range(len(nb)):
        kc_ = np.full((capb[s_], kdb), np.nan, np.float32); vc_ = kc_.copy()  # unfilled positions poisoned
        kc_[:pastb[s_]] = prefk[s_]; vc_[:pastb[s_]] = prefv[s_]; kcs.append(kc_); vcs.append(vc_)
    return kcs, vcs
kcsb, vcsb = caches()
ptrs = lambda arrs: np.array([a_.ctypes.data for a_ in arrs], np.uint64)
outb = np.full((Rb, qdb), np.nan, np.float32)
K("attn_append_decode_batch", Hb, Rb, 128, outb, qb, kb, vb, ptrs(kcsb), ptrs(vcsb), i32(pastb), rsb, len(nb), Hb, KVb, hdb, scb)
refb = np.zeros((Rb, qdb))
for s_ in range(len(nb)):
    Ka = np.concatenate([prefk[s_], kb[rsb[s_]:rsb[s_ + 1]]]).astype(np.float64); Va = np.concatenate([prefv[s_], vb[rsb[s_]:rsb[s_ + 1]]]).astype(np.float64)
    for i_ in range(nb[s_]):
        r_ = rsb[s_] + i_; keys_ = pastb[s_] + i_ + 1
        for h_ in range(Hb):
            kv_ = h_ // (Hb // KVb); qh = qb[r_, h_ * hdb:(h_ + 1) * hdb].astype(np.float64)
            sc_ = Ka[:keys_, kv_ * hdb:(kv_ + 1) * hdb] @ qh * scb; e_ = np.exp(sc_ - sc_.max())
            refb[r_, h_ * hdb:(h_ + 1) * hdb] = (e_ / e_.sum()) @ Va[:keys_, kv_ * hdb:(kv_ + 1) * hdb]
ok("batched append+attend out", outb, refb, 1e-6)
for s_ in range(len(nb)):
    p_, e_ = pastb[s_], pastb[s_] + nb[s_]
    assert (kcsb[s_][:p_] == prefk[s_]).all() and (vcsb[s_][:p_] == prefv[s_]).all(), f"sequence {s_}: prefix changed"
    assert (kcsb[s_][p_:e_] == kb[rsb[s_]:rsb[s_ + 1]]).all() and (vcsb[s_][p_:e_] == vb[rsb[s_]:rsb[s_ + 1]]).all(), f"sequence {s_}: rows not appended"
    assert np.isnan(kcsb[s_][e_:]).all() and np.isnan(vcsb[s_][e_:]).all(), f"sequence {s_}: wrote past its rows"
print("batched append: every sequence's rows at its own positions, nothing else written OK")
# and bit-identical to kv_append + attn_decode one sequence at a time
kcs1, vcs1 = caches(); out1 = np.full((Rb, qdb), np.nan, np.float32)
for s_ in range(len(nb)):
    if nb[s_] == 0: continue
    sl = slice(rsb[s_], rsb[s_ + 1]); o_ = np.full((nb[s_], qdb), np.nan, np.float32)
    K("kv_append", 1, 1, 256, kcs1[s_], vcs1[s_], np.ascontiguousarray(kb[sl]), np.ascontiguousarray(vb[sl]), pastb[s_], nb[s_], kdb)
    K("attn_decode", Hb, nb[s_], 128, o_, np.ascontiguousarray(qb[sl]), kcs1[s_], vcs1[s_], pastb[s_], nb[s_], Hb, KVb, hdb, scb)
    out1[sl] = o_
assert np.array_equal(outb, out1), "batched attention differs from attn_decode per sequence"
print("batched append+attend bit-identical to kv_append + attn_decode per sequence OK")
# log-softmax gather
rows, vocab, r0 = 7, 300, 3; M = rows + r0; logits = f32(rows, vocab) * 4; tg = i32(rng.integers(0, vocab, M))
logp = np.full(M, np.nan, np.float32); lse2 = np.full(M, np.nan, np.float32)
K("lsm_forward", rows, 1, 512, logp, lse2, logits, tg, rows, vocab, r0)
Ld = logits.astype(np.float64); rl2 = np.log(np.exp(Ld - Ld.max(1, keepdims=True)).sum(1)) + Ld.max(1)
ok("lsm lse", lse2[r0:], rl2, 1e-6); ok("lsm logp", logp[r0:], Ld[np.arange(rows), tg[r0:]] - rl2, 1e-6)
gg = f32(M); lg = logits.copy(); K("lsm_backward", rows, 1, 512, lg, gg, lse2, tg, rows, vocab, r0)
p = np.exp(Ld - rl2[:, None]); oh = np.zeros_like(p); oh[np.arange(rows), tg[r0:]] = 1; ok("lsm backward", lg, gg[r0:, None] * (oh - p), 1e-6)
sums = np.full(3, np.nan, np.float32); lp = f32(20); mk = (rng.random(20) > 0.5).astype(np.float32); st = i32([0, 5, 12]); le = i32([5, 7, 8])
K("masked_seq_sum", 3, 1, 256, sums, lp, mk, st, le, 3); ok("masked sums", sums, [(lp * mk)[s:s + l].sum() for s, l in zip(st, le)], 1e-6)
# adamw + sumsq
n = 5000; x = f32(n); part = np.zeros(256, np.float64); K("sumsq_partial", 256, 1, 256, part, x, n)
assert abs(part.sum() - (x.astype(np.float64) ** 2).sum()) < 1e-9; print("sumsq OK")
# AdamW: bit-identical to the learner's float arithmetic (numpy float32 ops round per operation)
n = 3000; p32 = f32(n); g32 = f32(n) * 3; m32 = f32(n); v32 = np.abs(f32(n))
t, lr, b1, b2, eps, wd, clip = 3, 1e-3, 0.9, 0.999, 1e-8, 0.01, 0.37
F = np.float32
co = [F(clip), F(b1), F(1 - b1), F(b2), F(1 - b2), F(lr / (1 - b1 ** t)), F(math.sqrt(1 - b2 ** t)), F(eps), F(1 - lr * wd)]
gk = g32 * co[0]; mk = co[1] * m32 + co[2] * gk; vk = co[3] * v32 + co[4] * gk * gk
pref = p32 * co[8] - co[5] * mk / (np.sqrt(vk) / co[6] + co[7])
pp, mm, vv = p32.copy(), m32.copy(), v32.copy()
K("adamw_update", 12, 1, 256, pp, g32, mm, vv, n, *[float(c) for c in co])
assert (pp == pref).all() and (mm == mk).all() and (vv == vk).all(), "adamw not bit-identical"
print("adamw bit-identical OK")
# sampling (128 threads here: the kernel works for any power-of-two block; the backend launches 1024)
vocab = 5000; lg = f32(vocab) * 10; outt = np.zeros(1, np.int32)
K("sample_token", 1, 1, 128, outt, lg, vocab, 0.0, 0, 1.0, 1, 0); assert outt[0] == np.argmax(lg); print("argmax OK")
top5 = set(np.argsort(-lg)[:5].tolist()); seen = set()
for step in range(8):
    K("sample_token", 1, 1, 128, outt, lg, vocab, 1.5, 5, 1.0, 42, step); assert int(outt[0]) in top5, outt[0]; seen.add(int(outt[0]))
print("top-k sampling OK, tokens seen", sorted(seen))
lg2 = np.log(np.array([0.5, 0.3, 0.15, 0.05] + [1e-9] * 60, np.float32)); cnt = {}
for step in range(8):
    K("sample_token", 1, 1, 128, outt, lg2, len(lg2), 1.0, 0, 0.7, 7, step); cnt[int(outt[0])] = cnt.get(int(outt[0]), 0) + 1
print("top-p 0.7 counts", cnt); assert set(cnt) <= {0, 1}
# the same seed and step give the same token
K("sample_token", 1, 1, 128, outt, lg2, len(lg2), 1.0, 0, 1.0, 9, 3); first = int(outt[0])
K("sample_token", 1, 1, 128, outt, lg2, len(lg2), 1.0, 0, 1.0, 9, 3); assert int(outt[0]) == first
print("all kernels match their references on the CPU emulator")
