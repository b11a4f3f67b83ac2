"""Conversations on disk: one SQLite database under the user data folder (`AppPaths.database`).

Every message is written when it is complete (a question when sent, an answer when it ends or is
stopped), so killing the app loses at most the answer in flight; a write the disk refuses waits in
memory and is made when writing works again (see `ConversationStore`). A conversation keeps the model it
was held with, its prompt format and its settings, so reopening it continues where it was. It writes
itself out as Markdown or JSON.

The tables live in the one database of `tui.core.database`, beside the comparisons'.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tui.core.database import Store
from tui.core.storage import Report, StorageError
from tui.core.text import one_line

TITLE_LENGTH = 60


MIGRATIONS = (
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused after a delete
        title TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL,              -- what open_backend() takes: a path, model id or URL#MODEL
        model_name TEXT NOT NULL DEFAULT '',
        template TEXT,                    -- a user's template choice; NULL: automatic
        settings TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused after a delete
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL,
        stopped INTEGER NOT NULL DEFAULT 0,   -- an answer stopped before its end
        stats TEXT,                            -- AnswerStats as JSON, for answers
        created_at TEXT NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
    CREATE INDEX conversations_by_update ON conversations (updated_at)
    """,
)


@dataclass
class StoredMessage:
    id: int
    role: str
    content: str
    created_at: str
    stopped: bool = False
    stats: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Conversation:
    id: int
    title: str
    model: str
    model_name: str
    template: str | None
    settings: dict
    created_at: str
    updated_at: str
    messages: list[StoredMessage] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["format"] = "llmtui-conversation/1"
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def to_markdown(self) -> str:
        """The conversation as a Markdown document; contents are written as they are (they are Markdown)."""
        lines = [f"# {self.title or 'Conversation'}", ""]
        lines.append(f"- Model: `{self.model_name or self.model}` ({self.model})")
        if self.template:
            lines.append(f"- Prompt format: {self.template}")
        lines.append(f"- Started: {self.created_at}")
        if self.settings:
            shown = ", ".join(
                f"{k}={v}" for k, v in sorted(self.settings.items()) if k != "system_prompt"
            )
            lines.append(f"- Settings: {shown}")
        lines.append("")
        if self.settings.get("system_prompt"):
            lines += ["## System", "", self.settings["system_prompt"], ""]
        headings = {"system": "System", "user": "You", "assistant": "Assistant"}
        for message in self.messages:
            heading = headings[message.role]
            if message.stopped:
                heading += " (stopped)"
            lines += [f"## {heading}", "", message.content, ""]
        return "\n".join(lines)


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    model_name: str
    updated_at: str
    messages: int


