"""Conversations on disk: one SQLite database under the user data folder (`AppPaths.database`).

Every message is written when it is complete (a question when sent, an answer when it ends or is
stopped), so killing the app loses at most the answer in flight. A conversation keeps the model it
was held with, its prompt format and its settings, so reopening it continues where it was. It writes
itself out as Markdown or JSON.

The tables live in the one database of `tui.core.database`, beside the comparisons'.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tui.core.database import connect, migrate
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


class ConversationStore:
    """The conversations in one database file; safe to call from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        self._lock = threading.Lock()
        migrate(self._conn, "conversations", MIGRATIONS)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def create(
        self,
        model: str,
        model_name: str = "",
        settings: dict | None = None,
        template: str | None = None,
    ) -> Conversation:
        now = _now()
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT INTO conversations (model, model_name, template, settings, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (model, model_name, template, json.dumps(settings or {}), now, now),
            )
        return Conversation(
            cursor.lastrowid, "", model, model_name, template, dict(settings or {}), now, now
        )

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
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT INTO messages (conversation_id, role, content, stopped, stats, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    role,
                    content,
                    int(stopped),
                    json.dumps(stats) if stats else None,
                    now,
                ),
            )
            # The first question names the conversation.
            self._conn.execute(
                "UPDATE conversations SET updated_at = ?,"
                " title = CASE WHEN title = '' AND ? = 'user' THEN ? ELSE title END WHERE id = ?",
                (now, role, one_line(content, TITLE_LENGTH), conversation_id),
            )
        return StoredMessage(cursor.lastrowid, role, content, now, stopped, stats)

    def edit_message(self, message_id: int, content: str) -> None:
        """Change a message and forget every message after it (edit and resend)."""
        with self._lock, self._conn:
            row = self._conn.execute(
                "SELECT conversation_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                raise KeyError(message_id)
            self._conn.execute(
                "UPDATE messages SET content = ? WHERE id = ?", (content, message_id)
            )
            self._conn.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND id > ?", (row[0], message_id)
            )
            self._touch(row[0])

    def delete_from(self, message_id: int) -> None:
        """Forget a message and every one after it (regenerate an answer)."""
        with self._lock, self._conn:
            row = self._conn.execute(
                "SELECT conversation_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                return
            self._conn.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND id >= ?", (row[0], message_id)
            )
            self._touch(row[0])

    def update(self, conversation_id: int, **fields: object) -> None:
        """Change a conversation's title, model, model_name, template or settings."""
        allowed = {"title", "model", "model_name", "template", "settings"}
        if not fields.keys() <= allowed:
            raise ValueError(f"cannot update {sorted(fields.keys() - allowed)}")
        values = {k: json.dumps(v) if k == "settings" else v for k, v in fields.items()}
        assignments = ", ".join(f"{k} = ?" for k in values)
        with self._lock, self._conn:
            self._conn.execute(
                f"UPDATE conversations SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608 - keys checked
                (*values.values(), _now(), conversation_id),
            )

    def delete(self, conversation_id: int) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def get(self, conversation_id: int) -> Conversation:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise KeyError(conversation_id)
            rows = self._conn.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
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
        """Conversations, the most recently used first (empty ones are left out)."""
        with self._lock:
            rows = self._conn.execute(
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

    def _touch(self, conversation_id: int) -> None:
        self._conn.execute(
            "UPDATE conversations SET updated_at = ? WHERE id = ?", (_now(), conversation_id)
        )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
