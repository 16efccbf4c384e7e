#!/usr/bin/env bash
# Rebuilds the demo's assistant model in this folder from nothing but the prefstream CLI:
# the support corpus (seeded), a 400-merge byte-level BPE tokenizer learned from it, random
# weights, and full-weight SFT. Deterministic on the CPU backend (same code, same files).
# About 10 minutes on 2 cores. Usage: models/assistant-tiny/build.sh  (PREFSTREAM=… to use
# another launcher, e.g. one that runs an already built jar).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PREFSTREAM=${PREFSTREAM:-$ROOT/prefstream}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PREFSTREAM" demo-corpus --out "$WORK/corpus.jsonl" --count 4000 --seed 1
"$PREFSTREAM" init-model --preset tiny --hidden 192 --layers 4 --heads 6 --kv-heads 2 --intermediate 512 \
  --max-positions 256 --merges 400 --corpus "$WORK/corpus.jsonl" --chat-template "$HERE/chat_template.jinja" \
  --seed 1 --out "$WORK/base"
"$PREFSTREAM" sft --model "$WORK/base" --data "$WORK/corpus.jsonl" --full --steps 3000 --batch 16 --lr 3e-3 \
  --seed 1 --log-every 250 --out "$WORK/sft"

# generation_config.json (sampling defaults: temperature 0.8, up to 96 new tokens) is kept as checked in.
for f in config.json model.safetensors tokenizer.json tokenizer_config.json special_tokens_map.json chat_template.jinja; do
  cp "$WORK/sft/$f" "$HERE/$f"
done
echo "rebuilt $HERE"
