"""Side-by-side comparison: scheduling overhead and UI responsiveness, each against its baseline.

1. Sequential mode: wall time of a whole comparison (load, answer, unload each model in turn)
   against the sum of the same models answering alone (LocalBackend: load, answer, close), same
   prompt and settings, alternating, median of N runs. Target: <= 1.05x.
2. Keystroke latency while every column streams: a key event is posted to the app as the driver
   would, and timed until the system-prompt input holds it, while two models stream in parallel;
   baseline: the same with nothing running.

Run: .venv/bin/python bench/compare.py [--runs 3] [--tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tiny_gguf import write_tiny_gguf  # noqa: E402
from tui.core.compare.comparison import CompareConfig, Comparison, ModelChoice, make_plan  # noqa: E402
from tui.core.compare.prompt_sets import Prompt  # noqa: E402
from tui.core.config.context import AppContext  # noqa: E402
from tui.core.engine.base import LoadOptions, Message, SamplingOptions  # noqa: E402
from tui.core.engine.local import LocalBackend  # noqa: E402

SMOLLM2 = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Write a short paragraph about the sea."


def alone(path: Path, sampling: SamplingOptions, load: LoadOptions) -> float:
    started = time.perf_counter()
    with LocalBackend(path, load) as backend:
        backend.load()
        for _ in backend.stream([Message("user", PROMPT)], sampling):
            pass
    return time.perf_counter() - started


def sequential(paths: list[Path], sampling: SamplingOptions, load: LoadOptions) -> float:
    config = CompareConfig(
        tuple(ModelChoice(str(p)) for p in paths), (Prompt(PROMPT, id="p"),),
        sampling=sampling, load=load, mode="sequential",
    )  # fmt: skip
    started = time.perf_counter()
    result = Comparison(config, context=AppContext.load()).run()
    elapsed = time.perf_counter() - started
    assert all(c.state == "done" for c in result.columns), [c.error for c in result.columns]
    return elapsed


def bench_sequential(paths: list[Path], runs: int, tokens: int) -> None:
    sampling = SamplingOptions(max_tokens=tokens, temperature=0.0, seed=1)
    load = LoadOptions(n_ctx=1024)
    sums, totals = [], []
    for run in range(runs):
        # Alternate which goes first, so neither always gets the warm (or the busy) machine.
        if run % 2:
            totals.append(sequential(paths, sampling, load))
        sums.append(sum(alone(p, sampling, load) for p in paths))
        if not run % 2:
            totals.append(sequential(paths, sampling, load))
    s, t = statistics.median(sums), statistics.median(totals)
    print(f"sequential, {len(paths)} models, {tokens} tokens, median of {runs}:")
    print(f"  sum of models alone  {s:7.3f} s   (runs: {', '.join(f'{x:.3f}' for x in sums)})")
    print(f"  whole comparison     {t:7.3f} s   (runs: {', '.join(f'{x:.3f}' for x in totals)})")
    print(f"  ratio                {t / s:7.3f}x  (target <= 1.05)")


async def keystroke_latency(paths: list[Path] | None, presses: int) -> list[float]:
    from textual import events

    from tui.core.catalogue import load_catalogue
    from tui.ui.app import LlmTui

    app = LlmTui(load_catalogue())
    latencies = []
    async with app.run_test(size=(160, 48)):
        await app.switch_mode("compare")
        screen = app.screen
        if paths:
            for p in paths:
                screen.open_model(str(p))
            screen.query_one("#settings").value = "max_tokens=100000 seed=1"
            screen.query_one("#mode").value = "parallel"
            screen.query_one("#prompt").load_text(PROMPT)
            screen.action_run()
            while not (
                screen.result is not None
                and all(c.state == "generating" for c in screen.result.columns)
            ):
                await asyncio.sleep(0.02)
        box = screen.query_one("#system")
        box.focus()
        for i in range(presses):
            before = len(box.value)
            started = time.perf_counter()
            # The key as the terminal driver delivers it; Pilot.press would also wait for every
            # widget to go idle, which measures the streaming, not the keystroke.
            app.post_message(events.Key("x", "x"))
            while len(box.value) == before:
                await asyncio.sleep(0.0005)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.03)
            if paths:
                assert all(c.state == "generating" for c in screen.result.columns), i
        if paths:
            screen.action_stop_all()
            while not screen.comparison.done:
                await asyncio.sleep(0.02)
    return latencies


def bench_keys(tmp: Path, presses: int) -> None:
    # Two models that stream as fast as llama.cpp can (thousands of tokens a second): worst case.
    paths = [
        write_tiny_gguf(tmp / f"long{n}.gguf", [f" {n}w{i}" for i in range(3000)]) for n in "ab"
    ]
    idle = asyncio.run(keystroke_latency(None, presses))
    busy = asyncio.run(keystroke_latency(paths, presses))
    for name, values in (("idle", idle), ("2 columns streaming", busy)):
        q = statistics.quantiles(values, n=20)
        print(f"  {name:20s} median {statistics.median(values) * 1000:6.1f} ms   "
              f"p95 {q[-1] * 1000:6.1f} ms   max {max(values) * 1000:6.1f} ms")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--presses", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ.setdefault("LLMTUI_DATA_DIR", str(Path(tmp) / "data"))
        os.environ.setdefault("LLMTUI_CONFIG_DIR", str(Path(tmp) / "config"))
        big = write_tiny_gguf(Path(tmp) / "scaled.gguf", [f" t{i}" for i in range(200)], layers=4,
                              width=512)  # fmt: skip
        models = [SMOLLM2, big] if SMOLLM2.exists() else [big, big]
        print(f"plan for these models: {make_plan([str(m) for m in models]).reason}")
        bench_sequential(models, args.runs, args.tokens)
        print(f"keystroke latency (press -> shown in the input), {args.presses} presses:")
        bench_keys(Path(tmp), args.presses)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
