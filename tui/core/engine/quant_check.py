"""Quant damage on your text: how far a quantization's token distributions drift from a reference's.

`run_quant_check(model, reference, text)` follows llama.cpp's perplexity tool with
`--kl-divergence` (tools/perplexity/perplexity.cpp: `perplexity` writing the base log-probs with
`--kl-divergence-base`, then `kl_divergence`):

- the text is tokenized once with the model's special tokens added (a BOS where the vocabulary
  wants one) and cut into chunks of `n_ctx` tokens (the remainder is dropped); at least two chunks
  are needed, as llama.cpp requires 2 x n_ctx tokens;
- each chunk is evaluated from an empty cache, its first token replaced by BOS where the vocabulary
  adds one; only the second half is scored: the logits at positions n_ctx/2 .. n_ctx-2, each
  against the token after it (n_ctx - 1 - n_ctx/2 positions per chunk);
- per position: KL(reference || model) = sum_i p_ref(i) (log p_ref(i) - log p_model(i)), whether the
  two top-1 tokens agree, and each model's negative log-likelihood of the actual next token;
  perplexity = exp(mean NLL); the KL median and 99th percentile are llama.cpp's (midpoint median,
  linear interpolation between sorted values).

Where it differs: the reference's log-probs are kept as float32 (llama.cpp packs them in 16 bits
and drops terms with log p_ref < -16), so a file checked against itself gives exactly 0.

Each model runs in its own child process (`quant_check_worker.py`; a bad file can abort the
process): the model's starts with its vocabulary only, so a mismatched vocabulary (another n_vocab,
or another tokenization of the text) is refused before any weights are read; then the reference's
writes its log-probs to a temporary numpy memmap and ends; then the model's loads the weights and
is compared with it chunk by chunk. Results are kept in `QuantCheckStore`, keyed by both files
(path, size, mtime).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core.errors import LlmtuiError

if TYPE_CHECKING:
    from tui.core.config.context import AppContext

DEFAULT_CTX = 512  # llama.cpp's perplexity default
DEFAULT_TEXT = "quant_check.txt"  # package data next to this module
STORE_FILE = "quant-checks.json"  # in the data dir


class QuantCheckError(LlmtuiError):
    title = "Quant check failed"


class VocabularyMismatch(QuantCheckError):
    """The two files do not share a vocabulary: their distributions cannot be compared."""


Progress = Callable[[str, int, int], None]  # (which: "model" | "reference", chunks done, chunks)


@dataclass(frozen=True)
class QuantCheckResult:
    model: str  # paths
    reference: str
    n_ctx: int
    chunks: int
    tokens: int  # of the whole text
    scored: int  # positions compared
    kl_mean: float
    kl_median: float
    kl_p99: float
    kl_max: float
    top1_agreement: float  # fraction of positions whose most likely token is the same
    ppl_model: float
    ppl_reference: float
    text: str  # "default" or the file's name
    text_sha256: str
    seconds: float
    llama_cpp_version: str
    checked_at: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> QuantCheckResult:
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    @property
    def summary(self) -> str:
        """One short line for a table cell: mean KL and top-1 agreement."""
        return f"KL {self.kl_mean:.4f} · top-1 {100 * self.top1_agreement:.1f}%"


def default_text() -> str:
    """The text that ships with llmtui (varied English prose, lists, numbers and a little code)."""
    return resources.files(__package__).joinpath(DEFAULT_TEXT).read_text(encoding="utf-8")


def percentile(values: list[float], fraction: float) -> float:
    """llama.cpp's percentile of sorted `values`: linear between the two nearest ranks."""
    if fraction <= 0:
        return values[0]
    if fraction >= 1:
        return values[-1]
    p = fraction * (len(values) - 1)
    low = int(p)
    p -= low
    return (1 - p) * values[low] + p * values[min(low + 1, len(values) - 1)]


def summarize(kl: list[float], same_top: int, nll: list[float], nll_base: list[float]) -> dict:
    """The reported statistics of per-position KL values, top-1 matches and NLLs."""
    import math
    import statistics

    ordered = sorted(kl)
    return {
        "scored": len(kl),
        "kl_mean": math.fsum(kl) / len(kl),
        "kl_median": statistics.median(ordered),
        "kl_p99": percentile(ordered, 0.99),
        "kl_max": ordered[-1],
        "top1_agreement": same_top / len(kl),
        "ppl_model": math.exp(math.fsum(nll) / len(nll)),
        "ppl_reference": math.exp(math.fsum(nll_base) / len(nll_base)),
    }


