"""Writing what llmtui keeps: one error for every storage fault, whole-file writes, waiting writes.

- `StorageError`: a full disk, a read-only folder, a busy or damaged database, as one line a user
  can act on (`message`, `title`). It is an `OSError`, so code that already expects I/O faults
  keeps working.
- `write_atomic`: a file written whole (settings, exports, journals, caches) goes to a temporary
  file in the same folder and is renamed over the old one: a reader, a crash or a full disk sees
  the old file or the new one, never half of one.
- `WriteQueue`: writes that failed for a storage fault wait, in order, and are made at the next
  write or by a retry timer; the stores use it so that what is in memory is saved once writing
  works again. See docs/storage.md.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core.errors import LlmtuiError

if TYPE_CHECKING:
    import sqlite3

RETRY_SECONDS = 5.0  # how often waiting writes are tried again

# SQLite's primary result codes (extended codes share their prefix) -> what the user is told.
_SQLITE_REASONS = {
    "SQLITE_FULL": "the disk is full",
    "SQLITE_READONLY": "the folder or file is read-only",
    "SQLITE_CANTOPEN": "the file cannot be opened (a missing or read-only folder?)",
    "SQLITE_PERM": "permission denied",
    "SQLITE_AUTH": "permission denied",
    "SQLITE_BUSY": "another llmtui is writing to it (busy)",
    "SQLITE_LOCKED": "another llmtui is writing to it (locked)",
    "SQLITE_IOERR": "the disk reported an I/O error",
    "SQLITE_CORRUPT": "the database is damaged",
    "SQLITE_NOTADB": "the file is not a database (damaged?)",
}
# The same faults by message, for Pythons whose sqlite3 errors carry no code name (3.10).
_SQLITE_MESSAGES = {
    "database or disk is full": "SQLITE_FULL",
    "readonly database": "SQLITE_READONLY",
    "unable to open database file": "SQLITE_CANTOPEN",
    "database is locked": "SQLITE_BUSY",
    "database table is locked": "SQLITE_LOCKED",
    "disk i/o error": "SQLITE_IOERR",
    "malformed": "SQLITE_CORRUPT",
    "file is not a database": "SQLITE_NOTADB",
}
_OS_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (a read-only folder?)",
    errno.EPERM: "permission denied",
}


class StorageError(LlmtuiError, OSError):
    """Something could not be saved or read back: one line for the user."""

    severity = "error"

    def __init__(self, message: str, *, kind: str = "", title: str = "Cannot save") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # the SQLite code name or errno name, for tests and logs
        self.title = title

    def waiting(self) -> StorageError:
        """This fault as told when what it stopped is kept in memory and written later."""
        return StorageError(
            f"{self.message}; kept in memory and saved when writing works again",
            kind=self.kind,
            title="Not saved yet",
        )

    def __str__(self) -> str:
        return self.message


def sqlite_code(error: sqlite3.Error) -> str:
    """SQLITE_FULL, SQLITE_CORRUPT, ... for an sqlite3 error ('' when it is none of the faults)."""
    name = getattr(error, "sqlite_errorname", "") or ""  # Python 3.11+
    for code in _SQLITE_REASONS:
        if name.startswith(code):
            return code
    text = str(error).lower()
    return next((code for words, code in _SQLITE_MESSAGES.items() if words in text), "")


def storage_error(error: BaseException, path: Path, doing: str = "save to") -> StorageError | None:
    """`error` as a StorageError about `path`, or None when it is not a storage fault (a bug)."""
    import sqlite3  # here: the CLI imports this module to catch StorageError, at every start

    if isinstance(error, StorageError):
        return error
    if isinstance(error, sqlite3.Error):
        code = sqlite_code(error)
        if not code:
            return None
        return StorageError(f"cannot {doing} {path}: {_SQLITE_REASONS[code]}", kind=code)
    if isinstance(error, OSError):
        reason = _OS_REASONS.get(error.errno or 0) or (error.strerror or str(error))
        kind = errno.errorcode.get(error.errno or 0, "")
        return StorageError(f"cannot {doing} {path}: {reason}", kind=kind)
    return None


def read_json_object(path: Path) -> dict:
    """The JSON object a file holds, {} when it is missing, unreadable or holds something else:
    for caches and measurements, which are made again rather than reported."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_atomic(path: Path, text: str) -> None:
    """Write `path` whole: a temporary file in its folder, flushed to disk, then renamed over it.

    StorageError when it cannot be written; the old file is then left as it was.
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0o666 and the umask: the permissions a plain open() would give the file.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())  # the data is on disk before the name points at it
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    except OSError as error:
        raise storage_error(error, path, "write") from None


@dataclass(frozen=True)
class Saved:
    """Writes that had waited were made: `count` of them."""

    count: int
    title: str = "Saved"
    severity: str = "information"

    @property
    def message(self) -> str:
        return f"Writing works again: {self.count} waiting change(s) saved"


Report = Callable[[object], None]  # receives a StorageError, a Saved or a database Recovery


class WriteQueue:
    """Writes made in order; one that fails for a storage fault waits, with every later one.

    With `report`, a failed write is kept and `submit` returns False: `report` gets the
    StorageError once per outage (not once per write), and `Saved` when the waiting writes
    are finally made (at the next `submit`, `flush`, or by the retry timer every
    RETRY_SECONDS). `report` may be called from the timer's thread. Without `report`,
    `submit` raises the StorageError and keeps nothing (for scripts: they exit).

    A write is a function that does the whole change (in one transaction) and raises
    StorageError (or a storage fault `storage_error` recognises) when the storage fails.
    """

    def __init__(self, report: Report | None = None, retry_seconds: float = RETRY_SECONDS) -> None:
        self._report = report
        self._retry_seconds = retry_seconds
        self._waiting: deque[tuple[Callable[[], None], object]] = deque()
        self._lock = threading.RLock()
        self._outage: StorageError | None = None
        self._timer: threading.Timer | None = None
        self._closed = False

    @property
    def outage(self) -> StorageError | None:
        """The fault that makes writes wait (None while none does)."""
        return self._outage

    def waits_for(self, matches: Callable[[object], bool]) -> bool:
        """Whether a waiting write was submitted with a key that `matches`."""
        with self._lock:
            return any(matches(key) for _, key in self._waiting)

    def submit(self, write: Callable[[], None], key: object = None) -> bool:
        """Make `write` after the writes still waiting; True when it is on disk now.

        An error of `write` that is not a storage fault (a bug, a row deleted meanwhile) is
        raised here, as it would be without the queue.
        """
        with self._lock:
            if self._report is None:
                write()
                return True
            self._waiting.append((write, key))
            return self._flush(write)

    def flush(self) -> bool:
        """Make the waiting writes now; True when none is left waiting."""
        with self._lock:
            return self._flush(None)

    def _flush(self, submitted: Callable[[], None] | None) -> bool:
        made = 0
        while self._waiting:
            write, _ = self._waiting[0]
            try:
                write()
            except StorageError as error:
                self._failed(error)
                return False
            except Exception as error:
                # It can never succeed (what it changes was deleted meanwhile, or a bug), and
                # must not hold back the writes after it.
                self._waiting.popleft()
                if write is submitted:
                    raise
                self._report(StorageError(f"a waiting change could not be saved: {error}"))
                continue
            self._waiting.popleft()
            made += 1
        if self._outage is not None:
            self._outage = None
            self._cancel_timer()
            if made:
                self._report(Saved(made))
        return True

    def note(self, error: StorageError) -> None:
        """Report a fault met outside a write (opening the file): the writes that meet it next
        are not reported again."""
        with self._lock:
            self._outage = error
            self._report(error.waiting())

    def close(self) -> None:
        """Stop retrying (what still waits is given up)."""
        with self._lock:
            self._closed = True
            self._cancel_timer()

    def _failed(self, error: StorageError) -> None:
        first = self._outage is None or self._outage.message != error.message
        self._outage = error
        if self._timer is None and not self._closed:
            self._timer = threading.Timer(self._retry_seconds, self._retry)
            self._timer.daemon = True
            self._timer.start()
        if first:
            self._report(error.waiting())

    def _retry(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
        self.flush()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
