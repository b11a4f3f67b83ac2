"""The download manager: GGUF files from the Hub into the Hugging Face cache, reliably.

huggingface-hub's `hf_hub_download` never reuses a partial file across processes (its `.incomplete`
name is process-unique), checks only sizes, merely warns on low disk space and fetches a file over
one connection. So llmtui downloads with the library's public building blocks (`hf_hub_url`,
`get_hf_file_metadata` for the commit, etag, size and the final URL, `build_hf_headers` for the
token, and its HTTP client, `get_session`, whose bytes urllib3 carries: `hub_http`) into partial
files of its own under `AppPaths.downloads_dir`:

- `<id>.part` is the file at its final size, filled in place; `<id>.ranges` says which bytes of it
  have arrived (`_Plan`), updated after every write, so a download resumes at the exact byte, also
  after a kill -9 or a reboot; `<id>.json` says what the file is (repo, file, revision, size,
  sha256, queued or paused); `<id>.lock` keeps two processes off the same file;
- when the server honours byte ranges, one file comes over up to `connections` connections, each
  fetching pieces of it (the first piece's answer decides: a server that ignores the Range header
  gets one connection, as `curl` would use);
- every attempt asks the Hub for fresh metadata; dropped connections, stalls (no byte for
  `stall_seconds`: the read timeout), 429s and 5xx are retried with exponential backoff, per
  connection, in the open (state `retrying`, with the reason and the wait);
- free space is checked before starting (counting the other downloads in flight);
- the sha256 is computed over the whole file in order while the pieces arrive (they are taken in
  order, so the hash follows close behind) and compared with the Hub's LFS sha256; a mismatch
  deletes the file. Only then is the file moved into the cache's own layout (`blobs/<sha256>`, the
  `snapshots/<commit>/<name>` link, `refs/<revision>`), where `hf`, `scan_cache_dir` and
  `hf_hub_download` find it;
- names from the Hub are untrusted: repo ids, file names, commits and etags are validated, and every
  path is checked to stay inside the cache.

Workers are plain threads; `on_event` receives `Status` snapshots from them (state changes at once,
progress at most `rate` times a second per file); it must not block. Nothing here knows about
Textual.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from tui.core.errors import LlmtuiError
from tui.core.models import hf_compat, hub
from tui.core.models.fit import human_bytes
from tui.core.storage import read_json_object, write_atomic

MiB = 1 << 20
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_COMMIT = re.compile(r"[0-9a-f]{40}")
_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_BACKOFF = 60.0  # seconds between retries, at the most


class State(str, Enum):
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    RETRYING = "retrying"
    PAUSED = "paused"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (State.DOWNLOADING, State.RETRYING, State.VERIFYING)

    @property
    def running(self) -> bool:
        """Queued or active: more statuses are on their way."""
        return self == State.QUEUED or self.active

    @property
    def finished(self) -> bool:
        return self in (State.DONE, State.FAILED, State.CANCELLED)


@dataclass(frozen=True)
class FileRequest:
    repo_id: str
    filename: str
    size: int | None = None
    sha256: str | None = None  # the Hub's LFS sha256, from the file listing
    revision: str = "main"
    joins: tuple[str, ...] = ()  # a byte-split part: every part of its set, in order

    @property
    def id(self) -> str:
        key = f"{self.repo_id}\0{self.revision}\0{self.filename}".encode()
        return hashlib.sha256(key).hexdigest()[:20]


def requests_for(file: hub.QuantFile, revision: str = "main") -> list[FileRequest]:
    """The downloads of one picker entry: its file, or each part of a split one."""
    joins = tuple(p.filename for p in file.parts) if file.joined else ()
    return [
        FileRequest(file.repo_id, p.filename, p.size, p.sha256, revision, joins)
        for p in file.parts
    ]


@dataclass(frozen=True)
class Status:
    id: str
    request: FileRequest
    state: State
    done: int = 0
    total: int | None = None
    speed: float = 0.0  # bytes per second, over the last few seconds
    attempt: int = 0  # retries since the last byte arrived
    retry_in: float | None = None
    message: str | None = None  # why it failed / is retrying / was refused
    path: Path | None = None  # the verified file in the cache, once done
    received_at: float | None = None  # time.monotonic() when bytes last arrived

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None

    @property
    def eta(self) -> float | None:
        if not self.total or self.speed <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.speed)

    def stalled_for(self, now: float) -> float:
        """Seconds without a byte while downloading (its speed and ETA are then stale); else 0."""
        if self.state != State.DOWNLOADING or self.received_at is None:
            return 0.0
        return max(0.0, now - self.received_at)


class DownloadError(LlmtuiError):
    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind


class _Stopped(Exception):
    """Raised inside a worker when the user paused or cancelled, or the manager closes."""


def disk_free(path: Path) -> int:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return 0


class _Job:
    def __init__(self, request: FileRequest, state: State) -> None:
        self.request = request
        self.status = Status(request.id, request, state, total=request.size)
        self.stop = threading.Event()
        self.stop_reason: State | None = None  # PAUSED, CANCELLED, or QUEUED on shutdown
        self.thread: threading.Thread | None = None
        self.samples: deque[tuple[float, int]] = deque(maxlen=64)
        self.last_emit = 0.0
        self.reserved = 0


class DownloadManager:
    def __init__(
        self,
        *,
        work_dir: Path,
        concurrency: int = 2,
        connections: int = 8,
        piece_size: int | None = None,
        stall_seconds: float = 30.0,
        retries: int = 6,
        backoff: float = 1.0,
        free_space: Callable[[Path], int] = disk_free,
        spare: int = 64 * MiB,
        rate: float = 10.0,
        on_event: Callable[[Status], None] | None = None,
    ) -> None:
        self.work_dir = Path(work_dir)
        self.concurrency = max(1, concurrency)
        self.connections = max(1, connections)
        self.piece_size = piece_size  # None: sized to the file (`_piece_size`)
        self.stall_seconds = stall_seconds
        self.retries = retries
        self.backoff = backoff
        self.free_space = free_space
        self.spare = spare
        self.interval = 1.0 / rate
        self.on_event = on_event
        self._jobs: dict[str, _Job] = {}
        self._order: list[str] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._closed = False
        from tui.core.models import hub_http

        hub_http.install()  # huggingface-hub's client carries the bytes with urllib3

    @property
    def cache(self) -> Path:
        return hub.cache_dir()

    # -- public API (any thread) -------------------------------------------------------------------

    def submit(self, request: FileRequest) -> str:
        """Queue a file (a no-op if it is already queued or running); returns its id."""
        if not hub.valid_repo_id(request.repo_id):
            raise DownloadError(f"{request.repo_id!r} is not a repository id", "bad_input")
        if not hub.safe_filename(request.filename):
            raise DownloadError(f"refusing the unsafe file name {request.filename!r}", "bad_input")
        with self._lock:
            job = self._jobs.get(request.id)
            if job is not None and job.status.state.running:
                return request.id
            if job is None or job.status.state.finished:
                job = self._jobs[request.id] = _Job(request, State.QUEUED)
                if request.id in self._order:
                    self._order.remove(request.id)
                self._order.append(request.id)
            self._set(job, state=State.QUEUED, message=None, done=self._part_size(request.id))
            self._journal(job.request, "queued")
            self._schedule()
        return request.id

    def pause(self, job_id: str) -> None:
        self._interrupt(job_id, State.PAUSED)

    def cancel(self, job_id: str) -> None:
        self._interrupt(job_id, State.CANCELLED)

    def resume(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if job.thread is not None and job.stop_reason == State.PAUSED:
                job.stop_reason = State.QUEUED  # paused and resumed before the worker stopped
                self._journal(job.request, "queued")
                self._set(job, state=State.QUEUED, message=None)
            elif job.status.state in (State.PAUSED, State.FAILED):
                self.submit(job.request)

    def statuses(self) -> list[Status]:
        with self._lock:
            return [self._jobs[i].status for i in self._order]

    def status(self, job_id: str) -> Status | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.status if job else None

    def wait(self, job_id: str, timeout: float | None = None) -> Status:
        """Block until a job is done, failed, cancelled or paused (or `timeout` seconds pass)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._jobs[job_id].status.state.running, timeout)
            return self._jobs[job_id].status

    def restore(self) -> list[str]:
        """Pick up what an earlier run left: queued downloads restart, paused ones wait.

        Also removes orphaned partial files (ours without a journal, and huggingface-hub's
        `.incomplete` files whose download is not running any more)."""
        ids = []
        for path in sorted(self.work_dir.glob("*.json")):
            data = read_json_object(path)
            try:
                request = FileRequest(**data["request"])
                request = replace(request, joins=tuple(request.joins))
                state = data["state"]
            except (KeyError, TypeError):
                continue
            if request.id != path.stem:
                continue
            if state == "paused":
                with self._lock:
                    job = self._jobs[request.id] = _Job(request, State.PAUSED)
                    self._order.append(request.id)
                    self._set(job, done=self._part_size(request.id), message=data.get("message"))
            else:
                self.submit(request)
            ids.append(request.id)
        clean_orphans(self.cache, self.work_dir)
        return ids

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker; unfinished downloads stay queued in the journal for the next start."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
            for job in jobs:
                if job.thread is not None and job.stop_reason is None:
                    job.stop_reason = State.QUEUED
                    job.stop.set()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout)

    # -- scheduling --------------------------------------------------------------------------------

    def _interrupt(self, job_id: str, reason: State) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status.state.finished:
                return
            if job.thread is not None:
                # The worker stops at its next chunk, or when a stalled read times out; the user
                # sees the new state now.
                job.stop_reason = reason
                job.stop.set()
                if reason == State.PAUSED:
                    self._journal(job.request, "paused")
                else:
                    self._discard(job_id)  # again when the worker lets go (where unlink failed)
                self._set(job, state=reason, speed=0.0, retry_in=None)
                return
            if reason == State.CANCELLED:
                self._discard(job_id)
                self._set(job, state=State.CANCELLED, message=None, retry_in=None)
            elif job.status.state != State.PAUSED:
                self._journal(job.request, "paused")
                self._set(job, state=State.PAUSED, retry_in=None)

    def _schedule(self) -> None:
        """Start queued downloads while fewer than `concurrency` run."""
        with self._lock:
            if self._closed:
                return
            running = sum(1 for j in self._jobs.values() if j.thread is not None)
            for job_id in self._order:
                if running >= self.concurrency:
                    break
                job = self._jobs[job_id]
                if job.status.state == State.QUEUED and job.thread is None:
                    job.stop = threading.Event()
                    job.stop_reason = None
                    job.thread = threading.Thread(
                        target=self._work, args=(job,), name=f"download-{job_id}", daemon=True
                    )
                    running += 1
                    job.thread.start()

    def _set(self, job: _Job, *, force: bool = True, **changes) -> None:
        with self._lock:
            if job.stop.is_set() and "state" in changes and changes["state"].active:
                del changes["state"]  # paused or cancelled: the winding-down worker keeps quiet
            job.status = replace(job.status, **changes)
            status = job.status
            if "state" in changes:  # all `wait` looks at; progress would only wake it for nothing
                self._changed.notify_all()
        now = time.monotonic()
        if not force and now - job.last_emit < self.interval:
            return
        job.last_emit = now
        if self.on_event is not None:
            with suppress(Exception):  # a broken listener must not kill a download
                self.on_event(status)

    def _work(self, job: _Job) -> None:
        request = job.request
        try:
            path = self._download(job)
        except _Stopped:
            reason = job.stop_reason or State.PAUSED
            if reason == State.CANCELLED:
                self._discard(request.id)
            else:
                self._journal(request, "paused" if reason == State.PAUSED else "queued")
            final = dict(state=reason, retry_in=None, speed=0.0)
        except DownloadError as error:
            if error.kind != "verify":
                self._journal(request, "paused", message=str(error))
            final = dict(state=State.FAILED, message=str(error), retry_in=None, speed=0.0)
        except Exception as error:  # noqa: BLE001 - a bug must show as a failure, not a hang
            self._journal(request, "paused", message=str(error))
            final = dict(state=State.FAILED, message=f"unexpected error: {error}", speed=0.0)
        else:
            final = dict(state=State.DONE, path=path, message=None, retry_in=None, speed=0.0)
        with self._lock:
            job.thread = None
            job.reserved = 0
            self._set(job, **final)
            self._schedule()

    # -- one file ----------------------------------------------------------------------------------

    def _download(self, job: _Job) -> Path:
        from filelock import FileLock, Timeout

        request = job.request
        if hub.offline():
            cached = self._cached(request, request.revision)
            if cached is None:
                raise DownloadError(hub.OFFLINE_MESSAGE, "offline")
            return cached
        self.work_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.work_dir / f"{request.id}.lock")
        while True:
            try:
                held = lock.acquire(timeout=0)
                break
            except Timeout:  # another llmtui (or a worker winding down) has it: wait our turn
                self._set(job, message="waiting: another llmtui process is downloading this file")
                if job.stop.wait(min(2.0, self.backoff)):
                    raise _Stopped from None
        with held:
            return self._download_locked(job)

    def _download_locked(self, job: _Job) -> Path:
        request = job.request
        part, ranges = self._paths(request.id)
        plan: _Plan | None = None
        failures = 0
        last_done = -1
        try:
            while True:
                self._check_stop(job)
                try:
                    meta = self._metadata(request)
                    cached = self._cached(request, meta.commit)
                    if cached is not None:
                        self._discard(request.id)
                        return cached
                    if meta.sha256 != self._journal_sha(request.id) or (
                        plan is not None and plan.size != meta.size
                    ):
                        if plan is not None:  # another version of the file
                            plan.close()
                            plan = None
                        for path in (part, ranges):
                            path.unlink(missing_ok=True)
                        self._journal(replace(request, sha256=meta.sha256, size=meta.size), "queued")
                    if plan is None:
                        self._set(job, state=State.DOWNLOADING, message="checking the partial file")
                        plan = _Plan.open(part, ranges, meta.size, self._piece_size(meta.size))
                    self._check_space(job, meta.size - plan.done, meta.size)
                    self._set(job, state=State.DOWNLOADING, total=meta.size, done=plan.done,
                              message=None, retry_in=None)  # fmt: skip
                    self._fetch(job, meta, plan)
                    break
                except (_Stopped, DownloadError):
                    raise
                except Exception as error:  # noqa: BLE001 - sorted into retryable or not by _back_off
                    done = job.status.done
                    failures = 1 if done > last_done else failures + 1
                    last_done = done
                    self._back_off(job, error, failures)
            self._set(job, state=State.VERIFYING, message=None, speed=0.0)
            digest = plan.hexdigest()
        finally:
            if plan is not None:
                plan.close()
        if digest != meta.sha256:
            self._discard(request.id)
            raise DownloadError(
                f"{request.filename} failed verification: its sha256 is {digest}, the Hub says "
                f"{meta.sha256}. The file was deleted.",
                "verify",
            )
        path = self._place(request, meta, part)
        self._discard(request.id)
        if request.joins:
            return self._join(request, meta.commit) or path
        return path

    def _back_off(self, job: _Job, error: Exception, failures: int) -> None:
        """Wait before retrying after `error` (in the open); DownloadError when it is not worth a
        retry, or after `retries` failures in a row."""
        problem = _classify(error, job.request)
        if not problem.retryable:
            raise DownloadError(str(problem), problem.kind) from None
        if failures > self.retries:
            raise DownloadError(f"gave up after {self.retries} retries: {problem}", problem.kind) from None
        wait = min(MAX_BACKOFF, self.backoff * 2 ** (failures - 1))
        if problem.retry_after is not None:
            wait = min(MAX_BACKOFF, max(wait, problem.retry_after))
        self._set(job, state=State.RETRYING, attempt=failures, retry_in=wait,
                  message=str(problem), speed=0.0)  # fmt: skip
        if job.stop.wait(wait):
            raise _Stopped from None

    def _piece_size(self, size: int) -> int:
        """Pieces of 8-64 MiB, about four per connection: few requests, and the bytes arrive close
        enough to in order for the hash to follow them (`_Plan`). One connection: one piece."""
        if self.piece_size is not None:
            return self.piece_size
        if self.connections == 1:
            return max(1, size)
        return min(64 * MiB, max(8 * MiB, size // (4 * self.connections)))

    def _check_stop(self, job: _Job) -> None:
        if job.stop.is_set():
            raise _Stopped

    def _metadata(self, request: FileRequest) -> _Meta:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        url = hf_hub_url(
            request.repo_id, request.filename, revision=request.revision, endpoint=hub.endpoint()
        )
        meta = get_hf_file_metadata(url, timeout=self.stall_seconds, endpoint=hub.endpoint())
        etag, commit = meta.etag or "", meta.commit_hash or ""
        if not _COMMIT.fullmatch(commit):
            raise DownloadError(f"the Hub sent an invalid commit id for {request.filename}", "hub")
        sha = etag if _SHA256.fullmatch(etag) else (request.sha256 or "")
        if not _SHA256.fullmatch(sha) or not _HEX.fullmatch(etag):
            raise DownloadError(
                f"{request.filename} has no sha256 on the Hub, so it cannot be verified", "hub"
            )
        size = meta.size if meta.size is not None else request.size
        if size is None:
            raise DownloadError(f"the Hub did not say how large {request.filename} is", "hub")
        return _Meta(url, meta.location, etag, commit, size, sha)

    def _fetch(self, job: _Job, meta: _Meta, plan: _Plan) -> None:
        """Fill in the missing pieces: one connection first; when its answer honours the Range
        header, the others join it. Returns when every piece is in, raises what made one fail."""
        from huggingface_hub.utils import build_hf_headers

        headers = build_hf_headers(library_name="llmtui")
        if _origin(meta.location) != _origin(meta.url):
            headers.pop("authorization", None)  # a signed CDN URL: the token stays with the Hub
        headers["Accept-Encoding"] = "identity"  # a compressed answer ignores the Range
        plan.on_progress = lambda done: self._progress(job, done)
        while not plan.complete:
            plan.reset_run()
            wanted = min(self.connections, plan.open_pieces())
            first = self._start_connection(job, meta, plan, headers)
            plan.answered.wait()  # set by the first answer, or when that connection gives up
            threads = [first]
            if plan.ranges and not plan.failure:
                threads += [
                    self._start_connection(job, meta, plan, headers) for _ in range(wanted - 1)
                ]
            for thread in threads:
                thread.join()
            self._check_stop(job)
            if plan.failure is not None:
                raise plan.failure
            if not plan.complete and not plan.ranges:
                plan.restart_whole()  # ranges stopped being honoured: one connection, from 0

    def _start_connection(self, job: _Job, meta: _Meta, plan: _Plan, headers) -> threading.Thread:
        thread = threading.Thread(target=self._connection, args=(job, meta, plan, headers),
                                  name=f"download-{job.request.id}-part", daemon=True)  # fmt: skip
        thread.start()
        return thread

    def _connection(self, job: _Job, meta: _Meta, plan: _Plan, headers: dict) -> None:
        """One connection's loop: take a piece, fetch it, retry it after a drop (with backoff)."""
        failures = 0
        try:
            while (piece := plan.take()) is not None:
                if piece is WAIT:
                    if job.stop.wait(0.1):
                        return
                    continue
                assert isinstance(piece, _Piece)
                before = plan.done
                try:
                    self._fetch_piece(job, meta, plan, piece, headers)
                except _Stopped:
                    return
                except Exception as error:  # noqa: BLE001 - sorted into retryable or not by _back_off
                    plan.release(piece)
                    failures = 1 if plan.done > before else failures + 1
                    self._back_off(job, error, failures)
                else:
                    failures = 0
                    plan.release(piece)
        except _Stopped:
            pass
        except Exception as error:  # noqa: BLE001 - the job fails with it, the others stop
            plan.fail(error if isinstance(error, DownloadError) else DownloadError(
                f"unexpected error: {error}", "server"))  # fmt: skip
        finally:
            plan.answered.set()

    def _fetch_piece(self, job: _Job, meta: _Meta, plan: _Plan, piece: _Piece, headers) -> None:
        import httpx2
        from huggingface_hub import get_session
        from huggingface_hub.utils import hf_raise_for_status

        asked = piece.pos
        headers = {**headers, "Range": f"bytes={asked}-{piece.end - 1}"}
        with get_session().stream(
            "GET", meta.location, headers=headers, timeout=self._read_timeout()
        ) as response:
            hf_raise_for_status(response)
            if response.status_code == 200:
                # The server sent the whole file: fine for the only connection, which then
                # fetches it from the start; any other stops and leaves it the job.
                if not plan.whole_file(piece):
                    return
            else:
                plan.ranges_honoured()
                start = _content_range_start(response.headers.get("Content-Range"))
                if response.status_code != 206 or start != asked:
                    raise httpx2.RemoteProtocolError(
                        f"asked for bytes from {asked}, got {response.status_code} "
                        f"({response.headers.get('Content-Range')})"
                    )
            for data in response.iter_raw():
                if job.stop.is_set() or plan.failure is not None:
                    raise _Stopped
                if not plan.write(piece, data):
                    return  # another connection took the rest of this piece
            if piece.pos < piece.end:
                raise httpx2.RemoteProtocolError("the server sent fewer bytes than it announced")

    def _read_timeout(self) -> float:
        """The stall detector: HF_HUB_DOWNLOAD_TIMEOUT, when set, wins over the setting."""
        try:
            return float(os.environ["HF_HUB_DOWNLOAD_TIMEOUT"])
        except (KeyError, ValueError):
            return self.stall_seconds

    def _progress(self, job: _Job, done: int) -> None:
        now = time.monotonic()
        job.samples.append((now, done))
        while len(job.samples) > 2 and now - job.samples[0][0] > 3.0:
            job.samples.popleft()
        t0, d0 = job.samples[0]
        speed = (done - d0) / (now - t0) if now > t0 else job.status.speed
        if job.status.state == State.RETRYING:  # bytes again after an in-library resume
            self._set(job, state=State.DOWNLOADING, message=None, retry_in=None, done=done)
        self._set(job, force=False, done=done, speed=speed, attempt=0, received_at=now)

    def _check_space(self, job: _Job, remaining: int, size: int) -> None:
        with self._lock:
            others = sum(j.reserved for j in self._jobs.values() if j is not job)
            job.reserved = remaining
        cache = self.cache
        cache.mkdir(parents=True, exist_ok=True)
        needs = [(self.work_dir, remaining + others)]
        if os.stat(cache).st_dev != os.stat(self.work_dir).st_dev:
            needs.append((cache, size + others))  # the finished file is copied across
        for where, need in needs:
            free = self.free_space(where)
            if free - self.spare < need:
                job.reserved = 0
                raise DownloadError(
                    f"Not enough disk space for {job.request.filename}: it needs "
                    f"{human_bytes(need)} more and {where} has {human_bytes(free)} free"
                    f" (keeping {human_bytes(self.spare)} spare). Free some space, then resume.",
                    "disk",
                )

    # -- the cache --------------------------------------------------------------------------------

    def _storage(self, repo_id: str) -> Path:
        from huggingface_hub.file_download import repo_folder_name

        return self.cache / repo_folder_name(repo_id=repo_id, repo_type="model")

    def _cached(self, request: FileRequest, revision: str) -> Path | None:
        """The file in the cache at this revision (for a byte-split part, the joined file)."""
        from huggingface_hub import try_to_load_from_cache

        joined = hub.joined_name(request.filename) if request.joins else None
        for name in filter(None, (joined, request.filename)):
            found = try_to_load_from_cache(
                request.repo_id, name, cache_dir=self.cache, revision=revision
            )
            if isinstance(found, str) and Path(found).exists():
                return Path(found)
        return None

    _joining = threading.Lock()

    def _join(self, request: FileRequest, commit: str) -> Path | None:
        """Once every byte-split part is in the cache, they become the one GGUF they were cut
        from: a blob named by its sha256 (computed while copying), linked as `NAME.gguf` in the
        snapshot beside where the parts were, so `hf` and llama.cpp see an ordinary file; then
        the parts go (the disk keeps one copy). None while parts are missing."""

        snapshot = self._storage(request.repo_id) / "snapshots" / commit
        parts = [snapshot / name for name in request.joins]
        target = snapshot / (hub.joined_name(request.joins[0]) or "")
        with self._joining:
            if target.exists():
                return target
            if not all(p.exists() for p in parts):
                return None
            total = sum(p.stat().st_size for p in parts)
            free = self.free_space(self.work_dir)
            if free - self.spare < total:
                raise DownloadError(
                    f"Not enough disk space to join the parts of {target.name}: it needs "
                    f"{human_bytes(total)} and {self.work_dir} has {human_bytes(free)} free. Free some "
                    "space, then download it again (the parts are kept).",
                    "disk",
                )
            tmp = self.work_dir / f"{request.id}.joining"
            digest = hashlib.sha256()
            with tmp.open("wb") as out:
                for part in parts:
                    with part.open("rb") as f:
                        while block := f.read(_Hasher.BLOCK):
                            digest.update(block)
                            out.write(block)
            blob = snapshot.parents[1] / "blobs" / digest.hexdigest()
            shutil.move(tmp, blob)
            hf_compat.create_symlink(str(blob), str(target))
            for part in parts:
                part_blob = part.resolve()
                part.unlink()
                if not any(p.is_symlink() and p.resolve() == part_blob
                           for p in snapshot.parent.rglob("*")):  # fmt: skip
                    part_blob.unlink(missing_ok=True)
        return target

    def _place(self, request: FileRequest, meta: _Meta, part: Path) -> Path:
        storage = self._storage(request.repo_id)
        blob = storage / "blobs" / meta.etag
        pointer = storage / "snapshots" / meta.commit / request.filename
        root = self.cache.resolve()
        for path in (blob, pointer):
            if not path.resolve().is_relative_to(root):
                raise DownloadError(f"refusing to write {path} outside the cache", "bad_input")
            path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(part, blob)
        hf_compat.create_symlink(str(blob), str(pointer))
        if re.fullmatch(r"[A-Za-z0-9._\-]{1,100}", request.revision) and ".." not in request.revision:
            hf_compat.record_revision(str(storage), request.revision, meta.commit)
        return pointer

    # -- the journal ------------------------------------------------------------------------------

    def _paths(self, job_id: str) -> tuple[Path, Path]:
        """The partial file and the record of which of its bytes have arrived."""
        return self.work_dir / f"{job_id}.part", self.work_dir / f"{job_id}.ranges"

    def _part_size(self, job_id: str) -> int:
        return _Plan.received(*self._paths(job_id))

    def _journal(self, request: FileRequest, state: str, message: str | None = None) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if not request.sha256 and (sha := self._journal_sha(request.id)):
            request = replace(request, sha256=sha)
        data = {"request": asdict(request), "state": state, "message": message}
        write_atomic(self.work_dir / f"{request.id}.json", json.dumps(data))

    def _journal_sha(self, job_id: str) -> str | None:
        return (read_json_object(self.work_dir / f"{job_id}.json").get("request") or {}).get("sha256")

    def _discard(self, job_id: str) -> None:
        for suffix in (".part", ".ranges", ".json"):
            with suppress(OSError):  # still open in a worker, where open files cannot be unlinked
                (self.work_dir / f"{job_id}{suffix}").unlink(missing_ok=True)


@dataclass(frozen=True)
class _Meta:
    url: str
    location: str
    etag: str
    commit: str
    size: int
    sha256: str


class _Piece:
    """Bytes [start, end) of a file; `pos` is the next one wanted; `slot` its record; since
    `taken` (a monotonic time) its connection has fetched from `taken_at`."""

    __slots__ = ("start", "end", "pos", "slot", "busy", "taken", "taken_at")

    def __init__(self, start: int, end: int, pos: int, slot: int) -> None:
        self.start, self.end, self.pos, self.slot, self.busy = start, end, pos, slot, False
        self.taken, self.taken_at = 0.0, pos

    def take(self, now: float) -> _Piece:
        self.busy, self.taken, self.taken_at = True, now, self.pos
        return self

    def eta(self, now: float) -> float:
        """Seconds its connection needs for the rest, at its speed so far."""
        got = self.pos - self.taken_at
        return (self.end - self.pos) * (now - self.taken) / got if got > 0 else float("inf")


WAIT = object()  # `_Plan.take`: no piece now, but one may be worth splitting soon


class _Plan:
    """Which bytes of one file have arrived, and which connection fetches which of the rest.

    The pieces tile the file in order. Each is a record (start, end, pos) in `<id>.ranges`; after
    every write to the part file its `pos` is written there too, so what the record says has
    arrived has (a kill -9 loses neither: both are in the kernel's page cache), and a resumed
    download asks for exactly the bytes still missing. Reopening rebuilds the records from what
    arrived, whatever a crash left half-written.

    Connections take the first piece nobody fetches, so the file fills roughly in order and the
    sha256 (`_Hasher`) follows the `frontier`, the end of what arrived without a gap, reading the
    bytes back from the page cache: nothing is held in memory. When no piece is left, an idle
    connection takes the second half of what the slowest piece still wants, once that would take
    its connection more than SPLIT_AFTER seconds: one slow or hung connection does not hold up
    the end. A split abandons what the server had already sent beyond the middle (the socket
    buffers: little on a paced link, some MB on loopback), so a quick finish is left alone.
    All methods are thread-safe.
    """

    RECORD = struct.Struct("<QQQ")
    MIN_SPLIT = 2 * MiB  # a piece with less left is not worth a second request
    SPLIT_AFTER = 0.25

    def __init__(self, part: Path, ranges: Path, size: int, pieces: list[_Piece]) -> None:
        self.part, self.record_path, self.size, self.pieces = part, ranges, size, pieces
        self.done = sum(p.pos - p.start for p in pieces)
        self.ranges_ok: bool | None = None  # what the server's first answer said
        self.failure: DownloadError | None = None
        self.answered = threading.Event()
        self.on_progress: Callable[[int], None] | None = None
        self._lock = threading.Lock()
        self._head = 0  # the first piece not complete
        self._fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
        self._rfd = os.open(ranges, os.O_RDWR)
        if os.fstat(self._fd).st_size != size:
            os.ftruncate(self._fd, size)  # sparse: the disk check has counted what it needs
        self._advance_head()
        self.hasher = _Hasher(part)
        self.hasher.advance_to(self.frontier)

    @classmethod
    def open(cls, part: Path, ranges: Path, size: int, piece_size: int) -> _Plan:
        have = cls._arrived(part, ranges, size)
        pieces: list[_Piece] = []
        cursor = 0
        for a, b in [*have, (size, size)]:
            start = cursor
            while start < a:
                end = start + piece_size
                if a - end < piece_size // 2:
                    end = a  # no small last piece
                pieces.append(_Piece(start, end, start, len(pieces)))
                start = end
            if a < b:
                pieces.append(_Piece(a, b, b, len(pieces)))
            cursor = b
        tmp = ranges.with_suffix(".ranges-tmp")
        tmp.write_bytes(b"".join(cls.RECORD.pack(p.start, p.end, p.pos) for p in pieces))
        tmp.replace(ranges)
        return cls(part, ranges, size, pieces)

    @classmethod
    def _arrived(cls, part: Path, ranges: Path, size: int) -> list[tuple[int, int]]:
        """The byte intervals of the part file that arrived, merged, in order."""
        try:
            data = ranges.read_bytes()
        except OSError:  # none, or a part written front to back (by an older llmtui)
            try:
                return [(0, min(part.stat().st_size, size))] if part.stat().st_size else []
            except OSError:
                return []
        spans = sorted(
            (start, min(pos, end, size))
            for start, end, pos in cls.RECORD.iter_unpack(data[: len(data) // 24 * 24])
            if start < min(pos, end, size)
        )
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return merged

    @classmethod
    def received(cls, part: Path, ranges: Path) -> int:
        return sum(b - a for a, b in cls._arrived(part, ranges, 1 << 62))

    @property
    def complete(self) -> bool:
        return self.done == self.size

    @property
    def ranges(self) -> bool:
        return self.ranges_ok is not False

    @property
    def frontier(self) -> int:
        return self.pieces[self._head].pos if self._head < len(self.pieces) else self.size

    def open_pieces(self) -> int:
        with self._lock:
            return sum(1 for p in self.pieces if p.pos < p.end)

    def reset_run(self) -> None:
        self.answered.clear()

    def take(self) -> _Piece | object | None:
        """A piece to fetch; WAIT when only a split may come; None when this connection is done."""
        with self._lock:
            now = time.monotonic()
            if self.failure is not None:
                return None
            if self.ranges_ok is False and any(p.busy for p in self.pieces):
                return None  # a server that ignores ranges gets one connection
            for piece in self.pieces[self._head :]:
                if not piece.busy and piece.pos < piece.end:
                    return piece.take(now)
            if not self.ranges_ok:
                return None  # no splitting before the server has honoured a Range
            busy = [p for p in self.pieces if p.busy and p.end - p.pos >= 2 * self.MIN_SPLIT]
            if not busy:
                return None
            victim = max(busy, key=lambda p: p.eta(now))
            if victim.eta(now) < self.SPLIT_AFTER:
                return WAIT
            middle = victim.pos + (victim.end - victim.pos) // 2
            piece = _Piece(middle, victim.end, middle, self._records())
            self._record(piece)  # first the new record, then the shorter one: never a gap
            victim.end = middle
            os.pwrite(self._rfd, struct.pack("<Q", middle), victim.slot * 24 + 8)
            self.pieces.insert(self.pieces.index(victim) + 1, piece)
            return piece.take(now)

    def release(self, piece: _Piece) -> None:
        with self._lock:
            piece.busy = False

    def write(self, piece: _Piece, data: bytes) -> bool:
        """Store bytes that arrived for a piece; False once it has all it wants (it was split)."""
        with self._lock:
            room = piece.end - piece.pos
            view = memoryview(data)[:room]
            written = 0
            while written < len(view):  # a write may take part of a buffer (a disk filling up)
                written += os.pwrite(self._fd, view[written:], piece.pos + written)
            piece.pos += written
            os.pwrite(self._rfd, struct.pack("<Q", piece.pos), piece.slot * 24 + 16)
            self.done += written
            self._advance_head()
            self.hasher.advance_to(self.frontier)
            if self.on_progress is not None:
                self.on_progress(self.done)
            return len(data) <= room

    def ranges_honoured(self) -> None:
        with self._lock:
            self.ranges_ok = True
        self.answered.set()

    def whole_file(self, piece: _Piece) -> bool:
        """The server ignored the Range header. The only connection then takes the whole file
        from its first byte (True); any other leaves it to that one (False)."""
        with self._lock:
            self.ranges_ok = False
            alone = all(not p.busy for p in self.pieces if p is not piece)
        self.answered.set()
        if alone:
            self.restart_whole(piece)
        return alone

    def restart_whole(self, piece: _Piece | None = None) -> None:
        """Everything from byte 0 over one connection (for a server that ignores ranges)."""
        with self._lock:
            piece = piece or _Piece(0, 0, 0, 0)
            piece.start, piece.end, piece.pos, piece.slot = 0, self.size, 0, 0
            self.pieces = [piece]
            os.ftruncate(self._rfd, 0)
            self._record(piece)
            self.done = self._head = 0
            self.hasher.reset()

    def fail(self, error: DownloadError) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = error

    def hexdigest(self) -> str:
        return self.hasher.hexdigest()

    def close(self) -> None:
        self.hasher.close()
        for fd in (self._fd, self._rfd):
            os.close(fd)

    def _records(self) -> int:
        return os.fstat(self._rfd).st_size // 24

    def _record(self, piece: _Piece) -> None:
        os.pwrite(self._rfd, self.RECORD.pack(piece.start, piece.end, piece.pos), piece.slot * 24)

    def _advance_head(self) -> None:
        pieces = self.pieces
        while self._head < len(pieces) and pieces[self._head].pos == pieces[self._head].end:
            self._head += 1


class _Hasher:
    """sha256 of the part file, following its first bytes as they are written.

    A thread of its own reads what was written back from the page cache, a BLOCK at a time, and
    hashes it, overlapping with receiving and writing. The read and hashlib release the GIL for a
    whole block, so the threads hand it over a few times per BLOCK, not per network piece, which
    costs more than the hashing (bench/README.md, "Downloads"). Nothing is held in memory, however
    far the network runs ahead. `size` counts the bytes written; `close` waits until they are
    hashed. One thread at a time calls it (`_Plan` holds its lock).
    """

    BLOCK = 4 * MiB

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self.size = 0
        self._hashed = 0
        self._closing = False
        self._error: OSError | None = None
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def advance_to(self, size: int) -> None:
        """The file's first `size` bytes are written."""
        with self._wake:
            if size <= self.size:
                return
            self.size = size
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
                self._thread.start()
            elif self.size - self._hashed >= self.BLOCK:
                self._wake.notify()

    def _run(self) -> None:
        block = memoryview(bytearray(self.BLOCK))
        try:
            with self.path.open("rb", buffering=0) as f:
                f.seek(self._hashed)
                while True:
                    with self._wake:
                        while self.size - self._hashed < self.BLOCK and not self._closing:
                            self._wake.wait()
                        end = self.size
                        if self._hashed >= end:
                            return
                    while self._hashed < end:
                        n = f.readinto(block[: min(self.BLOCK, end - self._hashed)])
                        if not n:
                            raise OSError(f"{self.path.name} shrank while it was being hashed")
                        self.digest.update(block[:n])
                        self._hashed += n
        except OSError as error:
            self._error = error

    def close(self) -> None:
        """Hash everything written so far and end the thread (the next `advance` starts another)."""
        if self._thread is not None:
            with self._wake:
                self._closing = True
                self._wake.notify()
            self._thread.join()
            self._thread, self._closing = None, False

    def reset(self) -> None:
        self.close()
        self.digest = hashlib.sha256()
        self.size = self._hashed = 0
        self._error = None

    def hexdigest(self) -> str:
        self.close()
        if self._error is not None:
            raise self._error
        return self.digest.hexdigest()


def _content_range_start(value: str | None) -> int | None:
    """The first byte of a `Content-Range: bytes START-END/SIZE` answer."""
    m = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(?:\d+|\*)\s*", value or "")
    return int(m[1]) if m else None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _classify(error: BaseException, request: FileRequest) -> hub.HubError:
    import httpx2
    from huggingface_hub import errors

    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        return hub.HubError(
            f"The disk is full (writing {request.filename}): free some space, then resume;"
            " the part already downloaded is kept.",
            "disk",
        )
    if isinstance(error, (httpx2.HTTPError, errors.HfHubHTTPError, errors.OfflineModeIsEnabled)):
        return hub.explain(error, request.repo_id, request.filename)
    if isinstance(error, OSError) and "Consistency check failed" in str(error):
        return hub.HubError("the server sent fewer bytes than announced", "network", retryable=True)
    return hub.HubError(f"{type(error).__name__}: {error}", "server")


def clean_orphans(cache: Path, work_dir: Path) -> int:
    """Delete partial files nobody will resume; returns the bytes freed.

    Ours: a `.part` or `.ranges` without its journal. huggingface-hub's: a `<etag>.<random>.incomplete` blob
    whose download lock (`.locks/<repo>/<etag>.lock`) nobody holds, i.e. its process was killed."""
    from filelock import FileLock, Timeout

    freed = 0
    candidates = [
        (part, part.with_suffix(".lock"))
        for part in (*work_dir.glob("*.part"), *work_dir.glob("*.ranges"))
        if not part.with_suffix(".json").exists()
    ]
    for incomplete in cache.glob("models--*/blobs/*.incomplete"):
        etag = incomplete.name.split(".")[0]
        candidates.append((incomplete, cache / ".locks" / incomplete.parent.parent.name / f"{etag}.lock"))
    for path, lock_path in candidates:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            held = FileLock(lock_path).acquire(timeout=0)
        except Timeout:
            continue  # a download is writing it right now
        with held, suppress(OSError):
            size = path.stat().st_size
            path.unlink()
            freed += size
    return freed
