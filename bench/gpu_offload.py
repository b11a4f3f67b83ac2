"""GPU offload check of the chat engine: one model, CPU only and all layers on the GPU, raw
llama-cpp-python and the engine (`LocalBackend`), all in one run.

Run on a machine with a CUDA build of llama-cpp-python (`bench/gpu_device.sh` builds one and runs this).
The model is a deterministic GGUF written here (tests/tiny_gguf.py) scaled to TinyLlama's shape
(22 layers, width 2048, feed-forward 5632, f16: about 1 B parameters of real compute), so the answer's
text is known exactly: a wrong offload shows up as a wrong answer, not only as a speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tests.tiny_gguf import write_tiny_gguf  # noqa: E402
from tui.core.engine.base import LoadOptions, Message, SamplingOptions, TokenEvent  # noqa: E402
from tui.core.engine.local import LocalBackend  # noqa: E402

SCRIPT = [f"w{i} " for i in range(200)]
EXPECTED = "".join(SCRIPT)
PROMPT = "Count."


def raw(path: Path, gpu_layers: int, runs: int) -> dict:
    """The baseline: llama-cpp-python's own streaming completion, in this process."""
    import llama_cpp

    started = time.perf_counter()
    llm = llama_cpp.Llama(str(path), n_ctx=1024, n_gpu_layers=gpu_layers, verbose=False)
    load_s = time.perf_counter() - started
    answers = []
    for _ in range(runs):
        t0, first, text, n = time.perf_counter(), None, "", 0
        for chunk in llm.create_completion(PROMPT, max_tokens=400, temperature=0, stream=True):
            first = first or time.perf_counter()
            text += chunk["choices"][0]["text"]
            n += 1
        end = time.perf_counter()
        answers.append({"exact": text == EXPECTED, "time_to_first_token": first - t0,
                        "tokens_per_second": (n - 1) / (end - first)})
    llm.close()
    return {"load_s": load_s, "answers": answers}


def engine(path: Path, gpu_layers: int, runs: int) -> dict:
    backend = LocalBackend(path, LoadOptions(n_ctx=1024, n_gpu_layers=gpu_layers))
    started = time.perf_counter()
    info = backend.load()
    load_s = time.perf_counter() - started
    answers = []
    for _ in range(runs):
        text, stats = "", None
        greedy = SamplingOptions(max_tokens=400, temperature=0)
        for event in backend.stream([Message("user", PROMPT)], greedy):
            if isinstance(event, TokenEvent):
                text += event.text
            else:
                stats = event.stats
        answers.append({"exact": text == EXPECTED, **stats.to_dict()})
    backend.close()
    return {"load_s": load_s, "offload_report": info.offload_report, "answers": answers}


def best(result: dict) -> float:
    return max(a["tokens_per_second"] or 0.0 for a in result["answers"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--layers", type=int, default=22)
    parser.add_argument("--width", type=int, default=2048)
    args = parser.parse_args()
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_tiny_gguf(
            Path(tmp) / "scaled.gguf", SCRIPT, layers=args.layers, width=args.width,
            ff_width=5632, dtype=np.float16, name="scaled-script",
        )
        report["model_bytes"] = path.stat().st_size
        for device, layers in (("gpu", -1), ("cpu", 0)):
            for name, run in (("raw", raw), ("engine", engine)):
                result = report[f"{device}_{name}"] = run(path, layers, args.runs)
                ttft = min(a["time_to_first_token"] for a in result["answers"])
                print(f"{device} {name:6}: load {result['load_s']:.2f} s, best {best(result):.1f} tok/s, "
                      f"TTFT {ttft * 1000:.1f} ms, exact: {all(a['exact'] for a in result['answers'])}",
                      flush=True)
    print("offload report:", report["gpu_engine"]["offload_report"])
    for device in ("gpu", "cpu"):
        ratio = best(report[f"{device}_engine"]) / best(report[f"{device}_raw"])
        print(f"{device}: engine/raw tokens per second {ratio:.3f}")
    speedup = best(report["gpu_engine"]) / best(report["cpu_engine"])
    print(f"GPU/CPU (engine) tokens per second: {speedup:.1f}x")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))
    return 0 if all(a["exact"] for r in report.values() if isinstance(r, dict) for a in r["answers"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
