"""Real storage faults: a small file system filled mid-conversation and mid-comparison, flipped bytes
in the database, a writer killed with SIGKILL, two processes writing at once, a read-only folder.

Each test checks what the user sees (a notification, one line and exit status 2) and what is on disk
afterwards (`PRAGMA integrity_check`, every earlier message still there). The small file systems are
tmpfs mounts: they need root; elsewhere those tests are skipped with the reason.
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pilot import until
from tests.test_ui_chat import open_chat, send, views
from tui.cli import main
from tui.core.chat.store import ConversationStore
from tui.core.compare.store import CompareStore
from tui.core.storage import Saved, StorageError, write_atomic
from tui.ui.app import LlmTui
from tui.ui.chat.screen import ChatScreen

ROOT = Path(__file__).resolve().parents[1]


class Disk:
    """A tmpfs of a few MiB: `fill()` takes every free byte, `free()` gives them back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        with self.filler.open("ab", buffering=0) as out:
            for size in (1 << 20, 1 << 12, 1):
                try:
                    while True:
                        out.write(b"\0" * size)
                except OSError as error:
                    assert error.errno == errno.ENOSPC

    def free(self) -> None:
        self.filler.unlink()


def _mount(path: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path):
    path = tmp_path / "disk"
    _mount(path, "size=4m")
    yield Disk(path)
    subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def read_only_dir(tmp_path):
    path = tmp_path / "read-only"
    _mount(path, "size=1m")
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def contents(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT role, content FROM messages ORDER BY id").fetchall()


# -- a full disk ----------------------------------------------------------------------------------


async def test_the_disk_fills_mid_conversation(catalogue, tiny_gguf, small_disk, monkeypatch):
    monkeypatch.setenv("LLMTUI_DATA_DIR", str(small_disk.path / "data"))
    database = small_disk.path / "data" / "llmtui.sqlite3"
    model = tiny_gguf(["Kept", " answer"])
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, model)
        await send(pilot, screen, "first")
        await until(pilot, lambda: not screen.answering, "first answer")
        small_disk.fill()
        await send(pilot, screen, "second")
        await until(pilot, lambda: not screen.answering, "second answer, on a full disk")

        def titled(title):
            return [n for n in pilot.app._notifications if n.title == title]

        await until(pilot, lambda: titled("Not saved yet"), "told it is not saved")
        [note] = titled("Not saved yet")
        assert "the disk is full" in note.message and "kept in memory" in note.message
        assert isinstance(pilot.app.screen, ChatScreen)  # still running, the answer shown
        shown = [(v.role, v.text) for v in views(screen)]
        assert shown[2:] == [("user", "second"), ("assistant", "Kept answer")]
        assert contents(database) == [("user", "first"), ("assistant", "Kept answer")]

        small_disk.free()
        await send(pilot, screen, "third")
        await until(pilot, lambda: not screen.answering, "third answer")
        await until(pilot, lambda: titled("Saved"), "told it is saved again")
        assert contents(database) == [
            ("user", "first"),
            ("assistant", "Kept answer"),
            ("user", "second"),
            ("assistant", "Kept answer"),
            ("user", "third"),
            ("assistant", "Kept answer"),
        ]
    assert integrity(database) == "ok"


def test_a_new_conversation_waits_whole_and_gets_its_ids_when_written(small_disk):
    reports = []
    path = small_disk.path / "db.sqlite3"
    store = ConversationStore(path, report=reports.append)
    earlier = store.create("m.gguf")
    store.add_message(earlier.id, "user", "already saved")
    other = store.create("m.gguf")
    store.add_message(other.id, "user", "not touched while full")
    small_disk.fill()
    # The database file's last page may still hold a small write: write until one waits.
    for n in range(100):
        store.update(earlier.id, title=f"renamed {n}")
        if reports:
            break
    conversation = store.create("m.gguf")
    question = store.add_message(conversation.id, "user", "while full")
    store.add_message(conversation.id, "assistant", "an answer")
    store.update(conversation.id, title="Named while full")
    assert conversation.id < 0 and question.id < 0  # waiting: the store's own ids
    [error] = reports
    assert isinstance(error, StorageError) and error.kind == "SQLITE_FULL"
    with pytest.raises(StorageError, match="not saved yet"):
        store.get(conversation.id)
    assert store.get(other.id).messages[0].content == "not touched while full"  # reads work
    small_disk.free()
    assert store.flush()
    assert isinstance(reports[-1], Saved) and reports[-1].count == 5  # the rename too
    assert conversation.id > 0
    saved = store.get(conversation.id)
    assert saved.title == "Named while full"
    assert [m.content for m in saved.messages] == ["while full", "an answer"]
    assert [c.id for c in store.list()] == [conversation.id, earlier.id, other.id]
    store.close()
    assert integrity(path) == "ok"