def run_quant_check(
    model: Path,
    reference: Path,
    text: str,
    *,
    n_ctx: int = DEFAULT_CTX,
    text_name: str = "default",
    on_progress: Progress | None = None,
) -> QuantCheckResult:
    """Compare `model` with `reference` over `text` (see the module docstring). Blocking; a
    KeyboardInterrupt ends the child process and removes the temporary files on its way out.
    Raises QuantCheckError (VocabularyMismatch), GgufHeaderError for a bad or missing file."""
    from tui.core.engine.quant_check_worker import scored_positions  # numpy: not at start-up
    from tui.core.models.gguf_header import check_local

    if n_ctx < 8:
        raise QuantCheckError(f"the context must be at least 8 tokens (got {n_ctx})")
    for path in (model, reference):
        check_local(Path(path))  # not a GGUF, truncated, missing: said before a process starts
    started = time.perf_counter()
    model_side = _run_child(model, n_ctx, text, vocab_only=True)
    try:
        with tempfile.TemporaryDirectory(prefix="llmtui-quant-check-") as folder:
            logprobs = os.path.join(folder, "reference-logprobs.npy")
            ref_side = _run_child(reference, n_ctx, text, vocab_only=False)
            try:
                _check_vocabulary(model, model_side.ready, reference, ref_side.ready)
                tokens = ref_side.ready["tokens"]
                n_chunks = len(tokens) // n_ctx
                if n_chunks < 2:
                    raise QuantCheckError(
                        f"the text is {len(tokens):,} tokens long and a context of {n_ctx} needs "
                        f"at least {2 * n_ctx:,}: give a longer text or a smaller --ctx"
                    )
                need = n_chunks * scored_positions(n_ctx)[1] * ref_side.ready["n_vocab"] * 4
                _check_space(folder, need)
                ref_side.run("reference", logprobs, n_chunks, n_ctx, on_progress)
            finally:
                ref_side.close()
            model_side.load_weights()  # only now: the two models are never in memory together
            chunks = model_side.run("compare", logprobs, n_chunks, n_ctx, on_progress, "model")
    finally:
        model_side.close()
    kl = [v for c in chunks for v in c["kl"]]
    nll = [v for c in chunks for v in c["nll"]]
    nll_base = [v for c in chunks for v in c["nll_base"]]
    same_top = sum(c["same_top"] for c in chunks)
    return QuantCheckResult(
        model=str(model),
        reference=str(reference),
        n_ctx=n_ctx,
        chunks=n_chunks,
        tokens=len(tokens),
        text=text_name,
        text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        seconds=time.perf_counter() - started,
        llama_cpp_version=ref_side.ready["llama_cpp_version"],
        checked_at=time.time(),
        **summarize(kl, same_top, nll, nll_base),
    )


def _check_space(folder: str, need: int) -> None:
    """The reference's log-probs go to disk (float32, every scored position x the vocabulary)."""
    import shutil

    from tui.core.models.fit import human_bytes

    free = shutil.disk_usage(folder).free
    if need > free:
        raise QuantCheckError(
            f"the reference's log-probabilities need {human_bytes(need)} of temporary space and "
            f"{folder} has {human_bytes(free)} free: give a shorter text, or set TMPDIR"
        )


def _check_vocabulary(model: Path, mine: dict, reference: Path, theirs: dict) -> None:
    if mine["n_vocab"] != theirs["n_vocab"]:
        raise VocabularyMismatch(
            f"{Path(model).name} has {mine['n_vocab']:,} tokens in its vocabulary and "
            f"{Path(reference).name} {theirs['n_vocab']:,}: only quantizations of one model compare"
        )
    if mine["tokens"] != theirs["tokens"]:
        at = next(
            (i for i, (a, b) in enumerate(zip(mine["tokens"], theirs["tokens"], strict=False)) if a != b),
            min(len(mine["tokens"]), len(theirs["tokens"])),
        )
        raise VocabularyMismatch(
            f"{Path(model).name} and {Path(reference).name} tokenize the text differently (from "
            f"token {at:,} on): only quantizations of one model compare"
        )


