"""Chat speed, measured against raw llama-cpp-python in the same run (see bench/README.md, "Chat").

1. SmolLM2: tokens/s and time to first token seen through the chat screen (headless Textual app,
engine in its worker process) vs llama-cpp-python's own `create_chat_completion(stream=True)` in
this process, with the same prompt and settings (greedy, same max tokens). 2. A tiny model with a
long script (thousands of tokens/s): tokens/s through the screen vs the bare backend, and how often
the screen re-renders the answer. 3. Keystroke latency while that answer streams. 4. Stop: during
generation (per-token flag) and during prompt processing (the worker is ended), with the cost of the
reload that follows.

    .venv/bin/python bench/chat.py [--tokens 200] [--runs 3] [--answers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tiny_gguf import write_tiny_gguf  # noqa: E402
from tui.core.engine.base import DoneEvent, LoadOptions, Message, SamplingOptions  # noqa: E402
from tui.core.engine.local import LocalBackend  # noqa: E402

SMOLLM2 = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Write a long story about a lighthouse keeper and a storm."
N_CTX = 4096
FAST_TOKENS = (
    800  # the tiny model's vocabulary grows with its script; 800 keeps it >1,000 tok/s here
)
THREADS = 2  # default; the same for raw llama-cpp-python, the bare backend and the screen


def raw_llama(tokens: int, runs: int) -> list[dict]:
    """llama-cpp-python's own streaming chat completion, in this process."""
    from llama_cpp import Llama

    llm = Llama(
        str(SMOLLM2), n_ctx=N_CTX, n_threads=THREADS, n_threads_batch=THREADS, verbose=False
    )
    results = []
    for _ in range(runs):
        started = time.perf_counter()
        times = []
        stream = llm.create_chat_completion(
            [{"role": "user", "content": PROMPT}],
            stream=True,
            max_tokens=tokens,
            temperature=0.0,
            top_k=40,
            top_p=0.95,
            min_p=0.05,
            repeat_penalty=1.1,
            seed=1,
        )
        for chunk in stream:
            if chunk["choices"][0]["delta"].get("content"):
                times.append(time.perf_counter())
        results.append(_rates(started, times, len(times)))
    llm.close()
    return results


def _rates(started: float, times: list[float], n: int) -> dict:
    return {
        "ttft": times[0] - started,
        "tps": (n - 1) / (times[-1] - times[0]) if n > 1 and times[-1] > times[0] else None,
        "tokens": n,
    }


def bare_backend(path: Path, tokens: int, runs: int, load: LoadOptions) -> list[dict]:
    backend = LocalBackend(path, load)
    backend.load()
    results = []
    for _ in range(runs):
        sampling = SamplingOptions(max_tokens=tokens, temperature=0, seed=1)
        stats = next(
            e.stats
            for e in backend.stream([Message("user", PROMPT)], sampling)
            if isinstance(e, DoneEvent)
        )
        results.append(
            {
                "ttft": stats.time_to_first_token,
                "tps": stats.tokens_per_second,
                "tokens": stats.completion_tokens,
            }
        )
    backend.close()
    return results


