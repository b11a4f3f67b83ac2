"""llmtui's one SQLite database (`AppPaths.database`): opening it, and each component's migrations.

Conversations and comparisons keep their own tables in the same file, each with its own schema
version in `schema_versions`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating) the database: WAL (readers never wait on the writer), foreign keys on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable across an app crash, fast
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER)"
    )
    conn.commit()
    return conn


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[str]) -> None:
    """Bring `component`'s tables up to date: run the scripts in `migrations` it has not run yet.

    Migrations are append-only: script i takes the component from version i to i + 1.
    """
    row = conn.execute(
        "SELECT version FROM schema_versions WHERE component = ?", (component,)
    ).fetchone()
    version = row[0] if row else 0
    if version > len(migrations):
        raise sqlite3.DatabaseError(
            f"the {component} tables are from a newer llmtui (version {version}, this one knows "
            f"{len(migrations)})"
        )
    for number, script in enumerate(migrations[version:], start=version + 1):
        # sqlite3 would commit DDL statements one by one: an explicit transaction keeps a step
        # atomic.
        conn.execute("BEGIN")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO schema_versions VALUES (?, ?)", (component, number)
            )
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


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
