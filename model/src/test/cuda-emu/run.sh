#!/usr/bin/env bash
# Runs every CUDA kernel resource on a CPU emulator (emu.h: blocks one after another, a block's
# threads as std::threads with barriers for __syncthreads and warp shuffles) against numpy float64
# references. It checks the kernels' arithmetic and indexing without a GPU; it cannot see races,
# timing or anything specific to real hardware (the conformance suite on a GPU does that).
# Needs g++ with C++20 and python3 with numpy. Usage: run.sh [build-dir]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KERNELS=$HERE/../../main/resources/io/prefstream/model/cuda/kernels
BUILD=${1:-$(mktemp -d)}
mkdir -p "$BUILD"
cp "$HERE/emu.h" "$BUILD/"
python3 "$HERE/gen.py" "$KERNELS" "$BUILD"
g++ -std=c++20 -O1 -shared -fPIC -pthread -w -o "$BUILD/libemu.so" "$BUILD/all.cpp"
python3 "$HERE/check_kernels.py" "$BUILD"
