"""Comparisons on disk: the conversations' SQLite file (`AppPaths.database`), own tables.

Every comparison keeps what reproduces it: prompts, system prompt, settings and seed, each model
file's sha256 (a remote model keeps its URL#MODEL spec, never a key), the llama.cpp version, and
the answers, stats and votes. Hashes are cached by path + size + mtime: a 5 GB file is read once.
A comparison or vote the disk refuses waits in memory and is written when writing works again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tui.core.compare.comparison import Cell, Column, CompareConfig, CompareError, ComparisonResult, Vote
from tui.core.database import Store, transaction
from tui.core.engine.base import AnswerStats
from tui.core.storage import StorageError

MIGRATIONS = (
    """
CREATE TABLE compare_runs (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES compare_runs(id) ON DELETE SET NULL,
    created TEXT NOT NULL,
    finished TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL,
    prompt_set TEXT NOT NULL DEFAULT '',
    system_prompt TEXT NOT NULL DEFAULT '',
    seed INTEGER,
    blind INTEGER NOT NULL DEFAULT 0,
    mode TEXT NOT NULL,
    config TEXT NOT NULL,  -- CompareConfig as JSON: models, overrides, prompts, sampling
    llama_cpp_version TEXT NOT NULL DEFAULT '',
    system_info TEXT NOT NULL DEFAULT ''
);
CREATE TABLE compare_models (
    run_id INTEGER NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
    col INTEGER NOT NULL,
    spec TEXT NOT NULL,
    letter TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    load_seconds REAL,
    threads INTEGER,
    peak_rss INTEGER,
    error TEXT NOT NULL DEFAULT '',
    error_kind TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, col)
);
CREATE TABLE compare_answers (
    run_id INTEGER NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    col INTEGER NOT NULL,
    state TEXT NOT NULL,
    answer TEXT NOT NULL,
    passed INTEGER,
    stats TEXT,                        -- AnswerStats as JSON
    error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, row, col)
);
CREATE TABLE compare_votes (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
    choice TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE compare_file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX compare_runs_by_prompt_set ON compare_runs (prompt_set)
""",
    # imported battles (llmtui votes import)
    """
CREATE TABLE imported_battles (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,  -- sha256 of the record as canonical JSON: one copy of each
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    winner TEXT NOT NULL,
    record TEXT NOT NULL,         -- the whole record as JSON, every field kept
    source TEXT NOT NULL DEFAULT '',
    imported TEXT NOT NULL
)
""",
    # the reasoning block before an answer, kept apart from it
    "ALTER TABLE compare_answers ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''",
)


# compare_runs columns named like ComparisonResult's fields, compare_models' like Column's
_RUN_FIELDS = ("parent_id", "created", "finished", "mode", "llama_cpp_version", "system_info")
_MODEL_FIELDS = (
    "spec", "letter", "label", "location", "sha256", "state", "load_seconds", "threads",
    "peak_rss", "error", "error_kind",
)  # fmt: skip


def _passed(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _load_stats(text: str | None) -> AnswerStats | None:
    return AnswerStats.from_dict(json.loads(text)) if text else None


@dataclass(frozen=True)
class Summary:
    id: int
    created: str
    title: str
    models: tuple[str, ...]  # labels (letters only while a blind comparison has no vote)
    votes: int


@dataclass(frozen=True)
class JudgedRun:
    """A blind comparison's first vote, and its models as (letter, name, spec)."""

    id: int
    created: str
    choice: str
    at: str
    models: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Measured:
    """One answer of a comparison, with what was measured about its model."""

    model: str  # the backend's name for it (the spec while it never loaded)
    spec: str
    location: str
    prompt_set: str
    passed: bool | None
    stats: AnswerStats | None
    state: str
    peak_rss: int | None


def _models_by_run(conn: sqlite3.Connection) -> dict[int, list[tuple[str, str, str]]]:
    """Each comparison's models as (letter, name, spec), by letter."""
    models: dict[int, list[tuple[str, str, str]]] = {}
    for run_id, letter, label, spec in conn.execute(
        "SELECT run_id, letter, label, spec FROM compare_models ORDER BY run_id, letter"
    ):
        models.setdefault(run_id, []).append((letter, label or spec, spec))
    return models


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CompareStore(Store):
    """The comparisons in the database file; safe to use from any thread.

    `report` works as for `tui.core.chat.store.ConversationStore`: with it, a comparison or a
    vote the disk refuses waits in memory and is written when writing works again (a waiting
    comparison's `id` stays None until then, and is set when it is written); without it, a
    storage fault raises `StorageError`.
    """

    COMPONENT = "compare"
    MIGRATIONS = MIGRATIONS

    def file_hash(self, path: Path) -> str:
        """sha256 of a file, from the cache while its size and mtime are unchanged."""
        stat = path.stat()
        key = str(path.resolve())
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT sha256 FROM compare_file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?",
                (key, stat.st_size, stat.st_mtime_ns),
            ).fetchone()
        if row:
            return row[0]
        digest = sha256_file(path)
        try:
            with self._db.read() as conn, transaction(conn):
                conn.execute(
                    "INSERT OR REPLACE INTO compare_file_hashes VALUES (?, ?, ?, ?)",
                    (key, stat.st_size, stat.st_mtime_ns, digest),
                )
        except StorageError:
            pass  # only a cache: the file is hashed again next time
        return digest

    def save(self, result: ComparisonResult) -> int | None:
        """Store a finished comparison (hashing its model files); sets and returns `result.id`
        (None while its write waits)."""
        for column in result.columns:
            if column.location and not column.sha256 and Path(column.location).is_file():
                try:
                    column.sha256 = self.file_hash(Path(column.location))
                except StorageError:
                    pass  # the database cannot be read now: the comparison waits, unhashed
        config = result.config
        first = config.prompts[0].prompt.strip().splitlines()[0] if config.prompts else ""
        title = Path(config.prompt_set).name if config.prompt_set else first[:200]

        run = {
            "title": title,
            "prompt_set": config.prompt_set,
            "system_prompt": config.system_prompt,
            "seed": config.sampling.seed,
            "blind": int(config.blind),
            "config": json.dumps(config.to_dict()),
            **{f: getattr(result, f) for f in _RUN_FIELDS},
        }

        def change(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                f"INSERT INTO compare_runs ({', '.join(run)}) VALUES ({', '.join('?' * len(run))})",
                tuple(run.values()),
            )
            run_id = cursor.lastrowid
            conn.executemany(
                f"INSERT INTO compare_models (run_id, col, {', '.join(_MODEL_FIELDS)})"
                f" VALUES (?, ?{', ?' * len(_MODEL_FIELDS)})",
                [(run_id, c.index, *(getattr(c, f) for f in _MODEL_FIELDS)) for c in result.columns],
            )
            conn.executemany(
                "INSERT INTO compare_answers"
                " (run_id, row, col, state, answer, passed, stats, error, reasoning)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, c.row, c.column, c.state, c.answer, c.passed,
                  json.dumps(c.stats.to_dict()) if c.stats else None, c.error, c.reasoning)
                 for c in result.cells],
            )  # fmt: skip
            conn.executemany(
                "INSERT INTO compare_votes (run_id, choice, at) VALUES (?, ?, ?)",
                [(run_id, v.choice, v.at) for v in result.votes],
            )
            result.id = run_id

        self._db.write(change)
        return result.id

    def add_vote(self, run_id: int, vote: Vote) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO compare_votes (run_id, choice, at) VALUES (?, ?, ?)",
                (run_id, vote.choice, vote.at),
            )
        )

    def load(self, run_id: int) -> ComparisonResult:
        with self._db.read() as conn:
            run = conn.execute("SELECT * FROM compare_runs WHERE id = ?", (run_id,)).fetchone()
            if run is None:
                raise CompareError(f"no saved comparison #{run_id}")
            models = conn.execute("SELECT * FROM compare_models WHERE run_id = ? ORDER BY col", (run_id,))
            columns = [Column(index=m["col"], **{f: m[f] for f in _MODEL_FIELDS}) for m in models]
            answers = conn.execute(
                "SELECT * FROM compare_answers WHERE run_id = ? ORDER BY row, col", (run_id,)
            )
            cells = [
                Cell(a["row"], a["col"], a["state"], a["answer"], _load_stats(a["stats"]),
                     _passed(a["passed"]), a["error"], a["reasoning"])
                for a in answers
            ]  # fmt: skip
            votes = conn.execute("SELECT * FROM compare_votes WHERE run_id = ? ORDER BY id", (run_id,))
            votes = [Vote(v["choice"], v["at"]) for v in votes]
        config = CompareConfig.from_dict(json.loads(run["config"]))
        saved = {f: run[f] for f in _RUN_FIELDS}
        return ComparisonResult(config, columns, cells, votes=votes, id=run["id"], **saved)

    def list(self, limit: int = 500) -> list[Summary]:
        """Saved comparisons, newest first."""
        with self._db.read() as conn:
            runs = conn.execute(
                "SELECT r.id, r.created, r.title, r.blind,"
                " (SELECT COUNT(*) FROM compare_votes v WHERE v.run_id = r.id)"
                " FROM compare_runs r ORDER BY r.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            models = _models_by_run(conn)
        return [
            Summary(
                run_id,
                created,
                title,
                tuple(
                    f"{letter} · {name}" if not blind or votes else letter
                    for letter, name, _spec in models.get(run_id, ())
                ),
                votes,
            )
            for run_id, created, title, blind, votes in runs
        ]

    def latest_like(self, result: ComparisonResult) -> int | None:
        """The newest saved run of the same prompt set with the same models (to diff against)."""
        specs = sorted(c.spec for c in result.columns)
        with self._db.read() as conn:
            runs = conn.execute(
                "SELECT id FROM compare_runs WHERE prompt_set = ? ORDER BY id DESC",
                (result.config.prompt_set,),
            ).fetchall()
            for (run_id,) in runs:
                saved = conn.execute("SELECT spec FROM compare_models WHERE run_id = ?", (run_id,))
                if sorted(spec for (spec,) in saved) == specs:
                    return run_id
        return None

    # --- for the ranking ---------------------------------------------------------------------------

    def judged_runs(self) -> list[JudgedRun]:
        """Every blind comparison with a vote, oldest first, with its first vote: the one cast
        before the names showed."""
        with self._db.read() as conn:
            runs = conn.execute(
                "SELECT r.id, r.created, v.choice, v.at FROM compare_runs r"
                " JOIN compare_votes v ON v.id ="
                " (SELECT MIN(id) FROM compare_votes WHERE run_id = r.id)"
                " WHERE r.blind = 1 ORDER BY r.id"
            ).fetchall()
            models = _models_by_run(conn)
        return [
            JudgedRun(run_id, created, choice, at, tuple(models.get(run_id, ())))
            for run_id, created, choice, at in runs
        ]

    def measured(self) -> list[Measured]:
        """Every answer of a comparison whose names are shown (not blind, or voted on), oldest
        first, with its model's peak memory."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT m.label, m.spec, m.location, r.prompt_set, a.passed, a.stats, a.state,"
                " m.peak_rss"
                " FROM compare_answers a JOIN compare_runs r ON r.id = a.run_id"
                " JOIN compare_models m ON m.run_id = a.run_id AND m.col = a.col"
                " WHERE r.blind = 0 OR EXISTS (SELECT 1 FROM compare_votes v WHERE v.run_id = r.id)"
                " ORDER BY a.run_id, a.row, a.col"
            ).fetchall()
        return [
            Measured(label or spec, spec, location, prompt_set, _passed(passed), _load_stats(stats),
                     state, peak_rss)
            for label, spec, location, prompt_set, passed, stats, state, peak_rss in rows
        ]  # fmt: skip

    def recent_prompts(self, limit: int = 20) -> list[str]:
        """The prompts of the latest single-prompt comparisons, newest first, each once."""
        with self._db.read() as conn:
            configs = conn.execute(
                "SELECT config FROM compare_runs WHERE prompt_set = '' ORDER BY id DESC LIMIT ?",
                (limit * 5,),
            ).fetchall()
        each = (json.loads(config).get("prompts", []) for (config,) in configs)
        firsts = [prompts[0].get("prompt", "") for prompts in each if prompts]
        return list(dict.fromkeys(text for text in firsts if text.strip()))[:limit]

    def add_battles(self, records: Sequence[Mapping], source: str, at: str) -> int:
        """Keep imported battle records (already validated); returns how many were new."""
        rows = []
        for record in records:
            text = json.dumps(record, ensure_ascii=False)
            canonical = json.dumps(record, sort_keys=True, ensure_ascii=False)
            digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
            rows.append((digest, record["model_a"], record["model_b"], record["winner"], text,
                         source, at))  # fmt: skip
        with self._db.read() as conn, transaction(conn):
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO imported_battles"
                " (digest, model_a, model_b, winner, record, source, imported)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return conn.total_changes - before

    def imported_battles(self) -> list[dict]:
        """The imported battle records as they were read, in import order."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT record FROM imported_battles ORDER BY id").fetchall()
        return [json.loads(record) for (record,) in rows]