def test_alternatives_a_chosen_branch_and_a_fork_wait_and_are_written_later(small_disk):
    reports = []
    path = small_disk.path / "db.sqlite3"
    store = ConversationStore(path, report=reports.append)
    conversation = store.create("m.gguf")
    question = store.add_message(conversation.id, "user", "question")
    answer = store.add_message(conversation.id, "assistant", "first answer")
    small_disk.fill()
    for n in range(100):  # the last page may still hold a small write: write until one waits
        store.update(conversation.id, title=f"renamed {n}")
        if reports:
            break
    again = store.add_alternative(conversation.id, answer.id, "second answer", reasoning="hm")
    edited = store.add_alternative(conversation.id, question.id, "question, edited")
    reply = store.add_message(conversation.id, "assistant", "answer to the edit")
    store.select(conversation.id, again.id)  # back to the first question's second answer
    fork = store.fork(conversation.id, again.id)
    assert min(again.id, edited.id, reply.id, fork) < 0  # waiting: the store's own ids
    with pytest.raises(StorageError, match="not saved yet"):
        store.get(fork)
    with pytest.raises(StorageError, match="not saved yet"):
        store.alternatives(conversation.id, answer.id)
    small_disk.free()
    assert store.flush() and isinstance(reports[-1], Saved)
    assert again.id > 0 and (again.role, again.parent_id) == ("assistant", question.id)
    shown = store.get(conversation.id)
    assert [m.content for m in shown.messages] == ["question", "second answer"]
    assert shown.messages[1].alternatives.label == "2/2" and shown.messages[1].reasoning == "hm"
    store.select(conversation.id, edited.id)
    assert [m.content for m in store.get(conversation.id).messages] == [
        "question, edited",
        "answer to the edit",
    ]
    forked = store.get(fork)  # the waiting id still opens it
    assert forked.id > 0 and [m.content for m in forked.messages] == ["question", "second answer"]
    assert {h.message_id for h in store.search("edit")} == {edited.id, reply.id}
    store.close()
    assert integrity(path) == "ok"


def _compare(alpha: Path, beta: Path, prompt: str) -> list[str]:
    return ["compare", str(alpha), str(beta), "--prompt", prompt, "--sequential"]


def test_the_disk_fills_mid_comparison(tiny_gguf, small_disk, monkeypatch, capsys):
    from tui.core.compare.comparison import Comparison

    monkeypatch.setenv("LLMTUI_DATA_DIR", str(small_disk.path))
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    beta = tiny_gguf(["Beta"], name="beta.gguf")
    assert main(_compare(alpha, beta, "first")) == 0
    assert "saved as comparison #1" in capsys.readouterr().out
    run = Comparison.run

    def run_and_fill_the_disk(self):
        result = run(self)
        small_disk.fill()  # while the models answered, something else took the space
        return result

    monkeypatch.setattr(Comparison, "run", run_and_fill_the_disk)
    assert main(_compare(alpha, beta, "second")) == 2
    out, err = capsys.readouterr()
    assert "Alpha" in out and "Beta" in out  # the answers are printed all the same
    assert err.count("\n") == 1 and "not saved" in err and "the disk is full" in err
    assert "Traceback" not in err
    small_disk.free()
    database = small_disk.path / "llmtui.sqlite3"
    assert integrity(database) == "ok"
    store = CompareStore(database)
    [saved] = store.list()
    assert [c.answer for c in store.load(saved.id).cells] == ["Alpha", "Beta"]


