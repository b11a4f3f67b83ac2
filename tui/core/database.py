"""llmtui's one SQLite database (`AppPaths.database`): opening it, checking it, and migrations.

Conversations and comparisons keep their own tables in the same file, each with its own schema
version in `schema_versions`. Several copies of llmtui may use the file at once: WAL, a busy
timeout, and writes in `BEGIN IMMEDIATE` transactions (`transaction`). A file that fails SQLite's
quick check when a store opens it is moved aside and what can still be read is copied into a fresh
one (`check_database`). The SQLite behaviour this relies on is written down in docs/storage.md.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from tui.core.storage import Report, StorageError, WriteQueue, sqlite_code, storage_error

BUSY_TIMEOUT = 10.0  # seconds a write waits for another copy's write before it is "busy"
_DAMAGE = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_SIDE_FILES = ("-wal", "-shm", "-journal")
_FIRST_ROWID, _LAST_ROWID = -(2**63), 2**63 - 1


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating) the database: WAL, a busy timeout, foreign keys on; StorageError if it cannot.

    The connection is in autocommit mode: a write that changes several rows goes in `transaction`.
    """
    path = Path(path)
    with faults(path, "open"):
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, check_same_thread=False, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")  # readers never wait on the writer
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable across an app crash
            with transaction(conn):
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER)"
                )
        except BaseException:
            conn.close()
            raise
    return conn


@contextmanager
def faults(path: Path, doing: str = "save to") -> Iterator[None]:
    """sqlite3 and OS errors raised inside, as StorageError when they are storage faults."""
    try:
        yield
    except (OSError, sqlite3.Error) as error:
        fault = storage_error(error, path, doing)
        if fault is None:
            raise
        raise fault from None


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write: BEGIN IMMEDIATE takes the write lock first (waiting up to BUSY_TIMEOUT for another
    copy's write), so it never fails halfway for a lock; anything raised inside rolls it back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT (a full disk) may leave it open
            conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[str]) -> None:
    """Bring `component`'s tables up to date: run the scripts in `migrations` it has not run yet.

    Migrations are append-only: script i takes the component from version i to i + 1. The version
    is read inside the write transaction, so two copies starting at once migrate once.
    """
    with transaction(conn):
        row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
        version = row[0] if row else 0
        if version > len(migrations):
            raise sqlite3.DatabaseError(
                f"the {component} tables are from a newer llmtui (version {version}, this one "
                f"knows {len(migrations)})"
            )
        for number, script in enumerate(migrations[version:], start=version + 1):
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("INSERT OR REPLACE INTO schema_versions VALUES (?, ?)", (component, number))


