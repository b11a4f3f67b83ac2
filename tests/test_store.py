"""The conversation store: message by message, reopen, edit, export, shared migrations."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from tui.core.chat.store import ConversationStore
from tui.core.database import connect, migrate


@pytest.fixture
def store(tmp_path):
    s = ConversationStore(tmp_path / "db.sqlite3")
    yield s
    s.close()


def test_a_conversation_reopens_with_its_model_settings_and_messages(tmp_path):
    path = tmp_path / "db.sqlite3"
    first = ConversationStore(path)
    conv = first.create(
        "/models/smol.gguf", "SmolLM2", {"temperature": 0.2, "system_prompt": "Be brief."}, "chatml"
    )
    first.add_message(conv.id, "user", "Hello [bold]there[/]\x1b[2J")
    first.add_message(
        conv.id, "assistant", "Hi!", stats={"completion_tokens": 2, "finish_reason": "stop"}
    )
    first.add_message(conv.id, "user", "Tell me a story")
    first.add_message(conv.id, "assistant", "Once upon", stopped=True)
    first.close()

    again = ConversationStore(path)
    reopened = again.get(conv.id)
    assert (reopened.model, reopened.model_name, reopened.template) == (
        "/models/smol.gguf",
        "SmolLM2",
        "chatml",
    )
    assert reopened.settings == {"temperature": 0.2, "system_prompt": "Be brief."}
    assert [(m.role, m.content, m.stopped) for m in reopened.messages] == [
        ("user", "Hello [bold]there[/]\x1b[2J", False),
        ("assistant", "Hi!", False),
        ("user", "Tell me a story", False),
        ("assistant", "Once upon", True),
    ]
    assert reopened.messages[1].stats == {"completion_tokens": 2, "finish_reason": "stop"}
    assert reopened.title == "Hello [bold]there[/]"  # one clean line, from the first question
    again.close()


def test_each_message_is_on_disk_as_soon_as_it_is_added(tmp_path):
    path = tmp_path / "db.sqlite3"
    store = ConversationStore(path)
    conv = store.create("m.gguf")
    store.add_message(conv.id, "user", "written now")
    # Another process (as after a crash) sees it without this one closing anything.
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
        "print(c.execute('select content from messages').fetchone()[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "written now"
    store.close()


def test_list_puts_recent_first_and_hides_empty_conversations(store):
    older = store.create("a.gguf", "A")
    store.add_message(older.id, "user", "first")
    store.create("empty.gguf")
    newer = store.create("b.gguf", "B")
    store.add_message(newer.id, "user", "second")
    store.add_message(newer.id, "assistant", "reply")
    summaries = store.list()
    assert [(s.id, s.title, s.model_name, s.messages) for s in summaries] == [
        (newer.id, "second", "B", 2),
        (older.id, "first", "A", 1),
    ]


def test_edit_and_resend_forgets_what_followed(store):
    conv = store.create("m.gguf")
    q1 = store.add_message(conv.id, "user", "q1")
    store.add_message(conv.id, "assistant", "a1")
    q2 = store.add_message(conv.id, "user", "q2")
    store.add_message(conv.id, "assistant", "a2")
    store.edit_message(q2.id, "q2, better")
    assert [m.content for m in store.get(conv.id).messages] == ["q1", "a1", "q2, better"]
    store.delete_from(q1.id + 1)  # regenerate the first answer
    assert [m.content for m in store.get(conv.id).messages] == ["q1"]
    with pytest.raises(KeyError):
        store.edit_message(9999, "x")


def test_update_and_delete(store):
    conv = store.create("m.gguf", settings={"temperature": 0.7})
    store.add_message(conv.id, "user", "hi")
    store.update(conv.id, title="Renamed", settings={"temperature": 0.1}, template="vicuna")
    got = store.get(conv.id)
    assert (got.title, got.settings, got.template) == ("Renamed", {"temperature": 0.1}, "vicuna")
    with pytest.raises(ValueError):
        store.update(conv.id, id=5)
    store.delete(conv.id)
    with pytest.raises(KeyError):
        store.get(conv.id)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("select count(*) from messages").fetchone()[0] == 0  # cascaded


def test_markdown_and_json_export(store):
    conv = store.create(
        "/m/smol.gguf", "SmolLM2", {"temperature": 0.2, "system_prompt": "Be brief."}
    )
    store.add_message(conv.id, "user", "Write code")
    store.add_message(
        conv.id, "assistant", "```py\nprint('hi')\n```", stats={"completion_tokens": 9}
    )
    store.add_message(conv.id, "user", "More")
    store.add_message(conv.id, "assistant", "Sure, here", stopped=True)
    got = store.get(conv.id)
    markdown = got.to_markdown()
    assert markdown.splitlines()[0] == "# Write code"
    assert "- Model: `SmolLM2` (/m/smol.gguf)" in markdown
    assert "- Settings: temperature=0.2" in markdown
    assert "## System\n\nBe brief.\n" in markdown
    assert "## Assistant\n\n```py\nprint('hi')\n```\n" in markdown
    assert "## Assistant (stopped)\n\nSure, here" in markdown
    data = json.loads(got.to_json())
    assert data["format"] == "llmtui-conversation/1"
    assert [m["content"] for m in data["messages"]][-1] == "Sure, here"
    assert data["messages"][1]["stats"] == {"completion_tokens": 9}


def test_migrations_are_per_component_and_run_once(tmp_path):
    path = tmp_path / "db.sqlite3"
    conn = connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    steps = [
        "CREATE TABLE other_things (id INTEGER PRIMARY KEY)",
        "ALTER TABLE other_things ADD COLUMN x TEXT",
    ]
    migrate(conn, "other", steps[:1])
    migrate(conn, "other", steps)  # only the new step runs
    migrate(conn, "other", steps)
    assert [r[1] for r in conn.execute("PRAGMA table_info(other_things)")] == ["id", "x"]
    ConversationStore(path).close()  # conversations migrate beside it
    versions = dict(conn.execute("SELECT component, version FROM schema_versions").fetchall())
    assert versions == {"other": 2, "conversations": 1}
    with pytest.raises(sqlite3.DatabaseError, match="newer llmtui"):
        migrate(conn, "other", steps[:1])
    conn.close()


def test_a_failed_migration_leaves_nothing_half_done(tmp_path):
    conn = connect(tmp_path / "db.sqlite3")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, "broken", ["CREATE TABLE t1 (id INTEGER); CREATE TABLE t1 (id INTEGER)"])
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "t1" not in tables
    assert (
        conn.execute("SELECT count(*) FROM schema_versions WHERE component = 'broken'").fetchone()[
            0
        ]
        == 0
    )
    conn.close()