def test_a_comparison_and_a_vote_wait_and_are_written_later(
    tiny_gguf, small_disk, tmp_path, monkeypatch
):
    from tui.core.compare.comparison import Vote

    monkeypatch.setenv("LLMTUI_DATA_DIR", str(tmp_path / "elsewhere"))
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    beta = tiny_gguf(["Beta"], name="beta.gguf")
    assert main(_compare(alpha, beta, "once")) == 0
    ran = CompareStore(tmp_path / "elsewhere" / "llmtui.sqlite3").load(1)
    path = small_disk.path / "db.sqlite3"
    reports = []
    store = CompareStore(path, report=reports.append)
    store.save(ran)
    first = store.load(ran.id)
    store.add_vote(first.id, Vote("A", "2026-01-01T00:00:00"))
    small_disk.fill()
    # The database file's last page may still hold a small write: vote until one waits.
    ties = 0
    while not reports and ties < 100:
        store.add_vote(1, Vote("tie", "2026-01-01T00:00:01"))
        ties += 1
    assert reports[0].kind == "SQLITE_FULL"
    first.id = None
    assert store.save(first) is None  # waits behind the vote
    small_disk.free()
    assert store.flush() and first.id == 2
    assert [v.choice for v in store.load(1).votes] == ["A"] + ["tie"] * ties
    assert [c.answer for c in store.load(2).cells] == ["Alpha", "Beta"]
    store.close()
    assert integrity(path) == "ok"


# -- a damaged database ---------------------------------------------------------------------------


def _damage_a_messages_page(path: Path, marker: bytes) -> set[int]:
    """Break the b-tree page holding `marker`; the message numbers whose text is on that page."""
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    offset = data.index(marker)
    start = offset - offset % page_size
    page = bytes(data[start : start + page_size])
    lost = {n for n in range(60) if f"message {n:02d} end".encode() in page}
    data[start] = 0x00  # not a b-tree page type: SQLite calls the file malformed
    path.write_bytes(bytes(data))
    return lost


def _conversations(path: Path, count: int) -> None:
    store = ConversationStore(path)
    for n in range(count):
        conversation = store.create("m.gguf", f"model {n}")
        # The number last: a title (the first 60 characters) does not repeat it.
        store.add_message(conversation.id, "user", "words " * 300 + f"message {n:02d} end")
    store.close()  # checkpointed: everything is in the main file


async def test_a_damaged_database_is_moved_aside_and_recovered(catalogue, tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("LLMTUI_DATA_DIR", str(data))
    database = data / "llmtui.sqlite3"
    _conversations(database, 40)
    lost = _damage_a_messages_page(database, b"message 20 end")
    damaged_bytes = database.read_bytes()
    assert 1 <= len(lost) <= 3
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen), "chat screen")
        screen = pilot.app.screen

        def told():
            title = "The history database was damaged"
            return [n for n in pilot.app._notifications if n.title == title]

        await until(pilot, told, "told of the recovery")
        [note] = told()
        assert "recovered 40 conversation(s) and 0 comparison(s)" in note.message
        kept = 40 - len(lost)  # a conversation whose only message was lost is not listed
        [aside] = data.glob("llmtui.sqlite3.damaged-????????-??????")  # and its -shm beside it
        assert str(aside) in note.message
        assert screen.query_one("#conversations").option_count == kept
    assert aside.read_bytes() == damaged_bytes  # kept as it was found
    assert integrity(database) == "ok"
    survivors = {int(text.split()[-2]) for _, text in contents(database)}
    assert survivors == set(range(40)) - lost


