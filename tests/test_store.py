"""The conversation store: message by message, reopen, edit, export, shared migrations, branches,
full-text search."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from tui.core.chat.store import MIGRATIONS, ConversationStore
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
    assert versions == {"other": 2, "conversations": len(MIGRATIONS)}
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


# -- branches -------------------------------------------------------------------------------------


def contents(conversation) -> list[str]:
    return [m.content for m in conversation.messages]


def test_a_database_of_the_first_schema_keeps_every_message_as_one_branch(tmp_path):
    path = tmp_path / "db.sqlite3"
    conn = connect(path)
    migrate(conn, "conversations", MIGRATIONS[:1])  # as llmtui wrote it before branches
    for conversation in (1, 2):
        conn.execute(
            "INSERT INTO conversations (id, title, model, created_at, updated_at)"
            " VALUES (?, ?, 'm.gguf', '2026-01-01', '2026-01-01')",
            (conversation, f"old {conversation}"),
        )
    # The two conversations' messages interleave, as two windows would write them.
    for n, conversation in enumerate([1, 2, 1, 2, 1, 1]):
        role = "user" if n in (0, 1, 4) else "assistant"
        conn.execute(
            "INSERT INTO messages (conversation_id, role, content, created_at)"
            " VALUES (?, ?, ?, '2026-01-01')",
            (conversation, role, f"{role} {n} of {conversation} zebra{n}"),
        )
    conn.close()

    store = ConversationStore(path)
    first, second = store.get(1), store.get(2)
    assert contents(first) == [
        "user 0 of 1 zebra0",
        "assistant 2 of 1 zebra2",
        "user 4 of 1 zebra4",
        "assistant 5 of 1 zebra5",
    ]
    assert contents(second) == ["user 1 of 2 zebra1", "assistant 3 of 2 zebra3"]
    parents = [m.parent_id for m in first.messages]
    assert parents == [None, *(m.id for m in first.messages[:-1])]  # each follows the one before
    assert {m.alternatives.label for m in first.messages + second.messages} == {"1/1"}
    assert [h.message_id for h in store.search("zebra3")] == [second.messages[1].id]  # indexed
    added = store.add_message(1, "user", "a new question")
    assert added.parent_id == first.messages[-1].id  # after the last message
    assert contents(store.get(1))[-1] == "a new question"
    store.close()


def branched(store):
    """q1 -> a1 -> q2 -> a2, and a1 written again as a1b -> q3 -> a3 (shown)."""
    conv = store.create("m.gguf", "M", {"temperature": 0.5}, "chatml")
    ids = {}
    for name in ("q1", "a1", "q2", "a2"):
        ids[name] = store.add_message(conv.id, "user" if name[0] == "q" else "assistant", name).id
    ids["a1b"] = store.add_alternative(conv.id, ids["a1"], "a1b").id
    ids["q3"] = store.add_message(conv.id, "user", "q3").id
    ids["a3"] = store.add_message(conv.id, "assistant", "a3").id
    return conv, ids


def test_an_answer_written_again_is_kept_beside_the_old_one(store):
    conv, ids = branched(store)
    a1c = store.add_alternative(conv.id, ids["a1"], "a1c", stats={"completion_tokens": 3})
    assert (a1c.role, a1c.parent_id) == ("assistant", ids["q1"])
    got = store.get(conv.id)
    assert contents(got) == ["q1", "a1c"]  # the newest alternative is shown, nothing below it yet
    assert [m.alternatives.label for m in got.messages] == ["1/1", "3/3"]
    assert got.messages[1].stats == {"completion_tokens": 3}
    places = store.alternatives(conv.id, ids["a1"])
    assert (places.ids, places.label) == ((ids["a1"], ids["a1b"], a1c.id), "1/3")
    assert (places.beside(-1), places.beside(1), places.beside(2)) == (None, ids["a1b"], a1c.id)
    assert store.alternatives(conv.id, ids["a1b"]).label == "2/3"
    with pytest.raises(KeyError):
        store.alternatives(conv.id + 1, ids["a1"])  # not that conversation's
    with pytest.raises(KeyError):
        store.add_alternative(conv.id, 9999, "x")


def test_the_conversation_below_follows_the_alternative_shown(store):
    conv, ids = branched(store)
    assert contents(store.get(conv.id)) == ["q1", "a1b", "q3", "a3"]
    store.select(conv.id, ids["a1"])
    assert contents(store.get(conv.id)) == ["q1", "a1", "q2", "a2"]
    # Below a1, a2 is written again and the old one chosen: that is what a1 shows next time.
    a2b = store.add_alternative(conv.id, ids["a2"], "a2b")
    assert contents(store.get(conv.id))[-1] == "a2b"
    store.select(conv.id, ids["a2"])
    store.select(conv.id, ids["a1b"])
    assert contents(store.get(conv.id)) == ["q1", "a1b", "q3", "a3"]
    store.select(conv.id, ids["a1"])
    got = store.get(conv.id)
    assert contents(got) == ["q1", "a1", "q2", "a2"]
    assert got.messages[3].alternatives.ids == (ids["a2"], a2b.id)
    # A question edited is an alternative of it; the next answer follows the new version.
    q2b = store.add_alternative(conv.id, ids["q2"], "q2, better")
    assert q2b.role == "user"
    store.add_message(conv.id, "assistant", "answer to q2b")
    got = store.get(conv.id)
    assert contents(got) == ["q1", "a1", "q2, better", "answer to q2b"]
    assert got.messages[2].alternatives.label == "2/2"
    # The first question edited: a second first message.
    store.add_alternative(conv.id, ids["q1"], "q1 again")
    assert contents(store.get(conv.id)) == ["q1 again"]
    store.select(conv.id, ids["q1"])
    assert contents(store.get(conv.id)) == ["q1", "a1", "q2, better", "answer to q2b"]
    with pytest.raises(KeyError):
        store.select(conv.id, 9999)


def test_fork_copies_the_branch_up_to_a_message(store):
    conv, ids = branched(store)
    store.add_message(conv.id, "assistant", "unused")  # shown after a3; not copied
    fork_id = store.fork(conv.id, ids["q3"])
    fork = store.get(fork_id)
    assert fork_id != conv.id and contents(fork) == ["q1", "a1b", "q3"]
    assert (fork.title, fork.model, fork.model_name, fork.template, fork.settings) == (
        "q1 (fork)",
        "m.gguf",
        "M",
        "chatml",
        {"temperature": 0.5},
    )
    assert not {m.id for m in fork.messages} & set(ids.values())  # copies, not the same rows
    store.add_message(fork_id, "assistant", "a3, in the fork")
    assert contents(store.get(fork_id))[-1] == "a3, in the fork"
    assert contents(store.get(conv.id))[-2:] == ["a3", "unused"]  # the source as it was
    assert [c.id for c in store.list()][0] == fork_id
    with pytest.raises(KeyError):
        store.fork(fork_id, ids["q1"])  # a message of another conversation


def test_reasoning_is_kept_apart_and_exports_follow_the_branch_shown(store):
    conv, ids = branched(store)
    store.select(conv.id, ids["a1"])
    store.add_alternative(
        conv.id, ids["a2"], "The answer.", reasoning="Think [bold]</details> hard\x1b[2J"
    )
    got = store.get(conv.id)
    assert got.messages[-1].reasoning == "Think [bold]</details> hard\x1b[2J"
    assert got.messages[-1].content == "The answer."
    markdown = got.to_markdown()
    assert "a1b" not in markdown and "q3" not in markdown and "## Assistant\n\na2\n" not in markdown
    assert (
        "## Assistant\n\n<details><summary>Reasoning</summary>\n\n"
        "Think [bold]&lt;/details> hard\x1b[2J\n\n</details>\n\nThe answer.\n"
    ) in markdown
    data = json.loads(got.to_json())
    assert [m["content"] for m in data["messages"]] == ["q1", "a1", "q2", "The answer."]
    assert data["messages"][-1]["reasoning"] == "Think [bold]</details> hard\x1b[2J"
    assert data["messages"][0]["reasoning"] is None


# -- search ---------------------------------------------------------------------------------------


def test_search_as_you_type_finds_words_and_the_start_of_the_last_one(store):
    conv = store.create("m.gguf")
    hello = store.add_message(conv.id, "user", "Hello wonderful world, café [bold] time")
    store.add_message(conv.id, "assistant", "Worlds apart\nin two lines")
    assert [h.message_id for h in store.search("hello wonderful wor")] == [hello.id]
    assert store.search("hello wor ") == []  # a space ends a word: "wor" is a whole word then
    assert [h.message_id for h in store.search("cafe")] == [hello.id]  # accents do not matter
    assert len(store.search("wor")) == 2
    [hit] = store.search("wonder")
    assert (hit.conversation_id, hit.title, hit.role) == (conv.id, hello.content[:60], "user")
    assert hit.parts[:2] == (("Hello ", False), ("wonderful", True))
    assert hit.snippet() == "Hello «wonderful» world, café [bold] time"
    [two_lines] = store.search("apart")
    assert two_lines.snippet("<", ">") == "Worlds <apart> in two lines"  # one line
    assert store.search("") == [] and store.search("   ") == []


@pytest.mark.parametrize(
    "query", ['"', 'say "hi', "AND", "foo*", "[", "-x", "a OR", "NEAR(", "^x", "content:x", "(", "*"]
)
def test_search_takes_any_text_as_words(store, query):
    conv = store.create("m.gguf")
    store.add_message(conv.id, "user", 'AND foo say "hi content:x [ ( NEAR a OR')
    hits = store.search(query)  # never a syntax error
    words = [w for w in query.replace('"', " ").split() if any(c.isalnum() for c in w)]
    assert len(hits) == (1 if words else 0)


def test_search_finds_every_branch_and_keeps_up_with_changes(store):
    conv, ids = branched(store)
    [hit] = store.search("q2")  # on the branch not shown
    assert hit.message_id == ids["q2"] and "q2" not in contents(store.get(conv.id))
    store.select(hit.conversation_id, hit.message_id)
    assert contents(store.get(conv.id)) == ["q1", "a1", "q2", "a2"]
    edited = store.add_alternative(conv.id, ids["q2"], "rewritten")  # an edit keeps the old one
    assert [h.message_id for h in store.search("rewritten")] == [edited.id]
    assert [h.message_id for h in store.search("q2")] == [ids["q2"]]
    store.delete(conv.id)
    assert store.search("q1") == [] and store.search("a1b") == []


def test_search_works_on_a_recovered_database(tmp_path):
    from tests.test_storage_faults import _conversations, _damage_a_messages_page

    path = tmp_path / "db.sqlite3"
    _conversations(path, 20)
    lost = _damage_a_messages_page(path, b"message 10 end")
    store = ConversationStore(path)
    assert store.recovery is not None
    found = {int(h.snippet().split()[-2]) for h in store.search("message end", limit=100)}
    assert found == set(range(20)) - lost
    conv = store.create("m.gguf")
    store.add_message(conv.id, "user", "after the recovery")
    assert [h.conversation_id for h in store.search("recovery")] == [conv.id]
    store.close()


def test_a_snippet_is_plain_text_whatever_the_message_holds(store):
    conv = store.create("m.gguf")
    store.add_message(conv.id, "assistant", "[bold]needle[/]\x1b[2J\n\x02\x03 « done »")
    [hit] = store.search("needle")
    assert hit.parts == (("[bold]", False), ("needle", True), ("[/] « done »", False))
    assert hit.snippet("<", ">") == "[bold]<needle>[/] « done »"
