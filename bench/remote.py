"""Time per token through RemoteBackend against a plain client reading the same stream.

The plain client is httpx (httpx2, the openai client's own HTTP library) reading the server-sent
events line by line and `json.loads`-ing each: the least a client can do. Both read the same
loopback server in the same run, alternating, median of several answers each:

- `fault`: tests/faultserver.py in its own process, streaming N chunks; with no delay as fast as
  it can (what is left is client overhead alone), and paced like generation (0.1, 1 and 10 ms a
  token: 10,000, 1,000 and 100 tokens/s);
- `llama`: llama-cpp-python's server with the tiny deterministic GGUF (`--no-llama` skips it).

    .venv/bin/python bench/remote.py [--tokens 400] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faultserver import free_port, wait_until_serving  # noqa: E402
from tests.tiny_gguf import write_tiny_gguf  # noqa: E402
from tui.core.engine.base import Message, SamplingOptions, TokenEvent  # noqa: E402
from tui.core.engine.remote import RemoteBackend  # noqa: E402

MESSAGES = [Message("user", "Go on.")]


def plain(url: str, model: str, max_tokens: int) -> tuple[float, int]:
    """Seconds from request to last token, and tokens, for a bare httpx SSE reader."""
    sampling = SamplingOptions(max_tokens=max_tokens)
    body = {  # what RemoteBackend sends, so the server does the same work for both
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in MESSAGES],
        "stream": True,
        "stream_options": {"include_usage": True},
        **{
            k: getattr(sampling, k)
            for k in ("temperature", "top_p", "max_tokens", "top_k", "min_p")
        },
        "repeat_penalty": sampling.repeat_penalty,
    }
    tokens = 0
    with httpx2.Client(timeout=60) as client:
        start = time.perf_counter()
        with client.stream("POST", f"{url}/chat/completions", json=body) as response:
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                choices = json.loads(line[6:]).get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    tokens += 1
                    last = time.perf_counter()
    return last - start, tokens


def remote(url: str, model: str, max_tokens: int) -> tuple[float, int]:
    with RemoteBackend(url, model) as backend:
        start = time.perf_counter()
        tokens = 0
        for event in backend.stream(MESSAGES, SamplingOptions(max_tokens=max_tokens)):
            if isinstance(event, TokenEvent):
                tokens += 1
                last = time.perf_counter()
    return last - start, tokens


def compare(name: str, url: str, model: str, tokens: int, runs: int) -> None:
    plain(url, model, tokens), remote(url, model, tokens)  # warm up both (imports, connections)
    times: dict[str, list[float]] = {"plain": [], "remote": []}
    for _ in range(runs):
        for label, reader in (("plain", plain), ("remote", remote)):
            seconds, count = reader(url, model, tokens)
            assert count == tokens, f"{label} read {count} tokens, expected {tokens}"
            times[label].append(seconds / count)
    base, ours = statistics.median(times["plain"]), statistics.median(times["remote"])
    print(
        f"{name:<24} plain {base * 1e6:9.1f} us/token   RemoteBackend {ours * 1e6:9.1f} us/token"
        f"   ratio {ours / base:5.3f}  (+{(ours - base) * 1e6:.1f} us/token)"
    )


def serve(args: list[str], url: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    wait_until_serving(url, process)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.communicate(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-llama", action="store_true")
    args = parser.parse_args()
    print(f"{args.tokens} tokens an answer, median of {args.runs}; load average {os.getloadavg()}")
    for delay in (0.0, 0.0001, 0.001, 0.01):
        port = free_port()
        url = f"http://127.0.0.1:{port}/v1"
        fault = ["-m", "tests.faultserver", "--port", str(port), "--pieces", str(args.tokens)]
        process = serve([*fault, "--delay", str(delay)], url)
        try:
            runs = args.runs if delay < 0.01 else max(3, args.runs // 2)
            compare(f"fault, {delay * 1000:g} ms/token", url, "ok", args.tokens, runs)
        finally:
            stop(process)

    if args.no_llama:
        return
    with tempfile.TemporaryDirectory() as folder:
        pieces = [f" w{i}" for i in range(args.tokens)]
        tiny = write_tiny_gguf(Path(folder) / "tiny.gguf", pieces, context_length=4096)
        port = free_port()
        url = f"http://127.0.0.1:{port}/v1"
        server = [
            *("-m", "llama_cpp.server", "--model", str(tiny), "--model_alias", "tiny"),
            *("--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--verbose", "false"),
        ]
        process = serve(server, url)
        try:
            compare("llama-cpp-python, tiny", url, "tiny", args.tokens, args.runs)
        finally:
            stop(process)


if __name__ == "__main__":
    main()
