"""Prompt-lookup decoding on SmolLM2: with and without, in the same run (bench/README.md, "Prompt lookup").

One worker per setting (0: off, then each draft length), loaded once; the runs go round the settings
in turn so that drift on a shared machine falls on all of them alike. Three tasks: two that repeat
their input (correct a text and return it whole; summarise it) and a free one (a story). Greedy, so
each setting must give the same text as "off": the script says where it does not. Reported per task
and setting: generation tokens/s (first token to last, the model's own pace), time to first token
(prompt processing pays for every position's logits when drafting is on), whole-answer seconds, and
how many drafted tokens the model kept. Then why: what one decode of a batch of k tokens costs against
one token, with and without every position's logits (drafting needs them), in llama-cpp-python itself.

    .venv/bin/python bench/prompt_lookup.py [--runs 5] [--drafts 3,5,10] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.core.engine.base import DoneEvent, LoadOptions, Message, SamplingOptions  # noqa: E402
from tui.core.engine.local import LocalBackend  # noqa: E402

SMOLLM2 = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT = (
    "The lighthouse stood on the northern cliff for two hundred years. Every night the keeper "
    "climbed the hundred and twelve steps, lit the lamp, and wound the clockwork that turned the "
    "lens. Ships passing in the dark saw its beam every ten seconds and knew where the rocks were. "
    "In the winter of the great storm the keeper did not sleep for three days. The waves broke "
    "over the gallery, the windows cracked, and the lamp went out twice; each time he lit it "
    "again with his hands shaking from the cold. When the storm ended, a fishing boat came into "
    "the harbour with all its crew alive, and the captain walked up the cliff to thank him."
)
TASKS = {
    "edit": (f"Rewrite this text in the present tense and return all of it:\n\n{TEXT}", 300),
    "summarise": (f"Summarise this text in three sentences:\n\n{TEXT}", 200),
    "free": ("Write a short story about a lighthouse keeper and a storm.", 300),
}


def answer(backend: LocalBackend, prompt: str, max_tokens: int) -> tuple[str, object]:
    parts, stats = [], None
    sampling = SamplingOptions(temperature=0.0, max_tokens=max_tokens, seed=1)
    for event in backend.stream([Message("user", prompt)], sampling):
        if isinstance(event, DoneEvent):
            stats = event.stats
        else:
            parts.append(event.text)
    return "".join(parts), stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--drafts", default="3,5,10", help="draft lengths to try besides off")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    settings = [0] + [int(d) for d in args.drafts.split(",")]
    backends = {
        n: LocalBackend(
            SMOLLM2, LoadOptions(n_ctx=2048, n_threads=args.threads, prompt_lookup=n)
        )
        for n in settings
    }
    for backend in backends.values():
        backend.load()
    results: dict[tuple[str, int], list] = {}
    texts: dict[tuple[str, int], str] = {}
    try:
        for _ in range(args.runs):
            for task, (prompt, max_tokens) in TASKS.items():
                for n, backend in backends.items():
                    text, stats = answer(backend, prompt, max_tokens)
                    results.setdefault((task, n), []).append(stats)
                    texts[(task, n)] = text
    finally:
        for backend in backends.values():
            backend.close()

    print(f"SmolLM2-135M Q4_1, {args.threads} thread(s), greedy, {args.runs} runs each, "
          "min / median")  # fmt: skip
    print(f"{'task':10} {'drafts':>6} {'tok/s':>15} {'vs off':>7} {'first token ms':>15} "
          f"{'answer s':>11} {'kept':>11} {'same text':>9}")  # fmt: skip
    for task in TASKS:
        off = statistics.median(s.tokens_per_second for s in results[(task, 0)])
        for n in settings:
            runs = results[(task, n)]
            speed = [s.tokens_per_second for s in runs]
            first = [s.time_to_first_token * 1000 for s in runs]
            total = [s.total_seconds for s in runs]
            kept = runs[-1]
            rate = f"{kept.draft_accepted}/{kept.draft_proposed}" if n else "-"
            same = "yes" if texts[(task, n)] == texts[(task, 0)] else "NO"
            print(
                f"{task:10} {n or 'off':>6} {min(speed):6.1f} / {statistics.median(speed):6.1f} "
                f"{statistics.median(speed) / off:6.2f}x {min(first):6.0f} / "
                f"{statistics.median(first):6.0f} {min(total):5.2f} / {statistics.median(total):4.2f} "
                f"{rate:>11} {same:>9}  ({kept.completion_tokens} tokens)"
            )
    batch_cost(args.threads)


def batch_cost(threads: int, rounds: int = 20) -> None:
    """Milliseconds per decode of a batch of k tokens, at a 100-token context, median of `rounds`."""
    from llama_cpp import Llama

    print(f"\none decode, {threads} thread(s), median of {rounds}: ms (x one token without logits)")
    base = None
    for logits_all in (False, True):
        llm = Llama(str(SMOLLM2), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                    logits_all=logits_all, verbose=False)  # fmt: skip
        tokens = llm.tokenize(TEXT.encode() * 6)
        row = []
        for k in (1, 2, 3, 4, 6, 11):
            times = []
            for i in range(rounds):
                llm.reset()
                llm.eval(tokens[:100])
                started = time.perf_counter()
                llm.eval(tokens[100 + i : 100 + i + k])
                times.append((time.perf_counter() - started) * 1000)
            ms = statistics.median(times)
            base = base or ms
            row.append(f"k={k}: {ms:5.1f} ({ms / base:3.1f}x)")
        print(f"  {'every position' if logits_all else 'last position '}  " + "  ".join(row))
        llm.close()


if __name__ == "__main__":
    main()
