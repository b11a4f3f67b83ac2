"""`llmtui history`: list, search, show and export saved conversations; one line and exit 2 for a bad id."""

from __future__ import annotations

import json

import pytest

from tui.cli import main
from tui.core.chat.store import ConversationStore
from tui.core.config.paths import app_paths

HOSTILE = "[bold]loud[/] \x1b[2J\x1b]0;title\x07"


@pytest.fixture
def saved():
    """Two conversations in the app's database; the first has two answers to its question."""
    store = ConversationStore(app_paths().database)
    chat = store.create("/models/smol.gguf", "SmolLM2", {"system_prompt": "Be brief."})
    question = store.add_message(chat.id, "user", f"Tell me about otters {HOSTILE}")
    first = store.add_message(chat.id, "assistant", "Otters hold hands while sleeping.")
    second = store.add_alternative(
        chat.id, first.id, "Sea otters float.", reasoning="They asked about otters.", stopped=True
    )
    other = store.create("other.gguf", "Other")
    store.add_message(other.id, "user", "Something else entirely")
    store.close()
    return {"chat": chat.id, "other": other.id, "question": question.id, "first": first.id,
            "second": second.id}  # fmt: skip


def run(capsys, *argv):
    code = main(["history", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_puts_the_latest_first(saved, capsys):
    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["#", "updated", "messages", "model", "title"]
    assert lines[1].split()[0] == str(saved["other"]) and "Something else entirely" in lines[1]
    assert lines[2].split()[0] == str(saved["chat"]) and "SmolLM2" in lines[2]
    assert "\x1b" not in out and "Tell me about otters [bold]loud[/]" in lines[2]
    code, out, _ = run(capsys, "list", "--json", "--limit", "1")
    [row] = json.loads(out)
    assert (row["id"], row["messages"]) == (saved["other"], 1)


def test_list_without_conversations(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and "no conversations yet" in out


def test_search_finds_every_branch_and_marks_the_match(saved, capsys):
    code, out, err = run(capsys, "search", "sleep")  # the start of a word, on the branch not shown
    assert code == 0 and err == ""
    assert out.splitlines()[:2] == [
        f"#{saved['chat']} Tell me about otters [bold]loud[/]",
        f"  {saved['first']:>6} assistant: Otters hold hands while «sleeping».",
    ]
    code, out, _ = run(capsys, "search", "otters", "--json")
    hits = json.loads(out)
    assert {h["message_id"] for h in hits} == {saved["question"], saved["first"], saved["second"]}
    assert all("\x1b" not in h["snippet"] for h in hits)
    code, out, _ = run(capsys, "search", '"', "AND", "[")
    assert code == 0 and out.startswith("nothing holds")


def test_show_prints_the_branch_shown_as_plain_text(saved, capsys):
    code, out, err = run(capsys, "show", str(saved["chat"]))
    assert code == 0 and err == ""
    assert "\x1b" not in out and "\x07" not in out
    assert "System:\nBe brief.\n" in out
    assert "You:\nTell me about otters [bold]loud[/] \n" in out  # escapes removed, markup kept
    assert (
        "Assistant (2/2) (stopped):\n[reasoning: 24 characters; --reasoning prints it]\n"
        "Sea otters float.\n"
    ) in out
    assert "hold hands" not in out
    code, out, _ = run(capsys, "show", str(saved["chat"]), "--reasoning")
    assert "[reasoning]\nThey asked about otters.\n[answer]\nSea otters float.\n" in out
    code, out, _ = run(capsys, "show", str(saved["chat"]), "--at", str(saved["first"]))
    assert "Assistant (1/2):\nOtters hold hands while sleeping.\n" in out
    assert "Sea otters" not in out
    code, out, _ = run(capsys, "show", str(saved["chat"]))
    assert "Sea otters float." in out  # --at changed nothing


def test_export_writes_the_branch_shown(saved, capsys, tmp_path):
    code, out, _ = run(capsys, "export", str(saved["chat"]))
    assert code == 0 and out.startswith("# Tell me about otters")
    assert "<details><summary>Reasoning</summary>\n\nThey asked about otters." in out
    assert "Sea otters float." in out and "hold hands" not in out
    target = tmp_path / "out" / "chat.json"
    code, out, _ = run(capsys, "export", str(saved["chat"]), "--json", "--output", str(target))
    assert code == 0 and out == f"exported conversation #{saved['chat']} to {target}\n"
    data = json.loads(target.read_text())
    assert [m["content"] for m in data["messages"]][1:] == ["Sea otters float."]
    assert data["messages"][1]["reasoning"] == "They asked about otters."
    assert data["messages"][0]["content"] == f"Tell me about otters {HOSTILE}"  # as it was


@pytest.mark.parametrize(
    "argv, message",
    [
        (["show", "999"], "no conversation #999 (`llmtui history list` shows them)"),
        (["export", "999", "--json"], "no conversation #999"),
        (["show", "{chat}", "--at", "{other_message}"], "conversation #{chat} has no message"),
        (["list", "--limit", "0"], "--limit must be 1 or more"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(saved, capsys, argv, message):
    names = {**saved, "other_message": saved["second"] + 1}
    code, out, err = run(capsys, *(a.format(**names) for a in argv))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message.format(**names) in err and "Traceback" not in err


def test_an_export_that_cannot_be_written_is_one_line(saved, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run(capsys, "export", str(saved["chat"]), "-o", str(blocker / "x.md"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "cannot write" in err
