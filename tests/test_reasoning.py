"""Reasoning kept apart: the streaming splitter, whole texts, the context sent back, compare."""

from __future__ import annotations

import pytest

from tui.core.chat.reasoning import (
    KNOWN_MARKERS,
    ReasoningSplitter,
    opened_marker,
    split_reasoning,
    without_reasoning,
)
from tui.core.engine.base import Message

HOSTILE = "[bold]x[/] \x1b[2J [link=file:///etc/passwd]y 日本語 🙂 ```"


def stream(fragments, opened=""):
    """Feed fragments one by one; (reasoning parts joined, answer parts joined, the splitter)."""
    splitter = ReasoningSplitter(opened)
    parts = []
    for fragment in fragments:
        parts += splitter.feed(fragment)
    parts += splitter.finish()
    reasoning = "".join(p.text for p in parts if p.reasoning)
    answer = "".join(p.text for p in parts if not p.reasoning)
    return reasoning, answer, splitter


def every_cut(text: str):
    """The text cut in two at every position, and one character at a time."""
    for i in range(len(text) + 1):
        yield [text[:i], text[i:]]
    yield list(text)


@pytest.mark.parametrize(("opening", "closing"), KNOWN_MARKERS)
def test_a_block_at_the_start_is_reasoning_wherever_the_fragments_are_cut(opening, closing):
    text = f"\n{opening}\nLet me think. {HOSTILE}\n{closing}\n\nThe answer: {HOSTILE}"
    for fragments in every_cut(text):
        reasoning, answer, splitter = stream(fragments)
        assert reasoning.strip() == f"Let me think. {HOSTILE}"
        assert answer == f"The answer: {HOSTILE}"
        assert splitter.reasoning == f"Let me think. {HOSTILE}"
        assert splitter.answer == answer


def test_an_answer_without_reasoning_is_left_exactly_as_it_came():
    for text in ("  Hello <think> there", "<b>bold</b>", "<thi", "", "   ", "[THINK", HOSTILE):
        for fragments in every_cut(text):
            reasoning, answer, _ = stream(fragments)
            assert (reasoning, answer) == ("", text)


def test_a_marker_after_the_answer_began_is_the_answers_text():
    assert split_reasoning("Use <think> tags like <think>this</think>.") == (
        "",
        "Use <think> tags like <think>this</think>.",
    )


def test_a_prompt_that_opened_the_block_starts_the_answer_inside_reasoning():
    prompt = "<|im_start|>assistant\n<think>\n"
    opened = opened_marker(prompt)
    assert opened == "<think>"
    for fragments in every_cut(f"Hmm, {HOSTILE}.</think>Answer."):
        reasoning, answer, _ = stream(fragments, opened)
        assert (reasoning, answer) == (f"Hmm, {HOSTILE}.", "Answer.")


def test_a_prompt_that_closed_an_empty_block_does_not():
    # Qwen3's template with thinking off writes an empty block into the prompt.
    assert opened_marker("<|im_start|>assistant\n<think>\n\n</think>\n\n") == ""
    assert opened_marker("<|im_start|>assistant\n") == ""


def test_an_unclosed_block_is_all_reasoning():
    # The answer ran out of tokens while the model was still thinking: no answer yet.
    reasoning, answer, splitter = stream(["<think>still ", "going </thi"])
    assert (reasoning, answer) == ("still going </thi", "")


def test_reasoning_a_server_sent_apart_stays_apart():
    splitter = ReasoningSplitter()
    parts = splitter.feed("Thinking about [bold", reasoning=True) + splitter.feed("Answer [/]")
    parts += splitter.finish()
    assert [(p.text, p.reasoning) for p in parts] == [
        ("Thinking about [bold", True),
        ("Answer [/]", False),
    ]


def test_the_context_sent_back_drops_reasoning_from_assistant_messages_only():
    messages = [
        Message("system", "<think>system text stays</think>"),
        Message("user", "<think>a user's text stays</think> hi"),
        Message("assistant", f"<think>{HOSTILE}</think>\n\nHello."),
        Message("assistant", "No reasoning here."),
    ]
    assert without_reasoning(messages) == [
        messages[0],
        messages[1],
        Message("assistant", "Hello."),
        messages[3],
    ]


# -- compare: the answer alone is checked, the reasoning kept beside it ---------------------------