async def through_screen(
    path: Path, tokens: int, runs: int, keystrokes: bool = False
) -> list[dict]:
    from textual import events

    from tui.core.catalogue import load_catalogue
    from tui.ui.app import LlmTui
    from tui.ui.chat.screen import ChatScreen
    from tui.ui.chat.widgets import ChatInput, MessageView

    appends: list[float] = []
    app_cpu: list[float] = []  # the app process's CPU (every thread) at each append
    original = MessageView.stream_append

    async def timed(self, fragment):
        appends.append(time.perf_counter())
        usage = resource.getrusage(resource.RUSAGE_SELF)
        app_cpu.append(usage.ru_utime + usage.ru_stime)
        await original(self, fragment)

    MessageView.stream_append = timed
    results = []
    try:
        app = LlmTui(load_catalogue())
        async with app.run_test(size=(120, 40)) as pilot:
            app.open_job("chat", str(path))
            while not (isinstance(app.screen, ChatScreen) and app.screen.info is not None):
                await pilot.pause(0.01)
            screen = app.screen
            screen.session.overrides.update(max_tokens=tokens, temperature=0.0, seed=1)
            for _ in range(runs):
                await screen.action_new_chat()
                appends.clear()
                app_cpu.clear()
                chat_input = screen.query_one(ChatInput)
                chat_input.load_text(PROMPT)
                cpu_started = time.thread_time()  # this thread runs the app (and this loop)
                started = time.perf_counter()
                chat_input.action_submit()
                while not screen.answering:
                    await asyncio.sleep(0.001)
                latencies = []
                chat_input.focus()
                while screen.answering:
                    if keystrokes:
                        # From a key event posted to the input showing it: what a typing user waits
                        # for.
                        length = len(chat_input.text)
                        before = time.perf_counter()
                        app.post_message(events.Key("x", "x"))
                        while len(chat_input.text) == length:
                            await asyncio.sleep(0)
                        latencies.append(time.perf_counter() - before)
                    # Only as often as needed: this loop runs on the app's thread too.
                    await asyncio.sleep(0.02 if keystrokes else 0.1)
                ui_cpu_share = (time.thread_time() - cpu_started) / (time.perf_counter() - started)
                stats = screen.last_stats
                if stats is None:
                    raise RuntimeError(
                        f"no answer: {[v.note for v in screen.query(MessageView)]} {app._notifications}"
                    )
                span = appends[-1] - appends[0] if len(appends) > 1 else 0
                # From the first token shown to the last (the end's render aside): what the app
                # took while the model generated.
                generating_cpu = app_cpu[-1] - app_cpu[0] if len(app_cpu) > 1 else 0.0
                results.append(
                    {
                        "ttft": appends[0] - started,
                        "tps": (stats.completion_tokens - 1) / span if span else None,
                        "tokens": stats.completion_tokens,
                        "renders_per_s": len(appends) / span if span else None,
                        "engine_tps": stats.tokens_per_second,
                        "ui_cpu_share": ui_cpu_share,
                        "app_cpu_ms": generating_cpu * 1000,
                        "app_cpu_share": generating_cpu / span if span else None,
                        "keystrokes_ms": [t * 1000 for t in latencies],
                    }
                )
    finally:
        MessageView.stream_append = original
    return results


def stop_costs(path: Path, repeats: int) -> dict:
    backend = LocalBackend(path, LoadOptions(n_ctx=4096))
    backend.load()
    # During generation: the flag is seen at the next token.
    stream = backend.stream([Message("user", "Hi")], SamplingOptions(max_tokens=0))
    next(stream)
    stop_at = time.perf_counter()
    backend.stop()
    list(stream)
    generation_stop = time.perf_counter() - stop_at
    restarts_after_generation_stop = backend.restarts
    # During prompt processing: only ending the process stops llama.cpp.
    long_prompt = [Message("user", "The quick brown fox jumps over the lazy dog. " * repeats)]
    done = {}

    def answer():
        list(backend.stream(long_prompt, SamplingOptions(max_tokens=4)))
        done["at"] = time.perf_counter()

    thread = threading.Thread(target=answer)
    thread.start()
    while not backend._prompt_phase.value:
        time.sleep(0.0005)
    stop_at = time.perf_counter()
    backend.stop()
    thread.join()
    prompt_stop = done["at"] - stop_at
    reload_at = time.perf_counter()
    backend.count_tokens([Message("user", "Hi")])  # the next request starts a worker again
    reload = time.perf_counter() - reload_at
    restarts = backend.restarts
    backend.close()
    return {
        "stop_during_generation_ms": generation_stop * 1000,
        "restarts_after_generation_stop": restarts_after_generation_stop,
        "stop_during_prompt_ms": prompt_stop * 1000,
        "restarts_after_prompt_stop": restarts,
        "reload_after_prompt_stop_ms": reload * 1000,
    }


