"""Side-by-side comparison: 2-4 models answer the same prompts, each in its own column.

A `Comparison` runs a `CompareConfig` (models, prompts, shared system prompt and sampling with
per-model overrides) through the `Backend` interface only, so local files and remote servers mix
freely. Each column moves through queued -> loading -> generating -> done | stopped | failed; one
column failing or being stopped never touches another. Progress arrives as events through a
callback, on worker threads (the UI coalesces them); the finished `ComparisonResult` is what the
store keeps and exports. A single prompt is a grid of one row; a prompt set fills more rows.

Scheduling (`make_plan`): the models run at the same time when they fit in memory together and
there is a core for each (threads split fairly), otherwise one after another (load, answer,
unload).
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from tui.core.chat.reasoning import ReasoningSplitter
from tui.core.compare.prompt_sets import Prompt
from tui.core.engine.base import (
    AnswerStats,
    Backend,
    DoneEvent,
    EngineError,
    LoadOptions,
    Message,
    SamplingOptions,
    TokenEvent,
    usable_cores,
)
from tui.core.engine.resolve import find_local, is_remote
from tui.core.engine.resolve import open_backend as resolve_backend
from tui.core.errors import LlmtuiError
from tui.core.text import clean, one_line

if TYPE_CHECKING:
    from tui.core.catalogue import Catalogue
    from tui.core.config.context import AppContext
    from tui.core.models.fit import Fit, Machine

ColumnState = Literal["queued", "loading", "generating", "done", "stopped", "failed"]
ModeRequest = Literal["auto", "parallel", "sequential"]
Mode = Literal["parallel", "sequential"]
FINAL_STATES = ("done", "stopped", "failed")
LETTERS = "ABCD"
MIN_MODELS, MAX_MODELS = 2, 4
MEMORY_SAMPLE_SECONDS = 0.2


class CompareError(LlmtuiError):
    """Bad input for a comparison (too few models, a bad override): the message is for the user."""

    title = "Cannot compare"


def parse_overrides(text: str) -> dict[str, Any]:
    """'temperature=0.2 max_tokens=64' -> {"temperature": 0.2, "max_tokens": 64}."""
    types = {f.name: f.type for f in fields(SamplingOptions) if f.name != "response_format"}
    result: dict[str, Any] = {}
    for part in text.replace(",", " ").split():
        key, sep, value = part.partition("=")
        if not sep or key not in types:
            known = ", ".join(types)
            raise CompareError(f"bad override {part!r}: expected NAME=VALUE with NAME one of {known}")
        kind = float if "float" in str(types[key]) else int
        try:
            result[key] = None if key == "seed" and value in ("", "none", "-1") else kind(value)
        except ValueError:
            raise CompareError(f"bad override {part!r}: {value!r} is not a number") from None
    return result


def overrides_text(overrides: Mapping[str, Any]) -> str:
    """{"temperature": 0.2} -> 'temperature=0.2': what `parse_overrides` reads."""
    return " ".join(f"{k}={v}" for k, v in overrides.items())


@dataclass(frozen=True)
class ModelChoice:
    spec: str  # a .gguf path, a catalogue id or URL#MODEL
    # SamplingOptions fields for this model only
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompareConfig:
    models: tuple[ModelChoice, ...]
    prompts: tuple[Prompt, ...]
    system_prompt: str = ""
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    load: LoadOptions = field(default_factory=LoadOptions)
    mode: ModeRequest = "auto"
    blind: bool = False
    prompt_set: str = ""  # the file the prompts came from, if any

    def validate(self) -> None:
        if not MIN_MODELS <= len(self.models) <= MAX_MODELS:
            raise CompareError(f"choose {MIN_MODELS} to {MAX_MODELS} models (got {len(self.models)})")
        if not self.prompts:
            raise CompareError("no prompt")
        if not all(p.prompt.strip() for p in self.prompts):
            raise CompareError("empty prompt")
        for choice in self.models:
            try:
                replace(self.sampling, **choice.overrides)
            except TypeError as error:
                raise CompareError(f"bad override for {choice.spec}: {error}") from None

    def sampling_for(self, column: int) -> SamplingOptions:
        return replace(self.sampling, **self.models[column].overrides)

    def messages_for(self, row: int) -> list[Message]:
        prompt = self.prompts[row]
        system = self.system_prompt if prompt.system is None else prompt.system
        messages = [Message("system", system)] if system else []
        return [*messages, Message("user", prompt.prompt)]

    def to_dict(self) -> dict:
        return {
            "models": [asdict(m) for m in self.models],
            "prompts": [p.to_dict() for p in self.prompts],
            "system_prompt": self.system_prompt,
            "sampling": self.sampling.to_dict(),
            "load": asdict(self.load),
            "mode": self.mode,
            "blind": self.blind,
            "prompt_set": self.prompt_set,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CompareConfig:
        """What `to_dict` wrote (a key it left out takes its default)."""
        models = tuple(ModelChoice(m["spec"], m.get("overrides", {})) for m in data["models"])
        prompts = tuple(Prompt.from_dict(p) for p in data["prompts"])
        sampling = SamplingOptions.from_dict(data.get("sampling", {}))
        load = LoadOptions(**data.get("load", {}))
        return cls(**{**data, "models": models, "prompts": prompts, "sampling": sampling, "load": load})


# --- plan -----------------------------------------------------------------------------------------


def memory_need(
    spec: str, n_ctx: int, here: Machine, catalogue: Catalogue | None, context: AppContext | None
) -> Fit | None:
    """The fit estimate of a local model (None: not a readable GGUF; loading it will say why)."""
    from tui.core.models import fit
    from tui.core.models.gguf_header import GgufHeaderError, read_local

    try:
        path = find_local(spec, catalogue, context).path
        return fit.estimate(path.stat().st_size, n_ctx, here, read_local(path))
    except (EngineError, OSError, GgufHeaderError):
        return None


@dataclass(frozen=True)
class Plan:
    mode: Mode
    reason: str
    threads: int | None  # n_threads for each local model (None: llama.cpp's default)
    needs: tuple[int | None, ...]  # estimated bytes per model: 0 remote, None unknown
    available: int  # RAM (+ GPU memory) free now
    too_large: tuple[int, ...] = ()  # columns whose model would not fit even alone


def make_plan(
    specs: Sequence[str],
    requested: ModeRequest = "auto",
    *,
    n_ctx: int = 4096,
    here: Machine | None = None,
    cores: int | None = None,
    max_threads: int | None = None,
    catalogue: Catalogue | None = None,
    context: AppContext | None = None,
) -> Plan:
    """Together when the models fit in memory together (with fit's headroom) and each local model
    gets a core; else one after another. `requested` forces either. `max_threads` (the user's
    `threads` setting) caps each local model's share of the cores."""
    from tui.core.models import fit
    from tui.core.models.fit import human_bytes

    here = here or fit.machine()
    cores = max(1, usable_cores() if cores is None else cores)
    fits = [None if is_remote(s) else memory_need(s, n_ctx, here, catalogue, context) for s in specs]
    needs = tuple(0 if is_remote(s) else f.need if f else None for s, f in zip(specs, fits, strict=True))
    too_large = tuple(i for i, f in enumerate(fits) if f is not None and f.label == "too large")
    available = here.ram_available + here.gpu_free
    local = sum(1 for spec in specs if not is_remote(spec))
    known = all(need is not None for need in needs)
    total = sum(need or 0 for need in needs)
    together = known and total <= available * fit.HEADROOM
    if requested == "sequential":
        return Plan("sequential", "one after another (chosen)", max_threads, needs, available, too_large)
    if requested == "parallel" or (together and cores >= local):
        threads = min(max(1, cores // max(1, local)), max_threads or cores)
        why = (
            "chosen"
            if requested == "parallel"
            else f"need {human_bytes(total)} of {human_bytes(available)} free"
        )
        reason = f"at the same time ({why}; {threads} thread{'s' * (threads > 1)} each)"
        return Plan("parallel", reason, threads, needs, available, too_large)
    if not known:
        why = "memory needs unknown"
    elif not together:
        why = f"together they need {human_bytes(total)}, {human_bytes(available)} free"
    else:
        why = f"{local} models, {cores} cores"
    return Plan("sequential", f"one after another ({why})", max_threads, needs, available, too_large)


# --- result ---------------------------------------------------------------------------------------


@dataclass
class Column:
    index: int
    spec: str
    letter: str  # A-D; shuffled in blind mode
    state: ColumnState = "queued"
    label: str = ""  # the backend's short name once loaded
    location: str = ""  # the file loaded, or URL#MODEL
    sha256: str = ""  # of the file (filled when stored); remote models have none
    load_seconds: float | None = None
    threads: int | None = None  # llama.cpp threads it ran with (local models)
    peak_rss: int | None = None  # bytes, of the worker process; None: not measurable (remote)
    error: str = ""
    error_kind: str = ""

    def name(self, revealed: bool = True) -> str:
        if not revealed:
            return f"Model {self.letter}"
        return f"{self.letter} · {one_line(self.label or self.spec, 80)}"


@dataclass
class Cell:
    row: int
    column: int
    state: ColumnState = "queued"
    answer: str = ""  # the answer alone: what checks, tables and votes see
    stats: AnswerStats | None = None
    passed: bool | None = None  # None: the prompt has no checks
    error: str = ""
    reasoning: str = ""  # the model's reasoning block before the answer, kept apart

    def to_dict(self) -> dict:
        data = asdict(self)
        data["stats"] = self.stats.to_dict() if self.stats else None
        return data


VOTE_NAMES = {"tie": "tie", "all_bad": "all bad"}


@dataclass(frozen=True)
class Vote:
    choice: str  # a column letter (that model is better), "tie" or "all_bad"
    at: str


@dataclass
class ComparisonResult:
    """One comparison: settings, a column per model, a cell per (prompt, model), the votes."""

    config: CompareConfig
    columns: list[Column]
    cells: list[Cell]
    mode: Mode = "sequential"
    created: str = ""
    finished: str = ""
    llama_cpp_version: str = ""
    system_info: str = ""
    votes: list[Vote] = field(default_factory=list)
    id: int | None = None  # set by the store
    parent_id: int | None = None  # the comparison this one re-runs

    @property
    def seed(self) -> int | None:
        return self.config.sampling.seed

    @property
    def revealed(self) -> bool:
        """Blind comparisons show model names only after a vote."""
        return not self.config.blind or bool(self.votes)

    @property
    def finished_all(self) -> bool:
        return all(c.state in FINAL_STATES for c in self.columns)

    def cell(self, row: int, column: int) -> Cell:
        return self.cells[row * len(self.columns) + column]

    def by_letter(self) -> list[Column]:
        """Columns in display order (A, B, ...)."""
        return sorted(self.columns, key=lambda c: c.letter)

    @property
    def vote_choices(self) -> tuple[str, ...]:
        """A letter per model (that one is better), "tie" and "all_bad"."""
        return (*sorted(c.letter for c in self.columns), "tie", "all_bad")

    def vote(self, choice: str) -> Vote:
        if choice not in self.vote_choices:
            raise CompareError(f"no such vote {choice!r}: one of {', '.join(self.vote_choices)}")
        vote = Vote(choice, now())
        self.votes.append(vote)
        return vote

    def vote_text(self, vote: Vote) -> str:
        if vote.choice in VOTE_NAMES:
            return VOTE_NAMES[vote.choice]
        column = next(c for c in self.columns if c.letter == vote.choice)
        return f"{column.name(self.revealed)} better"

    # --- serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "created": self.created,
            "finished": self.finished,
            "mode": self.mode,
            "llama_cpp_version": self.llama_cpp_version,
            "system_info": self.system_info,
            "config": self.config.to_dict(),
            "columns": [asdict(c) for c in self.columns],
            "cells": [c.to_dict() for c in self.cells],
            "votes": [asdict(v) for v in self.votes],
        }

    def to_markdown(self) -> str:
        """A Markdown report: settings, then a table of prompt rows x model columns, then votes."""
        columns = self.by_letter()
        title = f"Comparison #{self.id}" if self.id is not None else "Comparison"
        sampling = self.config.sampling.to_dict()
        lines = [f"# {title} ({self.created})", ""]
        if self.config.system_prompt:
            lines += [f"System prompt: {_md_cell(self.config.system_prompt)}", ""]
        lines += [
            "Settings: " + ", ".join(f"{k}={v}" for k, v in sampling.items()),
            f"Mode: {self.mode}; llama.cpp (llama-cpp-python) {self.llama_cpp_version or 'n/a'}",
            "",
            _md_row(["Prompt", *(c.name(self.revealed) for c in columns)]),
            "|---" * (len(columns) + 1) + "|",
        ]
        for row, prompt in enumerate(self.config.prompts):
            lines.append(_md_row([prompt.prompt, *(answer_text(self.cell(row, c.index)) for c in columns)]))
        lines.append(_md_row(["*stats*", *(stats_line(c, self.cell(0, c.index)) for c in columns)]))
        lines += ["", "Models:", ""]
        for c in columns:
            identity = f"{c.spec}, sha256 {c.sha256}" if c.sha256 else c.location or c.spec
            if not self.revealed:
                identity = "hidden until a vote"
            overrides = self.config.models[c.index].overrides
            extra = f"; overrides {dict(overrides)}" if overrides else ""
            lines.append(f"- {_md_cell(c.name(self.revealed))}: {_md_cell(identity)}{extra}")
        if self.votes:
            lines += ["", "Votes:", ""]
            lines += [f"- {v.at}: {self.vote_text(v)}" for v in self.votes]
        return "\n".join(lines) + "\n"

    def to_jsonl(self) -> str:
        """One JSON object per (prompt, model) answer, then one per vote."""
        common = {
            "comparison": self.id,
            "created": self.created,
            "seed": self.seed,
            "system_prompt": self.config.system_prompt,
            "mode": self.mode,
            "llama_cpp_version": self.llama_cpp_version,
        }
        lines = []
        for cell in self.cells:
            column = self.columns[cell.column]
            prompt = self.config.prompts[cell.row]
            hidden = not self.revealed
            lines.append(
                {
                    "type": "answer",
                    **common,
                    "prompt_id": prompt.id,
                    "prompt": prompt.prompt,
                    "system": prompt.system,
                    "letter": column.letter,
                    "model": None if hidden else column.spec,
                    "label": None if hidden else column.label,
                    "sha256": None if hidden else column.sha256 or None,
                    "sampling": self.config.sampling_for(cell.column).to_dict(),
                    "state": cell.state,
                    "answer": cell.answer,
                    "reasoning": cell.reasoning,
                    "passed": cell.passed,
                    "error": cell.error or column.error or None,
                    "stats": cell.stats.to_dict() if cell.stats else None,
                    "load_seconds": column.load_seconds,
                    "peak_rss": column.peak_rss,
                }
            )
        for vote in self.votes:
            lines.append({"type": "vote", "comparison": self.id, "choice": vote.choice, "at": vote.at})
        return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def _md_cell(text: str) -> str:
    return clean(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _md_row(texts: list[str]) -> str:
    return "| " + " | ".join(_md_cell(text) for text in texts) + " |"


def answer_text(cell: Cell) -> str:
    """A cell's answer with its check result or failure, for tables and reports (not cleaned)."""
    mark = {True: "✓ pass: ", False: "✗ fail: ", None: ""}[cell.passed]
    if cell.state == "failed":
        return f"{mark}(failed: {cell.error}) {cell.answer}".rstrip()
    return mark + cell.answer


def stats_line(column: Column, cell: Cell | None = None) -> str:
    """The one-line summary shown under a column: state, load time, TTFT, speed, tokens, memory."""
    from tui.core.models.fit import human_bytes

    parts = [column.state if column.state != "failed" else f"failed: {one_line(column.error, 120)}"]
    if column.load_seconds is not None:
        parts.append(f"load {column.load_seconds:.2f}s")
    stats = cell.stats if cell else None
    if stats is not None:
        if stats.time_to_first_token is not None:
            parts.append(f"TTFT {stats.time_to_first_token:.2f}s")
        speed = stats.tokens_per_second
        parts.append(f"{speed:.1f} tok/s" if speed is not None else "– tok/s")
        parts.append(f"{stats.completion_tokens} tok")
    if column.peak_rss is not None:
        parts.append(f"peak {human_bytes(column.peak_rss)}")
    elif is_remote(column.spec):
        parts.append("memory n/a")
    return " · ".join(parts)


# --- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnChanged:
    column: Column  # a snapshot


@dataclass(frozen=True)
class CellChanged:
    cell: Cell  # a snapshot


@dataclass(frozen=True)
class TextAdded:
    column: int
    row: int
    text: str
    reasoning: bool = False  # part of the reasoning block before the answer


@dataclass(frozen=True)
class Finished:
    result: ComparisonResult


CompareEvent = ColumnChanged | CellChanged | TextAdded | Finished
OpenBackend = Callable[[str, LoadOptions], Backend]


# --- run ------------------------------------------------------------------------------------------


class _Crashed(Exception):
    """The backend died mid-answer: the column cannot go on."""


class Comparison:
    """Runs a CompareConfig. `start()` returns at once; events arrive on worker threads."""

    def __init__(
        self,
        config: CompareConfig,
        *,
        context: AppContext,
        on_event: Callable[[CompareEvent], None] | None = None,
        open_backend: OpenBackend | None = None,
        plan: Plan | None = None,
        catalogue: Catalogue | None = None,
        parent_id: int | None = None,
    ) -> None:
        """`context`: the endpoints and model folders specs may name."""
        config.validate()
        if config.sampling.seed is None:
            # Recorded, so a re-run can reproduce the answers.
            config = replace(config, sampling=replace(config.sampling, seed=random.randrange(2**31)))
        self.config = config
        specs = [m.spec for m in config.models]
        self.plan = plan or make_plan(
            specs, config.mode, n_ctx=config.load.n_ctx, max_threads=config.load.n_threads,
            catalogue=catalogue, context=context,
        )  # fmt: skip
        letters = list(LETTERS[: len(specs)])
        if config.blind:
            random.shuffle(letters)
        columns = [Column(i, spec, letters[i]) for i, spec in enumerate(specs)]
        cells = [Cell(row, col) for row in range(len(config.prompts)) for col in range(len(specs))]
        self.result = ComparisonResult(
            config, columns, cells, mode=self.plan.mode, created=now(), parent_id=parent_id
        )
        self._on_event = on_event or (lambda event: None)
        # How a spec becomes a Backend: the engine's resolver unless a caller brings its own.
        self._open = open_backend or (
            lambda spec, load: resolve_backend(spec, context, load=load, catalogue=catalogue)
        )
        self._cancel = [threading.Event() for _ in specs]
        self._backends: list[Backend | None] = [None] * len(specs)
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    # --- control (any thread) ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a comparison runs once; make a new one to re-run")
        self._thread = threading.Thread(target=self._main, name="compare", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def run(self) -> ComparisonResult:
        self.start()
        self.wait()
        return self.result

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def stop(self, column: int | None = None) -> None:
        """Stop one column (or all): a queued one never starts, a running one ends now."""
        targets = range(len(self._cancel)) if column is None else [column]
        for index in targets:
            with self._lock:
                self._cancel[index].set()
                backend = self._backends[index]
                queued = self.result.columns[index].state == "queued"
            if queued:
                self._set_state(index, "stopped")
            if backend is not None:
                backend.stop()

    # --- work ----------------------------------------------------------------------------------

    def _main(self) -> None:
        monitor = threading.Thread(target=self._monitor_memory, name="compare-memory", daemon=True)
        monitor.start()
        try:
            if self.plan.mode == "parallel":
                workers = [
                    threading.Thread(target=self._run_column, args=(i,), name=f"compare-{i}", daemon=True)
                    for i in range(len(self.result.columns))
                ]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
            else:
                for i in range(len(self.result.columns)):
                    self._run_column(i)
        finally:
            version, self.result.system_info = _llama_cpp_identity()
            self.result.llama_cpp_version = self.result.llama_cpp_version or version
            self.result.finished = now()
            self._finished.set()
            monitor.join()
            self._on_event(Finished(self.result))

    def _run_column(self, index: int) -> None:
        column = self.result.columns[index]
        cancel = self._cancel[index]
        try:
            with self._lock:
                if cancel.is_set():
                    return
                column.state = "loading"
            if index in self.plan.too_large:
                from tui.core.models.fit import human_bytes

                need, free = self.plan.needs[index] or 0, self.plan.available
                self._fail(
                    index,
                    f"would not fit in memory: needs ~{human_bytes(need)}, {human_bytes(free)} free",
                    "too_large",
                )
                return
            self._set_state(index, "loading")
            started = time.perf_counter()
            try:
                backend = self._open(column.spec, replace(self.config.load, n_threads=self.plan.threads))
                with self._lock:
                    self._backends[index] = backend
                info = backend.load()
            except Exception as error:  # noqa: BLE001 - any failure of one model fails its column only
                self._fail(index, *_failure(error))
                return
            column.load_seconds = time.perf_counter() - started
            column.label = backend.label or info.name
            column.location = info.location
            column.threads = info.n_threads
            if info.llama_cpp_version:
                self.result.llama_cpp_version = info.llama_cpp_version
            self._sample_memory(index)
            for row in range(len(self.config.prompts)):
                if cancel.is_set():
                    break
                self._answer(index, row, backend, info.reasoning_opened)
        except _Crashed:
            pass
        finally:
            self._close(index)
            self._settle(index)

    def _answer(self, index: int, row: int, backend: Backend, reasoning_opened: str) -> None:
        cell = self.result.cell(row, index)
        cancel = self._cancel[index]
        cell.state = "generating"
        self._set_state(index, "generating")
        self._on_event(CellChanged(replace(cell)))
        splitter = ReasoningSplitter(reasoning_opened)
        stats = None
        streamed = False

        def keep(parts: list[TokenEvent]) -> None:
            for part in parts:
                self._on_event(TextAdded(index, row, part.text, part.reasoning))

        def finish() -> None:
            keep(splitter.finish())
            cell.answer, cell.reasoning = splitter.answer, splitter.reasoning

        try:
            stream = backend.stream(self.config.messages_for(row), self.config.sampling_for(index), cancel)
            for event in stream:
                if isinstance(event, TokenEvent):
                    streamed = True
                    keep(splitter.feed(event.text, event.reasoning))
                elif isinstance(event, DoneEvent):
                    stats = event.stats
            finish()
        except Exception as error:  # noqa: BLE001 - the column goes on unless its backend died
            engine = isinstance(error, EngineError)
            if engine and not streamed and error.partial:
                keep(splitter.feed(error.partial))
            finish()
            message, kind = _failure(error)
            self._end_cell(cell, "failed", error=message)
            if not engine or kind == "crashed":
                self._fail(index, message, kind)
                raise _Crashed from None
            return
        cell.stats = stats
        stopped = cancel.is_set() or (stats is not None and stats.finish_reason == "cancelled")
        if not stopped:
            cell.passed = self.config.prompts[row].check(cell.answer)
        self._sample_memory(index)
        self._end_cell(cell, "stopped" if stopped else "done")

    def _end_cell(self, cell: Cell, state: ColumnState, error: str = "") -> None:
        cell.state = state
        cell.error = error
        self._on_event(CellChanged(replace(cell)))

    def _settle(self, index: int) -> None:
        """The column's final state, and a final state for every cell it did not reach."""
        column = self.result.columns[index]
        stopped = self._cancel[index].is_set()
        for row in range(len(self.config.prompts)):
            cell = self.result.cell(row, index)
            if cell.state not in FINAL_STATES:
                failed = column.state == "failed"
                self._end_cell(cell, "failed" if failed else "stopped", column.error if failed else "")
        if column.state != "failed":
            cells = [self.result.cell(row, index) for row in range(len(self.config.prompts))]
            if stopped or any(c.state == "stopped" for c in cells):
                self._set_state(index, "stopped")
            elif all(c.state == "failed" for c in cells):
                self._fail(index, cells[0].error, "other")
            else:
                self._set_state(index, "done")

    def _close(self, index: int) -> None:
        with self._lock:
            backend, self._backends[index] = self._backends[index], None
        if backend is not None:
            # Closing a dead backend must not fail the column again.
            with contextlib.suppress(Exception):
                backend.close()

    def _set_state(self, index: int, state: ColumnState) -> None:
        column = self.result.columns[index]
        column.state = state
        self._on_event(ColumnChanged(replace(column)))

    def _fail(self, index: int, message: str, kind: str) -> None:
        column = self.result.columns[index]
        column.error, column.error_kind = message, kind
        self._set_state(index, "failed")

    def _sample_memory(self, index: int) -> None:
        with self._lock:
            backend = self._backends[index]
        pid = backend.pid if backend is not None else None
        if pid is None:
            return
        import psutil

        try:
            rss = psutil.Process(pid).memory_info().rss
        except psutil.Error:
            return
        column = self.result.columns[index]
        column.peak_rss = max(rss, column.peak_rss or 0)

    def _monitor_memory(self) -> None:
        while not self._finished.wait(MEMORY_SAMPLE_SECONDS):
            for index, column in enumerate(self.result.columns):
                if column.state in ("loading", "generating"):
                    self._sample_memory(index)


def _failure(error: Exception) -> tuple[str, str]:
    """A column's error message and kind for `error` (not an EngineError: "other")."""
    if isinstance(error, EngineError):
        return error.message, error.kind
    return f"{type(error).__name__}: {error}", "other"


def now() -> str:
    """The time now, as comparisons and votes record it (UTC, ISO 8601, to the second)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _llama_cpp_identity() -> tuple[str, str]:
    """llama-cpp-python's version, and llama.cpp's system info when the library is loaded here."""
    from importlib import metadata

    try:
        version = metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        version = ""
    info = ""
    llama_cpp = sys.modules.get("llama_cpp")
    if llama_cpp is not None:
        info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    return version, info