THINKS = ["<think>", "Paris? [bold]", " \x1b[2J", "</think>", "\n\n", "Lyon", " [/]"]


def test_compare_keeps_reasoning_apart_in_checks_json_and_the_store(tiny_gguf, tmp_path, capsys):
    import json

    from tui.cli import main
    from tui.core.compare.store import CompareStore
    from tui.core.config.paths import app_paths

    thinker = tiny_gguf(THINKS, name="thinker.gguf")
    plain = tiny_gguf(["Paris", " [/]"], name="plain.gguf")
    prompts = tmp_path / "set.jsonl"
    prompts.write_text('{"id": "capital", "prompt": "x", "expect": ["Paris"]}\n')
    args = ["compare", str(thinker), str(plain), "--prompts", str(prompts), "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    cells = {c["column"]: c for c in data["cells"]}
    # "Paris" only in the reasoning: the check fails, as it looks at the answer alone.
    assert (cells[0]["reasoning"], cells[0]["answer"], cells[0]["passed"]) == (
        "Paris? [bold] \x1b[2J",
        "Lyon [/]",
        False,
    )
    assert (cells[1]["reasoning"], cells[1]["answer"], cells[1]["passed"]) == ("", "Paris [/]", True)
    store = CompareStore(app_paths().database)
    saved = store.load(data["id"])
    store.close()
    assert (saved.cell(0, 0).reasoning, saved.cell(0, 0).answer) == ("Paris? [bold] \x1b[2J", "Lyon [/]")
    jsonl = [json.loads(line) for line in saved.to_jsonl().splitlines()]
    assert jsonl[0]["reasoning"] == "Paris? [bold] \x1b[2J" and jsonl[0]["answer"] == "Lyon [/]"
    assert "Paris?" not in saved.to_markdown()  # the report shows answers


def test_reasoning_a_server_streams_apart_reaches_compare_apart():
    from tests.faultserver import DEFAULT_PIECES, FaultServer
    from tui.core.engine.base import SamplingOptions, TokenEvent
    from tui.core.engine.remote import RemoteBackend

    thinking = ("Let me see", " [bold]", " \x1b[2J")
    with FaultServer(reasoning=thinking) as server:
        events = list(RemoteBackend(server.url, "ok").stream([Message("user", "hi")], SamplingOptions()))
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    assert [e.text for e in tokens if e.reasoning] == list(thinking)
    assert "".join(e.text for e in tokens if not e.reasoning) == "".join(DEFAULT_PIECES)
    splitter = ReasoningSplitter()
    for event in tokens:
        splitter.feed(event.text, event.reasoning)
    splitter.finish()
    assert (splitter.reasoning, splitter.answer) == ("".join(thinking), "".join(DEFAULT_PIECES))


def test_comparisons_saved_before_the_reasoning_column_load_without_reasoning(tmp_path):
    import json

    from tui.core import database
    from tui.core.compare.comparison import CompareConfig, ModelChoice
    from tui.core.compare.prompt_sets import Prompt
    from tui.core.compare.store import MIGRATIONS, CompareStore

    config = CompareConfig((ModelChoice("m1.gguf"), ModelChoice("m2.gguf")), (Prompt("x", id="p1"),))
    path = tmp_path / "db.sqlite3"
    conn = database.connect(path)  # the tables as the previous version left them, one comparison
    database.migrate(conn, CompareStore.COMPONENT, MIGRATIONS[:-1])
    conn.execute(
        "INSERT INTO compare_runs (id, created, title, mode, config)"
        " VALUES (1, 'then', 't', 'sequential', ?)",
        (json.dumps(config.to_dict()),),
    )
    for col, letter in enumerate("AB"):
        conn.execute(
            "INSERT INTO compare_models (run_id, col, spec, letter, state) VALUES (1, ?, ?, ?, 'done')",
            (col, f"m{col + 1}.gguf", letter),
        )
        conn.execute(
            "INSERT INTO compare_answers VALUES (1, 0, ?, 'done', ?, NULL, NULL, '')",
            (col, f"<think>x</think>answer {letter} [bold]"),
        )
    conn.close()
    store = CompareStore(path)
    old = store.load(1)
    old.cells[0].reasoning = "now kept"
    again = store.load(store.save(old))
    store.close()
    assert [(c.answer, c.reasoning) for c in old.cells[1:]] == [("<think>x</think>answer B [bold]", "")]
    assert again.cell(0, 0).reasoning == "now kept"