LINES: list[str] = []


def out(*parts: object) -> None:
    LINES.append(" ".join(str(p) for p in parts))


def best(results: list[dict], key: str, low: bool = False) -> float:
    values = [r[key] for r in results if r[key] is not None]
    return min(values) if low else max(values)


def fast_model(folder: Path) -> Path:
    # Paragraphs of 12 words, as real answers have (one ever-growing paragraph re-renders whole).
    script = [f"w{i}" + ("\n\n" if i % 12 == 11 else " ") for i in range(FAST_TOKENS)]
    return write_tiny_gguf(folder / "fast.gguf", script, context_length=4096)


def smollm2_part(args) -> None:
    # Rounds interleave the two sides, so that a busy moment of the shared machine hits both alike;
    # each round loads the model afresh on both sides, answers once cold, then `--answers` times
    # warm; a round's ratio compares the medians of its warm answers.
    raw, screen, ratios = [], [], []
    answers = 1 + args.answers
    for _ in range(args.runs):
        raw_round = raw_llama(args.tokens, answers)
        screen_round = asyncio.run(through_screen(SMOLLM2, args.tokens, answers))
        raw += raw_round
        screen += screen_round
        ratios.append(
            statistics.median(r["tps"] for r in screen_round[1:])
            / statistics.median(r["tps"] for r in raw_round[1:])
        )
    warm_raw = [r for i, r in enumerate(raw) if i % answers]
    warm_screen = [r for i, r in enumerate(screen) if i % answers]
    out(f"SmolLM2, {args.tokens} tokens, {args.runs} interleaved rounds of {args.answers} warm "
        "answers a side:")  # fmt: skip
    out(f"  raw llama-cpp-python: best {best(warm_raw, 'tps'):.1f} tok/s, "
        f"TTFT {best(warm_raw, 'ttft', True) * 1000:.1f} ms")  # fmt: skip
    out(f"  chat screen:          best {best(warm_screen, 'tps'):.1f} tok/s shown "
        f"(the model's own pace in the app: {best(warm_screen, 'engine_tps'):.1f}), "
        f"TTFT {best(warm_screen, 'ttft', True) * 1000:.1f} ms")  # fmt: skip
    out(f"  first (cold) TTFT: raw {raw[0]['ttft'] * 1000:.1f} ms, screen "
        f"{screen[0]['ttft'] * 1000:.1f} ms")  # fmt: skip
    ttft_gap = best(warm_screen, "ttft", True) - best(warm_raw, "ttft", True)
    median_gap = statistics.median(r["ttft"] for r in warm_screen) - statistics.median(
        r["ttft"] for r in warm_raw
    )
    out(f"  ratio of bests {best(warm_screen, 'tps') / best(warm_raw, 'tps'):.3f}x; per round: "
        f"median {statistics.median(ratios):.3f}x, range {min(ratios):.3f}-{max(ratios):.3f}; "
        f"TTFT difference {ttft_gap * 1000:+.1f} ms (bests), {median_gap * 1000:+.1f} ms "
        "(medians)")  # fmt: skip
    out(f"  renders per second while streaming: {best(warm_screen, 'renders_per_s', True):.1f}-"
        f"{best(warm_screen, 'renders_per_s'):.1f}")  # fmt: skip
    out(f"  the app's CPU while the model generates (all threads): median "
        f"{statistics.median(r['app_cpu_ms'] for r in warm_screen):.1f} ms an answer, "
        f"{statistics.median(r['app_cpu_share'] for r in warm_screen):.1%} of a core")  # fmt: skip


