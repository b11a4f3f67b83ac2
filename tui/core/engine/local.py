"""`LocalBackend`: a GGUF run by llama-cpp-python in its own worker process (see `worker.py`).

The file's header is checked here first (not a GGUF, truncated, unknown tensor type), and the
memory estimate (`tui.core.models.fit`) made, so those answers need no process; then a worker loads the
model. One reader thread per worker routes its messages to the request waiting for them, so
`count_tokens` works while an answer streams and `stop()` can end an answer from any thread
without touching the pipe.

Stop: an answer being generated stops at the next token (the worker polls a shared flag once per
token); an answer whose prompt is still being processed cannot be interrupted inside llama.cpp, so
the worker is ended and started again on the next request (see bench/README.md for what each costs).
"""

from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.connection
import os
import queue
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from tui.core.engine.base import (
    AnswerStats,
    Backend,
    DoneEvent,
    EngineError,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingOptions,
    StreamEvent,
    TokenEvent,
)
from tui.core.models.gguf_header import GgufFile, GgufHeaderError, check_local

LOAD_TIMEOUT = 600.0  # a 70B model from a slow disk takes minutes; a hung load must still end
CLOSE_TIMEOUT = 5.0
# `stop()` wakes a stream at once; a cancel event set on its own is seen within this. Waking more
# often would cost the model while its threads take every core (see `takes_every_core`).
CANCEL_POLL_SECONDS = 0.25
_DEAD = ("dead",)
_STOPPED = ("stopped",)


