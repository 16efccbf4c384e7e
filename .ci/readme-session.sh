#!/usr/bin/env bash
# Runs the docs' "parts run separately" session exactly as the docs show it (the fenced bash block
# after "A first session with the parts run separately", in docs/operators.md; the README and every
# other file under docs/ are searched too, so the session may move), from the repository root, then checks
# that its last command printed the rollout status and stops what it started. Exit 0 when it ran as
# shown. Ports 9092, 50051 and 9400-9402 must be free.
set -uo pipefail
cd "$(dirname "$0")/.."
block=$(awk '/A first session with the parts run separately/{f=1} f&&/^```bash/{g=1;next} g&&/^```/{exit} g' README.md docs/*.md)
if [ -z "$block" ]; then
  echo "readme-session: neither README.md nor docs/*.md has an 'A first session with the parts run separately' bash block" >&2
  exit 1
fi
work=$(mktemp -d)
out=$work/out.txt
before=$(pgrep -f io.prefstream.deploy.cli.Main | sort)
started() { comm -13 <(printf '%s\n' "$before") <(pgrep -f io.prefstream.deploy.cli.Main | sort); }
cleanup() {
  # the session's background launchers exec java (each in its own process group): stop those it started
  for p in $(started); do kill "$p" 2>/dev/null; done
  for _ in $(seq 1 20); do [ -z "$(started)" ] && break; sleep 1; done
  for p in $(started); do kill -9 "$p" 2>/dev/null; done
  rm -rf ckpt "$work"
}
trap cleanup EXIT
printf '%s\n' "$block" > "$work/session.sh"
echo "readme-session: running the README's session:"
sed 's/^/  | /' "$work/session.sh"
( set -m; source "$work/session.sh" ) > "$out" 2>&1 &
session=$!
for _ in $(seq 1 300); do
  if grep -qE "^serving +v[0-9]" "$out" 2>/dev/null; then break; fi
  kill -0 "$session" 2>/dev/null || break
  sleep 1
done
sleep 1
if grep -qE "command not found|No such file" "$out"; then
  echo "readme-session: a command of the session is missing:" >&2
  grep -E "command not found|No such file" "$out" >&2
  exit 1
fi
if grep -qE "^policy +[a-z]" "$out" && grep -qE "^serving +v[0-9]" "$out"; then
  echo "readme-session: ran as shown; rollout status said:"
  grep -E "^(policy|mode|stable|serving|canary|reference|in memory)  +" "$out" | sed 's/^/  | /'
  exit 0
fi
echo "readme-session: the session did not print the rollout status; its output:" >&2
tail -40 "$out" >&2
exit 1