class Database:
    """One store's use of the database file: opened, checked and migrated at first use; reads;
    writes that wait and are made again when the storage fails (`tui.core.storage.WriteQueue`).

    With `report`, nothing here raises for a storage fault at open or write: `report` is told
    (a StorageError, a `Recovery`, a `Saved`) and the write waits. Without it, StorageError is
    raised and nothing waits. Safe to use from several threads.
    """

    def __init__(
        self,
        path: Path,
        component: str,
        migrations: Sequence[str],
        report: Report | None = None,
    ) -> None:
        self.path = Path(path)
        self.recovery: Recovery | None = None
        self._component, self._migrations = component, migrations
        self._report = report
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # the open file's (device, inode)
        self._lock = threading.RLock()
        self._queue = WriteQueue(report)
        try:
            with self._lock:
                self._open()
        except StorageError as error:
            if report is None:
                raise
            self._queue.note(error)  # opened again at the next read or write

    @property
    def outage(self) -> StorageError | None:
        """Why writes wait (None while none does)."""
        return self._queue.outage

    def _open(self) -> sqlite3.Connection:
        if self._conn is not None and self._identity != _identity(self.path):
            # Another copy (or store) replaced a damaged file: this connection holds the old one.
            self._conn.close()
            self._conn = None
        if self._conn is None:
            recovery = check_database(self.path)
            conn = connect(self.path)
            try:
                with faults(self.path, "open"):
                    migrate(conn, self._component, self._migrations)
            except BaseException:
                conn.close()
                raise
            self._conn, self._identity = conn, _identity(self.path)
            if recovery is not None:
                self.recovery = recovery
                if self._report is not None:
                    self._report(recovery)
        return self._conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads (and writes nothing waits for, such as a cache); StorageError
        when the file cannot be used."""
        with self._lock, self._faults("read"):
            yield self._open()

    def write(self, change: Callable[[sqlite3.Connection], None], key: object = None) -> bool:
        """Make `change` in one transaction, after the writes that wait; True when it is on disk.

        `key` names what it changes (see `waits_for`); None: it may change anything.
        """

        def write() -> None:
            with self._lock, self._faults("save to"):
                with transaction(self._open()) as conn:
                    change(conn)

        return self._queue.submit(write, key)

    def waits_for(self, matches: Callable[[object], bool]) -> bool:
        """Whether a waiting write has a key that `matches` (or no key)."""
        return self._queue.waits_for(lambda key: key is None or matches(key))

    def flush(self) -> bool:
        """Make the waiting writes now; True when none is left waiting."""
        return self._queue.flush()

    def close(self) -> None:
        """Try the waiting writes once more, then close."""
        self._queue.flush()
        self._queue.close()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _faults(self, doing: str) -> Iterator[None]:
        try:
            with faults(self.path, doing):
                yield
        except StorageError as error:
            if error.kind in _DAMAGE and self._conn is not None:
                # Damaged while open: the next use opens it again, which checks and recovers it.
                self._conn.close()
                self._conn = None
            raise


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _statements(script: str) -> list[str]:
    """The statements of a script (a ';' inside a comment or string does not end one)."""
    statements, buffer = [], ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                statements.append(buffer.strip())
            buffer = ""
    return statements


# -- a damaged database ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recovery:
    """A damaged database was moved aside and what could be read copied into a fresh one."""

    damaged: Path  # where the damaged file is now
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows recovered
    title: str = "The history database was damaged"
    severity: str = "warning"

    @property
    def message(self) -> str:
        conversations, comparisons = self.rows.get("conversations", 0), self.rows.get("compare_runs", 0)
        return (
            f"recovered {conversations} conversation(s) and {comparisons} comparison(s); the damaged file "
            f"is kept as {self.damaged}"
        )


def check_database(path: Path) -> Recovery | None:
    """SQLite's quick check of the file; a damaged one is replaced by what can be read of it.

    The damaged file (and its -wal/-shm) is renamed with a timestamp, never deleted or
    overwritten. Returns None when the file is sound or absent; StorageError when it cannot be
    checked or recovered (a read-only folder, a full disk: the damaged file then stays in place).
    """
    path = Path(path)
    if not path.exists():
        return None
    # Read-only: the check changes nothing in the file, not even a checkpoint of its WAL.
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)) as conn:
            verdict = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if verdict == ["ok"]:
            return None
    except sqlite3.Error as error:
        if sqlite_code(error) not in _DAMAGE:
            with faults(path, "open"):
                raise
    try:
        return _recover(path)
    except (OSError, sqlite3.Error) as error:
        reason = storage_error(error, path, "recover") or error
        raise StorageError(
            f"{path} is damaged and could not be recovered: {reason}",
            kind="SQLITE_CORRUPT",
            title="The history database is damaged",
        ) from None


def _recover(path: Path) -> Recovery:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = _unused(path.with_name(f"{path.name}.damaged-{stamp}"))
    scratch = _unused(path.with_name(f"{path.name}.reading-{stamp}"))
    fresh = _unused(path.with_name(f"{path.name}.recovered-{stamp}"))
    # Read from a copy: opening the damaged file itself would let SQLite change it (a checkpoint).
    for suffix in ("", "-wal"):
        if Path(f"{path}{suffix}").exists():
            shutil.copyfile(f"{path}{suffix}", f"{scratch}{suffix}")
    try:
        rows = _salvage(scratch, fresh)
    except BaseException:
        _remove(fresh)
        raise
    finally:
        _remove(scratch)
    for suffix in ("", *_SIDE_FILES):
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.rename(f"{aside}{suffix}")
    fresh.rename(path)
    return Recovery(aside, rows)


def _salvage(source: Path, target: Path) -> dict[str, int]:
    """Copy every row SQLite can still read from `source` into a new database `target`."""
    rows: dict[str, int] = {}
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        try:
            schema = src.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"
                " AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index'"
            ).fetchall()
        except sqlite3.DatabaseError:
            schema = []  # nothing can be found: the stores create their tables again
        # A virtual table (full-text search) makes its own shadow tables (named after it) and
        # is filled again from the rows recovered, not copied: its index may be what was damaged.
        virtual = [n for kind, n, sql in schema if kind == "table" and _is_virtual(sql)]
        tables = [
            n
            for kind, n, _ in schema
            if kind == "table" and not any(n == v or n.startswith(f"{v}_") for v in virtual)
        ]
        for _kind, name, sql in schema:
            if name in tables or name in virtual:
                dst.execute(sql)
        for table in tables:
            rows[table] = _copy_rows(src, dst, table)
        for kind, _, sql in schema:
            if kind != "table":
                try:
                    dst.execute(sql)  # indexes, triggers, views
                except sqlite3.DatabaseError:
                    pass  # a unique index the salvaged rows no longer satisfy: the table stays
        try:
            for name, seq in src.execute("SELECT name, seq FROM sqlite_sequence").fetchall():
                # Ids are never reused after a delete (AUTOINCREMENT): keep the counters.
                dst.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (seq, name))
        except sqlite3.DatabaseError:
            pass  # no AUTOINCREMENT table, or its counters are lost: the largest id is kept anyway
        # Rows whose parent was lost (a message without its conversation) are left out.
        orphans = dst.execute("PRAGMA foreign_key_check").fetchall()
        for table, rowid, _parent, _fk in orphans:
            dst.execute(f'DELETE FROM "{table}" WHERE rowid = ?', (rowid,))  # noqa: S608
            rows[table] -= 1
        for table in virtual:  # last, from the rows kept (full-text search's own 'rebuild')
            quoted = table.replace('"', '""')
            dst.execute(f'INSERT INTO "{quoted}" ("{quoted}") VALUES (\'rebuild\')')  # noqa: S608
        dst.commit()
    return rows


def _is_virtual(sql: str) -> bool:
    return sql.upper().split(None, 2)[:2] == ["CREATE", "VIRTUAL"]


def _copy_rows(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> int:
    """Copy `table` in rowid order; past a damaged page, go on from the first rowid that reads."""
    quoted = table.replace('"', '""')
    try:
        columns = [row[1] for row in src.execute(f'PRAGMA table_info("{quoted}")')]
    except sqlite3.DatabaseError:
        return 0
    names = ", ".join(f'"{c}"' for c in (c.replace('"', '""') for c in columns))
    select = f'SELECT rowid, {names} FROM "{quoted}" WHERE rowid >= ? ORDER BY rowid'  # noqa: S608
    insert = f'INSERT OR IGNORE INTO "{quoted}" ({names}) VALUES ({", ".join("?" * len(columns))})'  # noqa: S608

    def first(rowid: int) -> tuple | None:
        """The first row from `rowid` on (None past the last); DatabaseError when damaged."""
        return src.execute(f"{select} LIMIT 1", (rowid,)).fetchone()

    def readable(rowid: int) -> bool:
        try:
            first(rowid)
        except sqlite3.DatabaseError:
            return False
        return True

    copied, start = 0, _FIRST_ROWID
    while True:
        try:
            for row in src.execute(select, (start,)):
                dst.execute(insert, row[1:])
                copied += 1
                start = row[0] + 1
            return copied
        except sqlite3.DatabaseError:
            pass
        # sqlite3 steps to the next row before it hands over this one: the row that failed may
        # be a readable one just before the damage. Go on one row at a time until one fails.
        try:
            while (row := first(start)) is not None:
                dst.execute(insert, row[1:])
                copied += 1
                start = row[0] + 1
            return copied
        except sqlite3.DatabaseError:
            pass
        # Rows from `start` on cannot be read: look further ahead, doubling the step, then
        # bisect back to the first rowid that reads (no readable row is jumped over).
        failing, step = start, 1
        while not readable(min(failing + step, _LAST_ROWID)):
            if failing + step >= _LAST_ROWID:
                return copied
            step *= 2
        reads = min(failing + step, _LAST_ROWID)
        while reads - failing > 1:
            middle = (failing + reads) // 2
            failing, reads = (failing, middle) if readable(middle) else (middle, reads)
        start = reads


def _unused(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`, ...: a name no file has (so nothing is overwritten)."""
    candidate, number = path, 1
    while any(Path(f"{candidate}{s}").exists() for s in ("", *_SIDE_FILES)):
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def _remove(path: Path) -> None:
    for suffix in ("", *_SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class Store:
    """What every store of a component's tables shares: the database, its recovery, flush, close."""

    COMPONENT = ""
    MIGRATIONS: Sequence[str] = ()

    def __init__(self, path: Path, report: Report | None = None) -> None:
        self.path = Path(path)
        self._db = Database(self.path, self.COMPONENT, self.MIGRATIONS, report)

    @property
    def recovery(self) -> Recovery | None:
        """What was recovered from a damaged file when this store opened it."""
        return self._db.recovery

    def flush(self) -> bool:
        """Make the waiting writes now; True when nothing waits."""
        return self._db.flush()

    def close(self) -> None:
        self._db.close()