class LocalBackend(Backend):
    can_set_template = True

    def __init__(
        self,
        path: str | Path,
        load: LoadOptions | None = None,
        template: str | None = None,
        *,
        family_hint: str | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.options = load or LoadOptions()
        self.template_choice = template  # None: automatic (GGUF, then family); else a templates name
        self.family_hint = family_hint  # the catalogue's prompt format for this model, if it has one
        self.label = self.path.name.removesuffix(".gguf")
        self.header: GgufFile | None = None
        self.info: ModelInfo | None = None
        self._mp = multiprocessing.get_context("spawn")
        # Shared with every worker this backend starts (request ids only grow: stale values are harmless).
        self._cancel = self._mp.RawValue("q", 0)
        self._prompt_phase = self._mp.RawValue("q", 0)
        self._ids = itertools.count(1)
        self._last_id = 0
        self._lock = threading.RLock()  # starting, stopping and writing to the worker
        self._waiters: dict[int, tuple[queue.Queue, object]] = {}  # rid -> (replies, worker process)
        self._streams: set[int] = set()
        self._process = None
        self._conn = None
        self._log: int | None = None  # the worker's output file, read for crash messages
        self._exitcode: int | None = None  # of the last worker that died on its own
        self._closed = False
        self.restarts = 0  # workers ended by Stop during prompt processing and started again

    # -- Backend ---------------------------------------------------------------------------------

    def load(self) -> ModelInfo:
        with self._lock:
            self._ensure_started()
            assert self.info is not None
            return self.info

    def stream(
        self,
        messages: Sequence[Message],
        sampling: SamplingOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        rid, replies = self._request(
            "generate", [_plain(m) for m in messages], sampling.to_dict(), stream=True
        )
        stats = AnswerStats(context_size=self.info.context_size if self.info else 0)
        parts: list[str] = []
        first_at: float | None = None
        finished = False
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    self._stop_requests(rid)
                try:
                    reply = replies.get(timeout=CANCEL_POLL_SECONDS if cancel is not None else None)
                except queue.Empty:
                    continue
                kind = reply[0]
                if kind == "tokens":
                    if first_at is None:
                        first_at = time.perf_counter()
                        stats.time_to_first_token = first_at - started
                    stats.completion_tokens = reply[3]
                    parts.append(reply[2])
                    yield TokenEvent(reply[2])
                elif kind == "prompt":
                    stats.prompt_tokens = reply[2]
                elif kind == "done":
                    done = reply[2]
                    stats.prompt_tokens = done["prompt_tokens"] or stats.prompt_tokens
                    stats.completion_tokens = done["completion_tokens"]
                    stats.finish_reason = done["finish_reason"]
                    # The worker times generation itself: the model's pace, not the delivery's.
                    stats.generation_seconds = done.get("generation_seconds", 0.0)
                    stats.draft_proposed = done.get("draft_proposed", 0)
                    stats.draft_accepted = done.get("draft_accepted", 0)
                    finished = True
                elif kind == "stopped":
                    stats.finish_reason = "cancelled"
                    finished = True
                elif kind == "error":
                    finished = True
                    raise EngineError(reply[3], reply[2], partial="".join(parts))
                elif kind == "dead":
                    finished = True
                    raise EngineError(self._crash_message(self._exitcode), "crashed", partial="".join(parts))
                if finished:
                    now = time.perf_counter()
                    stats.total_seconds = now - started
                    if not stats.generation_seconds and first_at is not None:
                        stats.generation_seconds = now - first_at
                    stats.context_used = stats.prompt_tokens + stats.completion_tokens
                    yield DoneEvent(stats)
                    return
        finally:
            self._forget(rid)
            if not finished:  # the consumer walked away mid-answer: the worker need not finish it
                self._stop_requests(rid)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        for _ in range(2):  # once more if Stop restarted the worker under this request
            reply = self._ask("count", [_plain(m) for m in messages])
            if reply[0] == "count":
                return reply[2]
            if reply[0] == "error":
                raise EngineError(reply[3], reply[2])
        raise EngineError(self._crash_message(self._exitcode), "crashed")

    def stop(self) -> None:
        with self._lock:
            if self._streams:
                self._stop_requests(max(self._streams))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop_requests(self._last_id)
            process, conn = self._process, self._conn
            self._process = self._conn = None
        if process is not None:
            try:
                conn.send(("close",))
            except (OSError, ValueError):
                pass
            process.join(CLOSE_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
        if self._log is not None:
            os.close(self._log)
            self._log = None

    # -- extras for the chat screen ---------------------------------------------------------------

    def set_template(self, choice: str | None) -> ModelInfo:
        """Answer in another prompt format from now on (None: automatic); no reload."""
        reply = self._ask("template", choice)
        if reply[0] == "error":
            raise EngineError(reply[3], reply[2])
        if reply[0] != "template":
            raise EngineError(self._crash_message(), "crashed")
        self.template_choice = choice
        self.info = self._model_info(reply[2])
        return self.info

    @property
    def pid(self) -> int | None:
        """The worker process's id (compare reads its peak memory); None when none is running."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    # -- the worker ------------------------------------------------------------------------------

    def _start(self) -> None:
        """Check the file, start a worker, wait until it has loaded the model. Holds self._lock."""
        try:
            self.header = check_local(self.path)
        except GgufHeaderError as error:
            raise EngineError(str(error), error.kind) from None
        options = self._worker_options(self.header)
        if self._log is not None:
            os.close(self._log)
        # The worker writes native output here; we keep the file open and remove its name once the
        # worker has opened it, so nothing is left on disk however either process ends.
        self._log, log_path = tempfile.mkstemp(prefix="llmtui-worker-", suffix=".log")
        try:
            self._spawn(options, log_path)
        finally:
            Path(log_path).unlink(missing_ok=True)

    def _spawn(self, options: dict, log_path: str) -> None:
        parent, child = self._mp.Pipe()
        from tui.core.engine import worker

        process = self._mp.Process(
            target=worker.main,
            args=(
                child,
                str(self.path),
                options,
                self.template_choice,
                self.family_hint,
                self._cancel,
                self._prompt_phase,
                log_path,
            ),
            name=f"llmtui-{self.label}",
            daemon=True,
        )
        ensure_resource_tracker()
        process.start()
        child.close()
        ready = multiprocessing.connection.wait([parent, process.sentinel], LOAD_TIMEOUT)
        reply = None
        if parent in ready:
            try:
                reply = parent.recv()
            except (EOFError, OSError):
                reply = None
        if reply is None or reply[0] != "ready":
            if process.is_alive():
                process.kill()
            process.join()
            parent.close()
            if reply is None:  # the file made llama.cpp abort while loading it
                raise EngineError(self._crash_message(process.exitcode, loading=True), "bad_file")
            raise EngineError(reply[2], reply[1])
        self._process, self._conn = process, parent
        self.info = self._model_info(reply[1])
        threading.Thread(
            target=self._read, args=(process, parent), name="llmtui-engine-reader", daemon=True
        ).start()

    def _worker_options(self, header: GgufFile) -> dict:
        """What the worker loads with; EngineError("too_large") when it cannot fit in memory here."""
        from tui.core.models import fit

        n_ctx = self.options.n_ctx or header.trained_context or 4096
        if header.trained_context:  # beyond it a model without rope scaling degrades
            n_ctx = min(n_ctx, header.trained_context)
        here = fit.machine()
        # Without the sizing keys, fit estimates the KV cache from the file size.
        estimate = fit.estimate(header.file_size, n_ctx, here, header.sizing())
        if estimate.label == "too large":
            raise EngineError(
                f"{self.path.name} needs about {fit.human_bytes(estimate.need)} of memory with a "
                f"{n_ctx:,}-token context ({fit.human_bytes(estimate.kv_cache)} of it the context cache) and "
                f"{fit.human_bytes(here.ram_available + here.gpu_free)} is free: try a smaller quantization "
                "or a shorter context",
                "too_large",
            )
        return {**asdict(self.options), "n_ctx": n_ctx}

    def _model_info(self, data: dict) -> ModelInfo:
        return ModelInfo(location=str(self.path), **data)

    def _read(self, process, conn) -> None:
        """Route the worker's replies to their requests until it ends; then tell those still waiting."""
        while conn in multiprocessing.connection.wait([conn, process.sentinel]):
            try:
                reply = conn.recv()
            except (EOFError, OSError):
                break
            waiter = self._waiters.get(reply[1])
            if waiter is not None:
                waiter[0].put(reply)
        process.join()
        with self._lock:
            if self._process is process:  # died on its own: the next request starts a new one
                self._process = self._conn = None
                self._exitcode = process.exitcode
            waiters = [replies for replies, owner in self._waiters.values() if owner is process]
        for replies in waiters:
            replies.put(_DEAD)

    def _ensure_started(self) -> None:
        """A worker that has loaded the model, started if none runs. Holds self._lock."""
        if self._closed:
            raise EngineError("this model was unloaded", "other")
        if self._process is None:
            self._start()

    def _request(self, kind: str, *args, stream: bool = False) -> tuple[int, queue.Queue]:
        with self._lock:
            self._ensure_started()
            rid = next(self._ids)
            self._last_id = rid
            replies: queue.Queue = queue.Queue()
            self._waiters[rid] = (replies, self._process)
            if stream:
                self._streams.add(rid)
            try:
                self._conn.send((kind, rid, *args))
            except (OSError, ValueError):
                replies.put(_DEAD)
            return rid, replies

    def _ask(self, kind: str, *args) -> tuple:
        """One request, its one reply."""
        rid, replies = self._request(kind, *args)
        try:
            return replies.get()
        finally:
            self._forget(rid)

    def _forget(self, rid: int) -> None:
        with self._lock:
            self._waiters.pop(rid, None)
            self._streams.discard(rid)

    def _stop_requests(self, up_to: int) -> None:
        """Stop every answer with an id up to `up_to`: at the next token, or now while its prompt
        is still being read."""
        with self._lock:
            self._cancel.value = max(self._cancel.value, up_to)
            for rid in [r for r in self._streams if r <= up_to]:
                self._waiters[rid][0].put(_STOPPED)
                self._streams.discard(rid)
            phase = self._prompt_phase.value
            if phase and phase <= up_to and self._process is not None:
                # llama.cpp cannot be interrupted inside prompt processing: end the process; the
                # next request loads the model again.
                process = self._process
                self._process = self._conn = None
                process.kill()
                self._prompt_phase.value = 0
                self.restarts += 1

    def _crash_message(self, exitcode: int | None = None, loading: bool = False) -> str:
        what = "while loading this file" if loading else "while answering"
        code = ""
        if exitcode is not None and exitcode < 0:
            try:
                code = f" (killed by {signal.Signals(-exitcode).name})"
            except ValueError:
                code = f" (killed by signal {-exitcode})"
        elif exitcode is not None:
            code = f" (exit status {exitcode})"
        detail = log_tail(self._log)
        reason = f": {detail}" if detail else ""
        return f"llama.cpp crashed {what}{code}{reason}"

    def __del__(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None and process.is_alive():
            process.kill()


_tracker_lock = threading.Lock()


def ensure_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real stderr.

    Spawning starts the tracker on first use and hands it `sys.stderr.fileno()`; inside a Textual app
    stderr is a capture object whose fileno() is -1, and the spawn fails ("bad value(s) in fds_to_keep").
    """
    from multiprocessing import resource_tracker

    with _tracker_lock:
        try:
            usable = sys.stderr.fileno() >= 0
        except (AttributeError, OSError, ValueError):
            usable = False
        if usable:
            resource_tracker.ensure_running()
            return
        captured, sys.stderr = sys.stderr, sys.__stderr__
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = captured


def _plain(message: Message) -> dict:
    return {"role": message.role, "content": message.content}


def log_tail(fd: int | None, lines: int = 3, window: int = 64 * 1024) -> str:
    """What a dead worker last said about why (the native error), as one line."""
    if fd is None:
        return ""
    try:
        size = os.fstat(fd).st_size
        text = os.pread(fd, window, max(0, size - window)).decode("utf-8", "replace")
    except OSError:
        return ""
    said = [line.strip() for line in text.splitlines() if line.strip()]
    telling = [line for line in said if _TELLING.search(line)]
    return " / ".join((telling or said)[-lines:])[-400:]


_TELLING = re.compile(r"error|what\(\)|terminate|abort|assert|fault|exception", re.IGNORECASE)
