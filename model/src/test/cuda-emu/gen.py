"""Turns the kernel resources into one C++ file for the CPU emulator (emu.h): one launcher per kernel."""
import json, re, sys
K = sys.argv[1].rstrip("/") + "/"
OUT = sys.argv[2].rstrip("/") + "/"
import os
files = sorted(f for f in os.listdir(K) if f.endswith(".cu"))
src = ['#include "emu.h"']
common = open(K + "common.cuh").read()
src.append(common)
wrappers = []
sigs = {}
for f in files:
    t = open(K + f).read().replace('#include "common.cuh"', '')
    t = t.replace("extern __shared__ float sm[];", "float* sm = emu_dyn_shared;")
    src.append(t)
    for m in re.finditer(r'extern "C" __global__ void (\w+)\s*\(([^)]*)\)', t, re.S):
        name, params = m.group(1), [p.strip() for p in m.group(2).split(",")]
        sigs[name] = params
        names = [re.split(r'[\s\*]+', p)[-1] for p in params]
        wrappers.append(f'extern "C" void emu_{name}(unsigned gx, unsigned gy, unsigned bx, {", ".join(params)}) {{ emu_launch({name}, gx, gy, bx, {", ".join(names)}); }}')
open(OUT + "all.cpp", "w").write("\n".join(src + wrappers) + "\n")
json.dump(sigs, open(OUT + "sigs.json", "w"))
