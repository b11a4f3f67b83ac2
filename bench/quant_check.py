"""`llmtui quant-check` on SmolLM2: its wall time against llama-cpp-python evaluating the same tokens.

Measured: `run_quant_check(Q4_0, reference=Q4_1, text)` whole (two child processes: the model's,
started with its vocabulary only for the tokenization check; the reference's, writing its log-probs
to a memmap; then the model's loads its weights and is compared with it chunk by chunk). Baseline, in the same run: this process loads each of the two files with
`Llama(logits_all=True)` and evaluates the same chunks (`reset()` + `eval()`, all logits kept),
without any statistics: what the two evaluations cost by themselves. Alternating, median of N runs.
The Q4_0 file is made from the test model with llama.cpp's quantize, as the tests do.

Run: .venv/bin/python bench/quant_check.py [--runs 3] [--ctx 512] [--chars N]
"""

from __future__ import annotations

import argparse
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


def baseline(paths: list[Path], text: str, n_ctx: int) -> float:
    """Both files loaded and every chunk evaluated with all logits, directly."""
    import llama_cpp

    started = time.perf_counter()
    for path in paths:
        llm = llama_cpp.Llama(str(path), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
                              logits_all=True, verbose=False)  # fmt: skip
        tokens = llm.tokenize(text.encode("utf-8"))
        for i in range(len(tokens) // n_ctx):
            llm.reset()
            llm.eval(tokens[i * n_ctx : (i + 1) * n_ctx])
        llm.close()
    return time.perf_counter() - started


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
            base.append(baseline([SMOLLM2, coarse], text, args.ctx))
            result = run_quant_check(coarse, SMOLLM2, text, n_ctx=args.ctx)
            ours.append(result.seconds)
    print(f"SmolLM2 Q4_0 against Q4_1: {result.tokens:,} tokens, {result.chunks} chunks of "
          f"{args.ctx}, {result.scored:,} positions scored; {args.runs} run(s), median")  # fmt: skip
    print(f"  KL mean {result.kl_mean:.5f}  median {result.kl_median:.5f}  p99 {result.kl_p99:.5f}"
          f"  top-1 {100 * result.top1_agreement:.2f}%  PPL {result.ppl_model:.3f} vs"
          f" {result.ppl_reference:.3f}")  # fmt: skip
    b, o = statistics.median(base), statistics.median(ours)
    print(f"  baseline (Llama logits_all, eval both): {b:7.2f} s")
    print(f"  llmtui quant-check:                     {o:7.2f} s  ({o / b:.2f}x)")


if __name__ == "__main__":
    main()
