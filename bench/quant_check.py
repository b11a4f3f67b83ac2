"""`llmtui quant-check` on SmolLM2: its time against llama-cpp-python evaluating the same tokens.

Measured: `run_quant_check(Q4_0, reference=Q4_1, text)` whole (two child processes: the model's,
started with its vocabulary only for the tokenization check; the reference's, writing its log-probs
to a memmap; then the model's loads its weights and is compared with it chunk by chunk).
Baseline, in the same run: this process loads each of the two files with `Llama(logits_all=True)`
and evaluates the same chunks (`reset()` + `eval()`, all logits kept), without any statistics:
what the two evaluations cost by themselves. Alternating, median of N runs, wall time and CPU time
(this process's and its ended children's: steadier than wall time on a machine that other jobs
load). The Q4_0 file is made from the test model with llama.cpp's quantize, as the tests do.

Run: .venv/bin/python bench/quant_check.py [--runs 3] [--ctx 512] [--chars N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.core.engine.quant_check import default_text, run_quant_check  # noqa: E402

SMOLLM2 = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def quantize(source: Path, out: Path) -> Path:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.allow_requantize = True
    if llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), params) != 0:
        raise SystemExit("quantize failed")
    return out


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def baseline(paths: list[Path], text: str, n_ctx: int) -> float:
    """Both files loaded and every chunk evaluated with all logits, directly."""
    import llama_cpp

    for path in paths:
        llm = llama_cpp.Llama(str(path), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
                              logits_all=True, verbose=False)  # fmt: skip
        tokens = llm.tokenize(text.encode("utf-8"))
        for i in range(len(tokens) // n_ctx):
            llm.reset()
            llm.eval(tokens[i * n_ctx : (i + 1) * n_ctx])
        llm.close()


def timed(run) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process and of its children that ended meanwhile)."""
    cpu = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = run()
    wall = time.perf_counter() - started
    cpu = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
    return wall, cpu, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--chars", type=int, default=0, help="use only the text's first N characters")
    args = parser.parse_args()
    text = default_text()[: args.chars or None]
    with tempfile.TemporaryDirectory() as folder:
        coarse = quantize(SMOLLM2, Path(folder) / "SmolLM2-135M-Instruct.Q4_0.gguf")
        ours, base = [], []
        for _ in range(args.runs):
            *spent, _ = timed(lambda: baseline([SMOLLM2, coarse], text, args.ctx))
            base.append(spent)
            *spent, result = timed(lambda: run_quant_check(coarse, SMOLLM2, text, n_ctx=args.ctx))
            ours.append(spent)
    print(f"SmolLM2 Q4_0 against Q4_1: {result.tokens:,} tokens, {result.chunks} chunks of "
          f"{args.ctx}, {result.scored:,} positions scored; {args.runs} run(s), median")  # fmt: skip
    print(f"  KL mean {result.kl_mean:.5f}  median {result.kl_median:.5f}  p99 {result.kl_p99:.5f}"
          f"  top-1 {100 * result.top1_agreement:.2f}%  PPL {result.ppl_model:.3f} vs"
          f" {result.ppl_reference:.3f}")  # fmt: skip
    for what, i in (("wall", 0), ("CPU", 1)):
        b, o = statistics.median(r[i] for r in base), statistics.median(r[i] for r in ours)
        print(f"  {what:<4} baseline (Llama logits_all, eval both) {b:7.2f} s,"
              f" llmtui quant-check {o:7.2f} s ({o / b:.2f}x)")  # fmt: skip
    print("  runs (wall s, baseline / quant-check): "
          + ", ".join(f"{b[0]:.1f} / {o[0]:.1f}" for b, o in zip(base, ours, strict=True)))  # fmt: skip


if __name__ == "__main__":
    main()