class _Child:
    """One started child process: its pipe, and its log for a crash message."""

    def __init__(self, path: Path, n_ctx: int, text: str, vocab_only: bool) -> None:
        from tui.core.engine import quant_check_worker
        from tui.core.engine.local import ensure_resource_tracker

        self.path = Path(path)
        context = multiprocessing.get_context("spawn")
        self.log, self.log_path = tempfile.mkstemp(prefix="llmtui-quant-check-", suffix=".log")
        self.finished = False  # True once it has nothing left to do: it may take its time to end
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=quant_check_worker.main,
            args=(child, str(self.path), n_ctx, vocab_only, text, self.log_path),
            name=f"llmtui-quant-check-{self.path.name}",
            daemon=True,
        )
        try:
            ensure_resource_tracker()
            self.process.start()
        finally:
            child.close()
        self.ready: dict = {}

    def wait_ready(self) -> None:
        from tui.core.engine.local import LOAD_TIMEOUT

        reply = self._receive(LOAD_TIMEOUT)
        if reply[0] == "fail":
            raise QuantCheckError(f"{self.path.name}: {reply[1]}")
        self.ready = reply[1]

    def load_weights(self) -> None:
        """Load the whole model in a child started with the vocabulary only."""
        self.conn.send(("load",))
        self.wait_ready()

    def run(self, mode, logprobs, n_chunks, n_ctx, on_progress, which="reference") -> list[dict]:
        """Evaluate every chunk (`mode`: "reference" or "compare"); the chunks' statistics."""
        self.conn.send((mode, logprobs, n_chunks, n_ctx))
        chunks: list[dict] = []
        while True:
            reply = self._receive(None)
            if reply[0] == "chunk":
                chunks.append(reply[2])
                if on_progress is not None:
                    on_progress(which, len(chunks), n_chunks)
            elif reply[0] == "error":
                raise QuantCheckError(f"{self.path.name}: {reply[1]}")
            else:
                self.finished = True
                return chunks

    def _receive(self, timeout: float | None):
        ready = multiprocessing.connection.wait([self.conn, self.process.sentinel], timeout)
        if self.conn in ready:
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                pass
        if not ready:
            raise QuantCheckError(f"{self.path.name}: llama.cpp did not load it in time")
        self.process.join()
        raise QuantCheckError(f"{self.path.name}: {self._crash_message()}")

    def _crash_message(self) -> str:
        from tui.core.engine.local import log_tail

        detail = log_tail(self.log)
        code = self.process.exitcode
        return f"llama.cpp crashed (exit status {code})" + (f": {detail}" if detail else "")

    def close(self) -> None:
        """End the process: at once when it is still working (an error, Ctrl-C), else let it free
        the model itself."""
        try:
            self.conn.send(("close",))
        except (OSError, ValueError):
            pass
        if self.finished:
            self.process.join(5.0)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()
        os.close(self.log)
        Path(self.log_path).unlink(missing_ok=True)


def _run_child(path: Path, n_ctx: int, text: str, *, vocab_only: bool) -> _Child:
    """A child that has loaded `path` (or only its vocabulary) and tokenized the text."""
    child = _Child(path, n_ctx, text, vocab_only)
    try:
        child.wait_ready()
    except BaseException:
        child.close()
        raise
    return child


# -- the store -------------------------------------------------------------------------------------


def file_key(path: Path) -> str:
    """A file as the store knows it: its resolved path, size and modification time (a file
    downloaded again or rewritten is a new file)."""
    path = Path(path).resolve()
    stat = path.stat()
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


class QuantCheckStore:
    """The results, one JSON file in the data dir written whole (`write_atomic`), keyed by the
    model file and then the reference file; the latest check of a pair replaces the one before."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / STORE_FILE

    def _read(self) -> dict:
        from tui.core.storage import read_json_object

        return read_json_object(self.path)  # damaged: measurements, taken again by the next check

    def save(self, result: QuantCheckResult) -> None:
        from filelock import FileLock

        from tui.core.storage import storage_error, write_atomic

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Two checks that end together both keep their result.
            with FileLock(f"{self.path}.lock"):
                data = self._read()
                row = data.setdefault(file_key(Path(result.model)), {})
                row[file_key(Path(result.reference))] = result.to_dict()
                write_atomic(self.path, json.dumps(data, indent=1))
        except OSError as error:
            raise (storage_error(error, self.path) or error) from None

    def for_file(self, path: Path) -> QuantCheckResult | None:
        """The latest check of `path` against another file (its own reference checks are left
        out: KL 0 says nothing); None when it was never checked or has changed since."""
        return self.for_files([path]).get(Path(path))

    def for_files(self, paths: Iterable[Path]) -> dict[Path, QuantCheckResult]:
        """`for_file` of each path that has a check, reading the store once."""
        data = self._read()
        found = {}
        for path in paths:
            try:
                key = file_key(path)
            except OSError:
                continue
            checks = []
            for ref_key, row in data.get(key, {}).items():
                if ref_key == key:
                    continue
                try:
                    checks.append(QuantCheckResult.from_dict(row))
                except (KeyError, TypeError):
                    continue
            if checks:
                found[Path(path)] = max(checks, key=lambda r: r.checked_at)
        return found

    def for_repo(self, repo_id: str, context: AppContext) -> dict[str, QuantCheckResult]:
        """The checks of a Hub repository's files on this machine (where `context` says), by file
        name (the quant picker's rows). Scans the disk: call it off the UI thread."""
        from tui.core.models.library import scan

        found = scan(context.paths, context.settings.model_dirs).models
        mine = [m for m in found if (m.repo_id or "").lower() == repo_id.lower()]
        checks = self.for_files(m.path for m in mine)
        return {m.path.name: checks[m.path] for m in mine if m.path in checks}