def fast_part(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fast = fast_model(Path(tmp))
        bare, ui, typed = [], [], []
        load = LoadOptions(n_ctx=4096, n_threads=THREADS)
        for _ in range(args.runs):  # interleaved, so that a busy moment hits both alike
            bare += bare_backend(fast, FAST_TOKENS, 1, load)
            ui += asyncio.run(through_screen(fast, FAST_TOKENS, 1))
        # Typing costs the UI work of its own: measured apart from the speed.
        typed += asyncio.run(through_screen(fast, FAST_TOKENS, args.runs, keystrokes=True))
    out(f"Fast tiny model, {FAST_TOKENS} tokens, best of {args.runs}:")
    # Both timed in the worker: the model's pace, with and without the UI beside it.
    pace = best(ui, "engine_tps")
    pairs = [u["engine_tps"] / b["tps"] for u, b in zip(ui, bare, strict=True)]
    out(f"  model's pace: bare backend {best(bare, 'tps'):.0f} tok/s, inside the app {pace:.0f} tok/s "
        f"(ratio of bests {pace / best(bare, 'tps'):.3f}x; per interleaved pair: median "
        f"{statistics.median(pairs):.3f}x, range {min(pairs):.3f}-{max(pairs):.3f})")  # fmt: skip
    out(f"  text shown per second (first append to last): {best(ui, 'tps'):.0f}")
    out(
        f"  renders per second while streaming: {best(ui, 'renders_per_s', True):.1f}-"
        f"{best(ui, 'renders_per_s'):.1f}"
    )
    out(
        f"  app main thread CPU while streaming: {best(ui, 'ui_cpu_share', True):.0%}-"
        f"{best(ui, 'ui_cpu_share'):.0%} of a core; the app's CPU while the model generates "
        f"(all threads): median {statistics.median(r['app_cpu_ms'] for r in ui):.1f} ms an answer"
    )
    out(
        f"  while typing (a key every 20 ms): model's pace {best(typed, 'engine_tps'):.0f} tok/s "
        f"({best(typed, 'engine_tps') / best(bare, 'tps'):.3f}x)"
    )
    keys = sorted(t for r in typed for t in r["keystrokes_ms"])
    if keys:
        out(
            f"  keystroke while streaming ({len(keys)} keys): median {statistics.median(keys):.1f} ms, "
            f"p95 {keys[int(0.95 * (len(keys) - 1))]:.1f} ms, max {keys[-1]:.1f} ms"
        )


def main() -> int:
    global THREADS
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--answers", type=int, default=3, help="SmolLM2: warm answers per side and round"
    )
    parser.add_argument(
        "--threads", type=int, default=THREADS, help="llama.cpp threads, everywhere"
    )
    parser.add_argument(
        "--part", choices=("all", "smollm2", "fast", "stop"), default="all", help="run one part only"
    )
    args = parser.parse_args()
    THREADS = args.threads
    # The screen reads its settings and keeps conversations under these: a scratch place, same
    # settings.
    scratch = Path(tempfile.mkdtemp(prefix="llmtui-bench-"))
    for var in ("LLMTUI_CONFIG_DIR", "LLMTUI_DATA_DIR", "LLMTUI_CACHE_DIR"):
        os.environ[var] = str(scratch / var.lower())
    settings = scratch / "llmtui_config_dir" / "settings.yaml"
    settings.parent.mkdir(parents=True)
    settings.write_text(f"chat:\n  threads: {THREADS}\n  context_length: {N_CTX}\n")

    if args.part in ("all", "smollm2"):
        smollm2_part(args)
    if args.part in ("all", "fast"):
        fast_part(args)
    if args.part in ("all", "stop"):
        with tempfile.TemporaryDirectory() as tmp:
            costs = stop_costs(fast_model(Path(tmp)), 60)
        smol_costs = stop_costs(SMOLLM2, 220)
        out("Stop (tiny model):", {k: round(v, 1) for k, v in costs.items()})
        out("Stop (SmolLM2):   ", {k: round(v, 1) for k, v in smol_costs.items()})
    print("\n".join(LINES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
