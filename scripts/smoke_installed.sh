#!/usr/bin/env bash
# The package as users get it: build the wheel, install it (not editable) into a fresh virtual
# environment, and use it from a folder outside the checkout: the first screen, `python -m tui`,
# `llmtui models --json`, a download -> list -> chat -> history of a catalogue model through a loopback
# Hub, and the data files the wheel must carry.
# Needs the dev environment (.venv, for the loopback Hub) and the test model (`make models`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dev="$root/.venv/bin/python"
model="$root/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
work=$(mktemp -d)
hub_pid=
cleanup() { [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$dev" -m pip wheel -q --no-deps -w "$work/dist" "$root"
"$dev" -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q "$work"/dist/llmtui-*.whl

cd "$work"  # nothing of the checkout on sys.path from here on
export LLMTUI_CONFIG_DIR="$work/config" LLMTUI_DATA_DIR="$work/data" LLMTUI_CACHE_DIR="$work/cache"
export HF_HOME="$work/hf" HF_HUB_CACHE="$work/hf/hub"
unset HF_TOKEN HF_HUB_OFFLINE

echo "smoke: $("$py" -m tui --version) from $("$py" -c 'import tui; print(tui.__file__)')"
"$py" "$root/scripts/smoke_first_screen.py"
"$work/venv/bin/llmtui" models --json | "$py" -c 'import json, sys; assert json.load(sys.stdin) == []'

# TinyLlama's TheBloke repository on a loopback Hub, its Q4_K_M file played by the test model.
repo=TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF
mkdir "$work/served" && ln -s "$model" "$work/served/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"
(cd "$root" && exec "$dev" -m tests.fakehub --repo "$repo" \
  --serve "$work/served/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf") > "$work/hub.url" &
hub_pid=$!
for _ in $(seq 50); do [ -s "$work/hub.url" ] && break; sleep 0.1; done
export HF_ENDPOINT=$(head -1 "$work/hub.url")

"$work/venv/bin/llmtui" download TinyLlama/TinyLlama-1.1B-Chat-v1.0 --quant Q4_K_M --yes
"$work/venv/bin/llmtui" models --json | "$py" -c '
import json, sys
files = json.load(sys.stdin)
assert [f["repo_id"] for f in files] == ["TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"], files'
"$work/venv/bin/llmtui" chat TinyLlama/TinyLlama-1.1B-Chat-v1.0 --prompt "Say hello." --max-tokens 8 \
  --seed 1 --json | "$py" -c '
import json, sys
answer = json.load(sys.stdin)
assert answer["answer"].strip(), answer
print("smoke: chat answered", repr(answer["answer"][:40]))'
"$work/venv/bin/llmtui" history list --json | "$py" -c '
import json, sys
kept = json.load(sys.stdin)
assert len(kept) == 1, kept
print("smoke: the chat is in the history")'
"$py" -c 'from importlib.resources import files
assert files("tui.core.engine").joinpath("quant_check.txt").read_text().strip()'
echo "smoke: the installed package works"
