"""Conversations on disk: one SQLite database under the user data folder (`AppPaths.database`).

Every message is written when it is complete (a question when sent, an answer when it ends or is
stopped), so killing the app loses at most the answer in flight; a write the disk refuses waits in
memory and is made when writing works again (see `ConversationStore`). A conversation keeps the model it
was held with, its prompt format and its settings, so reopening it continues where it was. It writes
itself out as Markdown or JSON.

A conversation is a tree: each message follows a parent (`parent_id`; a first question has none),
and an answer written again or a question edited is an alternative beside the old one (the same
parent). The branch shown runs from the first message to the one shown last (`last_shown`, the
conversation's largest); showing another alternative shows, below it, the branch last shown under it.
Every message, on every branch, is in a full-text index (SQLite FTS5, `search`).

The tables live in the one database of `tui.core.database`, beside the comparisons'.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tui.core.database import Store
from tui.core.storage import Report, StorageError
from tui.core.text import clean, one_line

TITLE_LENGTH = 60
SNIPPET_TOKENS = 12  # words around a search match
_SPACES = re.compile(r"\s+")


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
    # Branches, reasoning apart from the answer, full-text search. A conversation written before is
    # one branch: each message follows the one before it, the last one is shown.
    """
    ALTER TABLE messages ADD COLUMN parent_id INTEGER;  -- NULL: a first question
    ALTER TABLE messages ADD COLUMN last_shown INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN reasoning TEXT;     -- a model's thinking, apart from its answer
    UPDATE messages SET last_shown = id, parent_id = (
        SELECT max(before.id) FROM messages AS before
        WHERE before.conversation_id = messages.conversation_id AND before.id < messages.id
    );
    CREATE INDEX messages_by_parent ON messages (parent_id);
    CREATE INDEX messages_by_shown ON messages (conversation_id, last_shown);
    CREATE VIRTUAL TABLE message_search USING fts5(
        content, content = 'messages', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO message_search (message_search) VALUES ('rebuild');
    CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
        INSERT INTO message_search (rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
        INSERT INTO message_search (message_search, rowid, content)
        VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER message_search_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO message_search (message_search, rowid, content)
        VALUES ('delete', old.id, old.content);
        INSERT INTO message_search (rowid, content) VALUES (new.id, new.content);
    END
    """,
)
# parent_id has no foreign key: a file recovered without a message keeps the ones after it. A
# parent's id is always smaller than its children's (it is written first): the walks below
# follow growing ids only, so no damaged file can make them loop.
_PATH = (  # from a message (?) up to its first question; depth 0 is the message itself
    "WITH RECURSIVE path(id, depth) AS (SELECT ?, 0 UNION ALL"
    " SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.id"
    " WHERE m.parent_id < m.id) "
)
_SUBTREE = (  # a message (?) and every message that follows it, on every branch
    "WITH RECURSIVE subtree(id) AS (SELECT ? UNION ALL"
    " SELECT m.id FROM messages m JOIN subtree ON m.parent_id = subtree.id AND m.id > subtree.id) "
)


_CONVERSATION_COLUMNS = "id title model model_name template settings created_at updated_at".split()
_MESSAGE_COLUMNS = "id role content created_at reasoning parent_id".split()  # and stopped, stats


@dataclass(frozen=True)
class Alternatives:
    """A message and the others in its place (the answers to one question, the versions of a
    question), oldest first: `label` is what the message shows ("2/3")."""

    ids: tuple[int, ...]
    current: int

    @property
    def position(self) -> int:
        return self.ids.index(self.current) + 1

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def label(self) -> str:
        return f"{self.position}/{self.count}"

    def beside(self, step: int) -> int | None:
        """The alternative `step` places away (-1 the one before, 1 the one after); None past
        either end."""
        index = self.position - 1 + step
        return self.ids[index] if 0 <= index < self.count else None


@dataclass
class StoredMessage:
    id: int
    role: str
    content: str
    created_at: str
    stopped: bool = False
    stats: dict | None = None
    reasoning: str | None = None  # the model's thinking, kept apart from its answer
    parent_id: int | None = None
    alternatives: Alternatives | None = None  # on the messages `get` returns

    def to_dict(self) -> dict:
        """The message as exports write it (the branch it is on is the export's)."""
        keys = ("id", "role", "content", "reasoning", "created_at", "stopped", "stats")
        return {key: getattr(self, key) for key in keys}


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
    messages: list[StoredMessage] = field(default_factory=list)  # the branch shown

    def to_dict(self) -> dict:
        data = {key: getattr(self, key) for key in _CONVERSATION_COLUMNS}
        data["messages"] = [m.to_dict() for m in self.messages]
        data["format"] = "llmtui-conversation/1"
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def to_markdown(self) -> str:
        """The conversation as a Markdown document; contents are written as they are (they are
        Markdown), a reasoning folded above its answer."""
        lines = [f"# {self.title or 'Conversation'}", ""]
        lines.append(f"- Model: `{self.model_name or self.model}` ({self.model})")
        if self.template:
            lines.append(f"- Prompt format: {self.template}")
        lines.append(f"- Started: {self.created_at}")
        if self.settings:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(self.settings.items()) if k != "system_prompt")
            lines.append(f"- Settings: {shown}")
        lines.append("")
        if self.settings.get("system_prompt"):
            lines += ["## System", "", self.settings["system_prompt"], ""]
        headings = {"system": "System", "user": "You", "assistant": "Assistant"}
        for message in self.messages:
            heading = headings[message.role]
            if message.stopped:
                heading += " (stopped)"
            lines += [f"## {heading}", ""]
            if message.reasoning:
                # A "</details>" in the reasoning would end the fold early.
                reasoning = message.reasoning.replace("</details", "&lt;/details")
                lines += ["<details><summary>Reasoning</summary>", "", reasoning, "", "</details>", ""]
            lines += [message.content, ""]
        return "\n".join(lines)


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    model_name: str
    updated_at: str
    messages: int  # on every branch


@dataclass(frozen=True)
class SearchHit:
    """A message that matches a search, on whichever branch it is (`select` shows it)."""

    conversation_id: int
    title: str
    message_id: int
    role: str
    # The snippet, cleaned and on one line: (text, whether it is a match), for the UI to style.
    parts: tuple[tuple[str, bool], ...]
    rank: float  # FTS5's bm25: smaller is better

    def snippet(self, start: str = "«", end: str = "»") -> str:
        """The snippet as plain text, each match between `start` and `end`."""
        return "".join(f"{start}{t}{end}" if hit else t for t, hit in self.parts).strip()


class ConversationStore(Store):
    """The conversations in one database file; safe to call from several threads.

    With `report` (the app), a write that meets a full disk, a read-only folder or a busy
    database does not fail: it waits in memory, with every write after it, and is made at the
    next write or by a retry timer (`tui.core.storage.WriteQueue`); `report` is told once per
    outage (a `StorageError`) and again when the waiting writes are saved (`Saved`), and of a
    damaged file recovered at open (`tui.core.database.Recovery`). It may be called from the
    retry thread. Objects returned while their write waits carry a negative id: pass it back as
    it is, the store maps it to the real id once written (and sets `Conversation.id` and
    `StoredMessage.id` then). Without `report` (scripts, tests), a storage fault raises
    `StorageError`.

    Reads (`get`, `alternatives`, `list`, `search`) raise StorageError when the file cannot be
    read; `get` and `alternatives` of a conversation whose changes still wait raise it too (what is
    on disk is not all of it yet). A message or conversation that is not there is a KeyError,
    raised by the call when it writes at once (or reported when it waited).
    """

    COMPONENT = "conversations"
    MIGRATIONS = MIGRATIONS

    def __init__(self, path: Path, report: Report | None = None) -> None:
        super().__init__(path, report)
        self._ids: dict[int, int] = {}  # waiting (negative) id -> the id it was written with
        self._last_waiting_id = 0
        self._ids_lock = threading.Lock()

    # -- writes --------------------------------------------------------------------------------

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
        reasoning: str | None = None,
    ) -> StoredMessage:
        """A message after the last one of the branch shown."""
        now = _now()
        message = StoredMessage(self._waiting_id(), role, content, now, stopped, stats, reasoning)
        waiting_id = message.id

        def change(conn: sqlite3.Connection) -> None:
            conversation = self._real(conversation_id)
            message.parent_id = _shown_last(conn, conversation)
            written = _insert(conn, conversation, message.parent_id, message)
            # The first question names the conversation.
            conn.execute(
                "UPDATE conversations SET updated_at = ?,"
                " title = CASE WHEN title = '' AND ? = 'user' THEN ? ELSE title END WHERE id = ?",
                (now, role, one_line(content, TITLE_LENGTH), conversation),
            )
            message.id = self._written(waiting_id, written)

        self._db.write(change, key=conversation_id)
        return message

    def add_alternative(
        self,
        conversation_id: int,
        message_id: int,
        content: str,
        *,
        stopped: bool = False,
        stats: dict | None = None,
        reasoning: str | None = None,
    ) -> StoredMessage:
        """Another message in `message_id`'s place (an answer written again, a question edited),
        kept beside it and shown from now on. Its role and parent are `message_id`'s (set on the
        returned message when it is written)."""
        now = _now()
        alternative = StoredMessage(self._waiting_id(), "", content, now, stopped, stats, reasoning)
        waiting_id = alternative.id

        def change(conn: sqlite3.Connection) -> None:
            conversation = self._real(conversation_id)
            original = _message(conn, conversation, self._real(message_id))
            alternative.role, alternative.parent_id = original["role"], original["parent_id"]
            written = _insert(conn, conversation, alternative.parent_id, alternative)
            _touch(conn, conversation)
            alternative.id = self._written(waiting_id, written)

        self._db.write(change, key=conversation_id)
        return alternative

    def select(self, conversation_id: int, message_id: int) -> None:
        """Show the branch through `message_id` (an alternative, or a search hit on any branch):
        below it, the messages last shown under it."""

        def change(conn: sqlite3.Connection) -> None:
            conversation, message = self._real(conversation_id), self._real(message_id)
            _message(conn, conversation, message)
            _show(conn, conversation, _last_shown_under(conn, message))

        self._db.write(change, key=conversation_id)

    def fork(self, conversation_id: int, message_id: int) -> int:
        """A new conversation with the same model and settings, holding a copy of the branch from
        the first message to `message_id`; its id (a waiting one when the write waits)."""
        waiting_id = self._waiting_id()
        now = _now()

        def change(conn: sqlite3.Connection) -> None:
            source, message = self._real(conversation_id), self._real(message_id)
            _message(conn, source, message)
            cursor = conn.execute(
                "INSERT INTO conversations"
                " (title, model, model_name, template, settings, created_at, updated_at)"
                " SELECT title || ' (fork)', model, model_name, template, settings, ?, ?"
                " FROM conversations WHERE id = ?",
                (now, now, source),
            )
            fork = cursor.lastrowid
            parent = None
            for row in _branch(conn, message):
                parent = _insert(conn, fork, parent, _stored(row))
            self._written(waiting_id, fork)

        # The copy's key: opening the fork waits for it; the source is not changed.
        self._db.write(change, key=waiting_id)
        return self._real(waiting_id)

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

    # -- reads ---------------------------------------------------------------------------------

    def get(self, conversation_id: int, at: int | None = None) -> Conversation:
        """The conversation, its `messages` the branch shown (each with its `alternatives`); with
        `at` (one of its messages, a search hit), the branch `select(at)` would show, though
        nothing is changed. KeyError when there is no such conversation or message."""
        wanted = self._saved(conversation_id)
        with self._db.read() as conn:
            row = conn.execute("SELECT * FROM conversations WHERE id = ?", (wanted,)).fetchone()
            if row is None:
                raise KeyError(conversation_id)
            if at is None:
                last = _shown_last(conn, wanted)
            else:
                last = _last_shown_under(conn, _message(conn, wanted, self._real(at))["id"])
            rows = _branch(conn, last) if last is not None else []
            places = _places(conn, wanted)
        messages = [_stored(r) for r in rows]
        for message in messages:
            message.alternatives = Alternatives(places[message.parent_id], message.id)
        stored = {key: row[key] for key in _CONVERSATION_COLUMNS}
        return Conversation(**{**stored, "settings": json.loads(row["settings"])}, messages=messages)

    def alternatives(self, conversation_id: int, message_id: int) -> Alternatives:
        """`message_id` and the other messages in its place ("2/3"); KeyError when it is not in
        the conversation."""
        wanted = self._saved(conversation_id)
        message = self._real(message_id)
        with self._db.read() as conn:
            row = _message(conn, wanted, message)
            ids = conn.execute(
                "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS ? ORDER BY id",
                (wanted, row["parent_id"]),
            ).fetchall()
        return Alternatives(tuple(r[0] for r in ids), message)

    def list(self, limit: int = 500) -> list[ConversationSummary]:
        """Conversations, the most recently used first (empty ones are left out), as the file
        has them now: another copy of llmtui's new conversations are there."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT c.id, c.title, coalesce(nullif(c.model_name, ''), c.model), c.updated_at,"
                " COUNT(m.id) FROM conversations c JOIN messages m ON m.conversation_id = c.id"
                " GROUP BY c.id ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [ConversationSummary(*row) for row in rows]

    def search(self, text: str, limit: int = 50) -> list[SearchHit]:
        """Messages on any branch of any conversation that hold every word of `text`, the best
        first; the last word may be the start of one (search as you type). `text` is words, never
        query syntax: quotes, `AND`, `*`, `-x` are searched for as they are. As the file has
        them now (like `list`)."""
        query = _match_query(text)
        if not query:
            return []
        # Markers no message holds, so the snippet splits into its matches exactly.
        nonce = secrets.token_hex(8)
        start, end = f"\x02{nonce}\x02", f"\x03{nonce}\x03"
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT m.conversation_id, c.title, m.id, m.role, rank,"
                " snippet(message_search, 0, ?, ?, '…', ?) AS snippet"
                " FROM message_search JOIN messages m ON m.id = message_search.rowid"
                " JOIN conversations c ON c.id = m.conversation_id"
                " WHERE message_search MATCH ? ORDER BY rank, m.id DESC LIMIT ?",
                (start, end, SNIPPET_TOKENS, query, limit),
            ).fetchall()
        return [
            SearchHit(r[0], r[1], r[2], r[3], _snippet_parts(r["snippet"], start, end), r["rank"])
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
        speeds = [(model, json.loads(stats).get("tokens_per_second")) for model, stats in rows]
        return [(model, float(s)) for model, s in speeds if isinstance(s, (int, float)) and s > 0]

    # -- ids of writes that wait ------------------------------------------------------------------

    def _saved(self, conversation_id: int) -> int:
        """The conversation's id on disk; StorageError while some of its changes still wait."""
        self._db.flush()
        wanted = self._real(conversation_id)
        if self._db.waits_for(lambda key: self._real(key) == wanted):
            outage = self._db.outage
            raise StorageError(
                f"this conversation's latest changes are not saved yet ({outage}); it opens once they are",
                kind=outage.kind if outage else "",
                title="Cannot open the conversation yet",
            )
        return wanted

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


# -- the tree -------------------------------------------------------------------------------------


def _message(conn: sqlite3.Connection, conversation: object, message: object) -> sqlite3.Row:
    """A message of the conversation; KeyError when it has none with that id."""
    row = conn.execute(
        "SELECT * FROM messages WHERE id = ? AND conversation_id = ?", (message, conversation)
    ).fetchone()
    if row is None:
        raise KeyError(message)
    return row


def _insert(
    conn: sqlite3.Connection, conversation: object, parent: int | None, message: StoredMessage
) -> int:
    """Write `message` after `parent` (None: a first question), shown from now on; its id."""
    stats = json.dumps(message.stats) if message.stats else None
    written = (message.role, message.content, message.reasoning, int(message.stopped), stats)
    cursor = conn.execute(
        "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning, stopped,"
        " stats, created_at, last_shown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (conversation, parent, *written, message.created_at, _next_shown(conn, conversation)),
    )
    return cursor.lastrowid


def _stored(row: sqlite3.Row) -> StoredMessage:
    stats = json.loads(row["stats"]) if row["stats"] else None
    values = {key: row[key] for key in _MESSAGE_COLUMNS}
    return StoredMessage(**values, stopped=bool(row["stopped"]), stats=stats)


def _shown_last(conn: sqlite3.Connection, conversation: object) -> int | None:
    """The message the branch shown ends at (None: no message yet)."""
    row = conn.execute(
        "SELECT id FROM messages WHERE conversation_id = ? ORDER BY last_shown DESC, id DESC LIMIT 1",
        (conversation,),
    ).fetchone()
    return row[0] if row else None


def _last_shown_under(conn: sqlite3.Connection, message: object) -> int:
    """Where the branch through `message` ends: the message last shown under it (or itself)."""
    [last] = conn.execute(
        f"{_SUBTREE} SELECT m.id FROM messages m JOIN subtree USING (id)"  # noqa: S608 - constants
        " ORDER BY m.last_shown DESC, m.id DESC LIMIT 1",
        (message,),
    ).fetchone()
    return last


def _next_shown(conn: sqlite3.Connection, conversation: object) -> int:
    [number] = conn.execute(
        "SELECT coalesce(max(last_shown), 0) + 1 FROM messages WHERE conversation_id = ?",
        (conversation,),
    ).fetchone()
    return number


def _show(conn: sqlite3.Connection, conversation: object, message: object) -> None:
    """End the branch shown at `message`."""
    conn.execute(
        "UPDATE messages SET last_shown = ? WHERE id = ?",
        (_next_shown(conn, conversation), message),
    )


def _branch(conn: sqlite3.Connection, message: object) -> list[sqlite3.Row]:
    """The messages from the first one to `message`, in order."""
    return conn.execute(
        f"{_PATH} SELECT m.* FROM path JOIN messages m USING (id)"  # noqa: S608 - constants
        " ORDER BY path.depth DESC",
        (message,),
    ).fetchall()


def _places(conn: sqlite3.Connection, conversation: object) -> dict[int | None, tuple[int, ...]]:
    """parent id -> the messages that follow it (alternatives of each other), oldest first."""
    places: dict[int | None, list[int]] = {}
    for message, parent in conn.execute(
        "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY id", (conversation,)
    ):
        places.setdefault(parent, []).append(message)
    return {parent: tuple(ids) for parent, ids in places.items()}


# -- search ---------------------------------------------------------------------------------------


def _match_query(text: str) -> str:
    """An FTS5 query for every word of `text`, each quoted (so nothing in it is syntax); the
    last one a prefix unless `text` ends with a space. Empty when `text` has no word."""
    words = text.split()
    if not any(ch.isalnum() for ch in text):
        return ""
    quoted = ['"' + word.replace('"', '""') + '"' for word in words]
    if not text[-1].isspace():
        quoted[-1] += "*"
    return " ".join(quoted)


def _snippet_parts(snippet: str, start: str, end: str) -> tuple[tuple[str, bool], ...]:
    parts: list[tuple[str, bool]] = []
    for piece in snippet.split(start):
        match, _, after = piece.rpartition(end)  # the text before the first match has no end
        for text, is_match in ((match, True), (after, False)):
            text = _SPACES.sub(" ", clean(text))
            if text:
                parts.append((text, is_match))
    return tuple(parts)


def _touch(conn: sqlite3.Connection, conversation_id: int) -> None:
    conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (_now(), conversation_id))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