class ConversationStore(Store):
    """The conversations in one database file; safe to call from several threads.

    With `report` (the app), a write that meets a full disk, a read-only folder or a busy
    database does not fail: it waits in memory, with every write after it, and is made at the
    next write or by a retry timer (`tui.core.storage.WriteQueue`); `report` is told once per
    outage (a `StorageError`) and again when the waiting writes are saved (`Saved`), and of a
    damaged file recovered at open (`tui.core.database.Recovery`). It may be called from the
    retry thread. Objects returned while their write waits carry a negative id: pass it back as
    it is, the store maps it to the real id once written (and sets `Conversation.id` then).
    Without `report` (scripts, tests), a storage fault raises `StorageError`.

    Reads (`get`, `list`) raise StorageError when the file cannot be read; `get` of a
    conversation whose changes still wait raises it too (what is on disk is not all of it yet).
    """

    COMPONENT = "conversations"
    MIGRATIONS = MIGRATIONS

    def __init__(self, path: Path, report: Report | None = None) -> None:
        super().__init__(path, report)
        self._ids: dict[int, int] = {}  # waiting (negative) id -> the id it was written with
        self._last_waiting_id = 0
        self._ids_lock = threading.Lock()

    def create(
        self,
        model: str,
        model_name: str = "",
        settings: dict | None = None,
        template: str | None = None,
    ) -> Conversation:
        now = _now()
        conversation = Conversation(
            self._waiting_id(), "", model, model_name, template, dict(settings or {}), now, now
        )
        waiting_id = conversation.id

        def change(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "INSERT INTO conversations (model, model_name, template, settings, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (model, model_name, template, json.dumps(settings or {}), now, now),
            )
            conversation.id = self._written(waiting_id, cursor.lastrowid)

        self._db.write(change, key=waiting_id)
        return conversation

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        stopped: bool = False,
        stats: dict | None = None,
    ) -> StoredMessage:
        now = _now()
        message = StoredMessage(self._waiting_id(), role, content, now, stopped, stats)
        waiting_id = message.id

        def change(conn: sqlite3.Connection) -> None:
            conversation = self._real(conversation_id)
            cursor = conn.execute(
                "INSERT INTO messages (conversation_id, role, content, stopped, stats, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    conversation,
                    role,
                    content,
                    int(stopped),
                    json.dumps(stats) if stats else None,
                    now,
                ),
            )
            # The first question names the conversation.
            conn.execute(
                "UPDATE conversations SET updated_at = ?,"
                " title = CASE WHEN title = '' AND ? = 'user' THEN ? ELSE title END WHERE id = ?",
                (now, role, one_line(content, TITLE_LENGTH), conversation),
            )
            message.id = self._written(waiting_id, cursor.lastrowid)

        self._db.write(change, key=conversation_id)
        return message

    def edit_message(self, message_id: int, content: str) -> None:
        """Change a message and forget every message after it (edit and resend)."""

        def change(conn: sqlite3.Connection) -> None:
            message = self._real(message_id)
            row = conn.execute(
                "SELECT conversation_id FROM messages WHERE id = ?", (message,)
            ).fetchone()
            if row is None:
                raise KeyError(message_id)
            conn.execute("UPDATE messages SET content = ? WHERE id = ?", (content, message))
            conn.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND id > ?", (row[0], message)
            )
            _touch(conn, row[0])

        self._db.write(change)

    def delete_from(self, message_id: int) -> None:
        """Forget a message and every one after it (regenerate an answer)."""

        def change(conn: sqlite3.Connection) -> None:
            message = self._real(message_id)
            row = conn.execute(
                "SELECT conversation_id FROM messages WHERE id = ?", (message,)
            ).fetchone()
            if row is None:
                return
            conn.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND id >= ?", (row[0], message)
            )
            _touch(conn, row[0])

        self._db.write(change)

    def update(self, conversation_id: int, **fields: object) -> None:
        """Change a conversation's title, model, model_name, template or settings."""
        allowed = {"title", "model", "model_name", "template", "settings"}
        if not fields.keys() <= allowed:
            raise ValueError(f"cannot update {sorted(fields.keys() - allowed)}")
        values = {k: json.dumps(v) if k == "settings" else v for k, v in fields.items()}
        assignments = ", ".join(f"{k} = ?" for k in values)
        now = _now()

        def change(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"UPDATE conversations SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608 - keys checked
                (*values.values(), now, self._real(conversation_id)),
            )

        self._db.write(change, key=conversation_id)

    def delete(self, conversation_id: int) -> None:
        def change(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM conversations WHERE id = ?", (self._real(conversation_id),))

        self._db.write(change, key=conversation_id)

    def get(self, conversation_id: int) -> Conversation:
        self._db.flush()
        wanted = self._real(conversation_id)
        if self._db.waits_for(lambda key: self._real(key) == wanted):
            outage = self._db.outage
            raise StorageError(
                f"this conversation's latest changes are not saved yet ({outage}); "
                "it opens once they are",
                kind=outage.kind if outage else "",
                title="Cannot open the conversation yet",
            )
        with self._db.read() as conn:
            row = conn.execute("SELECT * FROM conversations WHERE id = ?", (wanted,)).fetchone()
            if row is None:
                raise KeyError(conversation_id)
            rows = conn.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (wanted,)
            ).fetchall()
        messages = [
            StoredMessage(
                r["id"],
                r["role"],
                r["content"],
                r["created_at"],
                bool(r["stopped"]),
                json.loads(r["stats"]) if r["stats"] else None,
            )
            for r in rows
        ]
        return Conversation(
            row["id"],
            row["title"],
            row["model"],
            row["model_name"],
            row["template"],
            json.loads(row["settings"]),
            row["created_at"],
            row["updated_at"],
            messages,
        )

    def list(self, limit: int = 500) -> list[ConversationSummary]:
        """Conversations, the most recently used first (empty ones are left out), as the file
        has them now: another copy of llmtui's new conversations are there."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT c.id, c.title, c.model_name, c.model, c.updated_at, COUNT(m.id) AS n"
                " FROM conversations c JOIN messages m ON m.conversation_id = c.id"
                " GROUP BY c.id ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            ConversationSummary(
                r["id"], r["title"], r["model_name"] or r["model"], r["updated_at"], r["n"]
            )
            for r in rows
        ]

    def answer_speeds(self) -> list[tuple[str, float]]:
        """(the conversation's model, tokens/s) of every answer with a measured speed."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT c.model, m.stats FROM messages m"
                " JOIN conversations c ON c.id = m.conversation_id"
                " WHERE m.role = 'assistant' AND m.stats IS NOT NULL"
            ).fetchall()
        speeds = []
        for model, stats in rows:
            speed = json.loads(stats).get("tokens_per_second")
            if isinstance(speed, (int, float)) and speed > 0:
                speeds.append((model, float(speed)))
        return speeds

    def _waiting_id(self) -> int:
        with self._ids_lock:
            self._last_waiting_id -= 1
            return self._last_waiting_id

    def _written(self, waiting_id: int, real_id: int) -> int:
        with self._ids_lock:
            self._ids[waiting_id] = real_id
        return real_id

    def _real(self, some_id: object) -> object:
        """The id on disk for an id this store handed out (the same id when it was written)."""
        with self._ids_lock:
            return self._ids.get(some_id, some_id)


def _touch(conn: sqlite3.Connection, conversation_id: int) -> None:
    conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (_now(), conversation_id))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
