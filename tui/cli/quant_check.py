"""`llmtui quant-check MODEL --reference REF [--text FILE] [--ctx N] [--json]`: quant damage on a text.

Both files run over the same text (the one that ships with llmtui, or FILE) and the command reports
the KL divergence of the model's token distributions from the reference's (mean, median, 99th
percentile), how often their most likely tokens agree, and each one's perplexity: the method of
llama.cpp's perplexity tool with `--kl-divergence` (see `tui.core.engine.quant_check`). MODEL and
REF are GGUF paths or names of downloaded models, as `llmtui chat` takes them. The result is kept,
and shown beside the file in My models and in the quant picker. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tui.cli import CliError, printed


def register(subparsers) -> None:
    from tui.core.engine.quant_check import DEFAULT_CTX

    parser = subparsers.add_parser(
        "quant-check",
        help="how far a quantization's token distributions drift from a reference (KL, top-1, PPL)",
        description="Run MODEL and REF over the same text and compare their token distributions "
        "(KL divergence, top-1 agreement, perplexity), as llama.cpp's perplexity tool does.",
    )
    parser.add_argument("model", metavar="MODEL", help="the GGUF file to judge (path or model name)")
    parser.add_argument("--reference", required=True, metavar="REF",
                        help="the file to judge it against, e.g. a bigger quant of the model")  # fmt: skip
    parser.add_argument("--text", type=Path, metavar="FILE",
                        help="the text to run (default: the one that ships with llmtui)")  # fmt: skip
    parser.add_argument("--ctx", type=int, default=DEFAULT_CTX, metavar="N",
                        help=f"tokens per chunk, the second half scored (default {DEFAULT_CTX})")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def _local_file(spec: str, context) -> Path:
    from tui.core.engine.resolve import find_local, is_remote

    if is_remote(spec):
        raise CliError(f"{spec}: quant-check runs local GGUF files, not a server's model")
    catalogue = None if Path(spec).expanduser().is_file() else context.catalogue_or_none()
    return find_local(spec, catalogue, context).path


def _read_text(path: Path | None) -> tuple[str, str]:
    """(the text, how the result names it)."""
    from tui.core.engine.quant_check import default_text

    if path is None:
        return default_text(), "default"
    try:
        return path.read_text(encoding="utf-8"), path.name
    except FileNotFoundError:
        raise CliError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text") from None
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None


def _progress(which: str, done: int, total: int) -> None:
    print(f"llmtui: {which}: chunk {done}/{total}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, context) -> int:
    from tui.core.engine.quant_check import QuantCheckStore, run_quant_check
    from tui.core.text import one_line

    model = _local_file(args.model, context)
    reference = _local_file(args.reference, context)
    text, text_name = _read_text(args.text)
    result = run_quant_check(
        model, reference, text, n_ctx=args.ctx, text_name=text_name, on_progress=_progress
    )
    QuantCheckStore(context.paths.data_dir).save(result)
    if printed(args, result.to_dict(), ensure_ascii=True):
        return 0
    change = result.ppl_model / result.ppl_reference - 1
    print(f"model       {one_line(model.name, 100)}")
    print(f"reference   {one_line(reference.name, 100)}")
    print(f"text        {one_line(text_name, 100)}: {result.tokens:,} tokens, {result.chunks} chunks "
          f"of {result.n_ctx}, {result.scored:,} positions scored")  # fmt: skip
    print(f"KL divergence   mean {result.kl_mean:.6f}  median {result.kl_median:.6f}  "
          f"p99 {result.kl_p99:.6f}  max {result.kl_max:.6f}")  # fmt: skip
    print(f"top-1 agreement {100 * result.top1_agreement:.2f}%")
    print(f"perplexity      model {result.ppl_model:.4f}  reference {result.ppl_reference:.4f}"
          f"  ({100 * change:+.2f}%)")  # fmt: skip
    print(f"in {result.seconds:.1f} s (llama.cpp {result.llama_cpp_version})")
    return 0