def test_the_cli_meets_a_damaged_database_calmly(tiny_gguf, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("LLMTUI_DATA_DIR", str(tmp_path / "data"))
    database = tmp_path / "data" / "llmtui.sqlite3"
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    beta = tiny_gguf(["Beta"], name="beta.gguf")
    assert main(_compare(alpha, beta, "before")) == 0
    _conversations(database, 10)
    _damage_a_messages_page(database, b"message 05 end")
    capsys.readouterr()
    assert main(_compare(alpha, beta, "after")) == 0
    out, err = capsys.readouterr()
    assert "recovered 10 conversation(s) and 1 comparison(s)" in err
    assert "Traceback" not in err and "saved as comparison #2" in out
    assert integrity(database) == "ok"


# -- a writer killed, two writers at once ---------------------------------------------------------

WRITER = """
import sys
from tui.core.chat.store import ConversationStore
store = ConversationStore(sys.argv[1])
conversation = store.create("m.gguf", sys.argv[2])
for n in range(int(sys.argv[3])):
    store.add_message(conversation.id, "user", f"{sys.argv[2]} {n} " + "x" * 2000)
    print(n, flush=True)
"""


def _writer(path: Path, name: str, count: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), name, str(count)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_writer_killed_mid_write_loses_nothing_it_had_written(tmp_path):
    path = tmp_path / "db.sqlite3"
    writer = _writer(path, "killed", 100_000)
    written = [int(writer.stdout.readline()) for _ in range(300)]
    os.kill(writer.pid, signal.SIGKILL)
    written += [int(line) for line in writer.stdout.read().split()]
    writer.wait()
    assert integrity(path) == "ok"
    on_disk = [int(text.split()[1]) for _, text in contents(path)]
    assert on_disk[: len(written)] == written  # every message it had been told was written
    assert len(on_disk) <= len(written) + 1  # at most the one being written when it died


KILLED_FILE_WRITER = """
import sys
from pathlib import Path
from tui.core.storage import write_atomic
for n in range(100_000):
    write_atomic(Path(sys.argv[1]), ("A" if n % 2 else "B") * 1_000_000)
    print(n, flush=True)
"""


def test_a_file_written_whole_is_old_or_new_after_a_kill(tmp_path):
    target = tmp_path / "settings.yaml"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_FILE_WRITER, str(target)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    for _ in range(20):
        writer.stdout.readline()
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    text = target.read_text()
    assert text in ("A" * 1_000_000, "B" * 1_000_000)


def test_two_processes_write_at_once_and_see_each_other(tmp_path):
    path = tmp_path / "db.sqlite3"
    here = ConversationStore(path)  # open before they start: it sees their conversations
    writers = [_writer(path, name, 300) for name in ("left", "right")]
    results = [w.communicate() for w in writers]
    assert [w.returncode for w in writers] == [0, 0], [err for _, err in results]
    assert all(not err for _, err in results)  # no "database is locked"
    assert sorted(c.model_name for c in here.list()) == ["left", "right"]
    assert [c.messages for c in here.list()] == [300, 300]
    here.close()
    assert integrity(path) == "ok"


# -- a read-only folder ---------------------------------------------------------------------------


def test_a_read_only_data_folder_is_one_line_in_the_cli(tiny_gguf, read_only_dir, monkeypatch, capsys):
    monkeypatch.setenv("LLMTUI_DATA_DIR", str(read_only_dir))
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    beta = tiny_gguf(["Beta"], name="beta.gguf")
    assert main(_compare(alpha, beta, "hi")) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and f"cannot open {read_only_dir}" in err
    assert "Traceback" not in err and out == ""  # said before any model ran


def test_a_read_only_config_folder_keeps_the_settings_file(read_only_dir, monkeypatch, capsys):
    monkeypatch.setenv("LLMTUI_CONFIG_DIR", str(read_only_dir))
    code = main(["endpoints", "add", "box", "http://127.0.0.1:9/v1", "--no-test"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "read-only" in err
    assert list(read_only_dir.iterdir()) == []


async def test_a_read_only_data_folder_in_the_app(catalogue, tiny_gguf, read_only_dir, monkeypatch):
    monkeypatch.setenv("LLMTUI_DATA_DIR", str(read_only_dir))
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, tiny_gguf(["Still", " here"]))
        await send(pilot, screen, "hello")
        await until(pilot, lambda: not screen.answering, "the answer")
        notes = [n for n in pilot.app._notifications if n.title == "Not saved yet"]
        assert len(notes) == 1 and "kept in memory" in notes[0].message
        assert [v.text for v in views(screen)] == ["hello", "Still here"]
        assert screen.store.flush() is False  # still waiting, nothing lost


def test_write_atomic_on_a_full_disk_leaves_the_old_file(small_disk):
    target = small_disk.path / "settings.yaml"
    write_atomic(target, "old: true\n")
    small_disk.fill()
    with pytest.raises(StorageError, match="the disk is full"):
        write_atomic(target, "new: true\n" * 100_000)
    assert target.read_text() == "old: true\n"
    assert sorted(p.name for p in small_disk.path.iterdir()) == ["filler", "settings.yaml"]
