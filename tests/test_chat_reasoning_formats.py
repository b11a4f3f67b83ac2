"""What a chat answer is made of, through the session, the CLI and the screen: a reasoning block kept
apart from the answer, answers constrained by a JSON schema or a grammar, prompt lookup's stats."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Input

from tests.fakebackend import FakeBackend
from tests.pilot import until
from tests.test_ui_chat import open_chat, send, views
from tui.cli import main
from tui.core.chat.session import Answered, ChatSession
from tui.core.engine.base import AnswerStats, Message, TokenEvent
from tui.ui.app import LlmTui
from tui.ui.chat.widgets import ReasoningBlock, stats_line

# A scripted reasoning block (hostile text inside), then the answer; the markers are cut in two.
THINKING = ["<thi", "nk>", "Let me", " [bold", " think", " \x1b[2J", "</th", "ink>", "\n\n",
            "The answer", " is 42"]  # fmt: skip
REASONING = "Let me [bold think \x1b[2J"
ANSWER = "The answer is 42"
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
PERSON_ANSWER = ['{"name": ', '"[bold]Ada"', ', "age": ', "36", "}"]


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the session ----------------------------------------------------------------------------------


def test_reasoning_streams_apart_is_stored_apart_and_left_out_of_the_next_turn(
    context, store, fake_backends
):
    fake_backends["m"] = backend = FakeBackend([THINKING, ["Sure"]])
    session = ChatSession(context, store)
    session.load("m")
    events = list(session.answer([], question="Why?"))
    *tokens, ended = events
    assert isinstance(ended, Answered)
    assert "".join(t.text for t in tokens if t.reasoning) == REASONING
    assert "".join(t.text for t in tokens if not t.reasoning) == ANSWER
    assert (ended.text, ended.reasoning) == (ANSWER, REASONING)
    assert ended.reasoning_seconds is not None and ended.reasoning_seconds >= 0
    stored = store.get(session.conversation.id).messages[-1]
    assert (stored.content, stored.reasoning) == (ANSWER, REASONING)
    assert stored.stats["reasoning_seconds"] == ended.reasoning_seconds

    # The next turn sends the answer alone, even where a caller passes the raw text back.
    raw = "<think>" + REASONING + "</think>" + ANSWER
    turns = [Message("user", "Why?"), Message("assistant", raw)]
    list(session.answer(turns, question="And?"))
    assert backend.requests[-1] == [
        Message("user", "Why?"),
        Message("assistant", ANSWER),
        Message("user", "And?"),
    ]
    session.close()


def test_a_prompt_format_that_opens_the_block_starts_the_answer_inside_it(context, tiny_gguf):
    from tests.tiny_gguf import CHATML_TEMPLATE

    opens = CHATML_TEMPLATE.replace("assistant\n{% endif %}", "assistant\n<think>\n{% endif %}")
    session = ChatSession(context)
    session.load(str(tiny_gguf(["Pondering", " [/]", "</think>", "Done"], chat_template=opens)))
    try:
        *_, ended = session.answer([], question="Go")
        assert session.info.reasoning_opened == "<think>"
        assert (ended.reasoning, ended.text) == ("Pondering [/]", "Done")
    finally:
        session.close()


def test_a_servers_reasoning_content_is_kept_apart(context, fake_backends):
    class ServerReasoning(FakeBackend):
        def stream(self, messages, sampling, cancel=None):
            for event in super().stream(messages, sampling, cancel):
                if isinstance(event, TokenEvent) and event.text.startswith("~"):
                    event = TokenEvent(event.text[1:], reasoning=True)
                yield event

    fake_backends["m"] = ServerReasoning([["~Thinking", "~ hard", "Done"]])
    session = ChatSession(context)
    session.load("m")
    *_, ended = session.answer([], question="Go")
    assert (ended.reasoning, ended.text) == ("Thinking hard", "Done")


def test_an_answer_without_reasoning_has_none(context, store, fake_backends):
    fake_backends["m"] = FakeBackend([["Talking about ", "<think>", " later"]])
    session = ChatSession(context, store)
    session.load("m")
    *_, ended = session.answer([], question="Go")
    assert (ended.text, ended.reasoning, ended.reasoning_seconds) == (
        "Talking about <think> later", "", None,
    )  # fmt: skip
    assert store.get(session.conversation.id).messages[-1].reasoning is None


def test_a_response_format_goes_with_every_answer_and_a_broken_one_changes_nothing(
    context, fake_backends, tmp_path
):
    from tui.core.engine.structured import ResponseFormatError

    seen = []

    class Recording(FakeBackend):
        def stream(self, messages, sampling, cancel=None):
            seen.append(sampling.response_format)
            return super().stream(messages, sampling, cancel)

    fake_backends["m"] = Recording()
    session = ChatSession(context)
    session.load("m")
    good = write(tmp_path, "person.json", json.dumps(PERSON))
    assert session.set_response_format(good).schema == PERSON
    with pytest.raises(ResponseFormatError, match="not a valid JSON schema"):
        session.set_response_format(write(tmp_path, "bad.json", '{"type": 5}'))
    list(session.answer([], question="Who?"))
    session.set_response_format("")
    list(session.answer([], question="Who?"))
    assert [f.schema if f else None for f in seen] == [PERSON, None]


# -- the CLI --------------------------------------------------------------------------------------


def test_plain_output_is_the_answer_alone_and_json_has_the_reasoning_apart(tiny_gguf, capsys):
    path = str(tiny_gguf(THINKING))
    assert main(["chat", path, "--prompt", "Why?", "--no-save"]) == 0
    assert capsys.readouterr().out == ANSWER + "\n"
    assert main(["chat", path, "--prompt", "Why?", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["answer"], document["reasoning"]) == (ANSWER, REASONING)
    assert document["reasoning_seconds"] >= 0


def test_json_without_reasoning_says_none(tiny_gguf, capsys):
    assert main(["chat", str(tiny_gguf(["Plain"])), "--prompt", "Hi", "--json", "--no-save"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["answer"], document["reasoning"], document["reasoning_seconds"]) == (
        "Plain", None, None,
    )  # fmt: skip


def test_json_schema_prints_the_json_answer(tiny_gguf, tmp_path, capsys):
    schema = write(tmp_path, "person.json", json.dumps(PERSON))
    code = main(["chat", str(tiny_gguf(PERSON_ANSWER)), "--prompt", "Who?", "--json-schema",
                 str(schema), "--no-save", "--temperature", "0"])  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"name": "[bold]Ada", "age": 36}


def test_a_grammar_constrains_a_real_model(smollm2, tmp_path, capsys):
    grammar = write(tmp_path, "answer.gbnf", 'root ::= ("yes" | "no") "."')
    code = main(["chat", str(smollm2), "--prompt", "Is the sky blue?", "--grammar", str(grammar),
                 "--no-save", "--temperature", "0", "--max-tokens", "8"])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out in ("yes.\n", "no.\n")


def test_smollm2_answers_json_matching_the_schema_from_the_command_line(smollm2, tmp_path, capsys):
    schema = {**PERSON, "properties": {"name": {"type": "string", "maxLength": 12},
                                       "age": {"type": "integer", "minimum": 0, "maximum": 120}}}
    path = write(tmp_path, "person.json", json.dumps(schema))
    code = main(["chat", str(smollm2), "--prompt", "Describe a person as JSON.", "--json-schema",
                 str(path), "--no-save", "--temperature", "0", "--max-tokens", "60"])  # fmt: skip
    assert code == 0
    answer = json.loads(capsys.readouterr().out)
    assert set(answer) == {"name", "age"} and isinstance(answer["age"], int)


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("broken.json", '{"type": "object",', "not valid JSON"),
        ("wrong.json", '{"type": 5}', "not a valid JSON schema"),
        ("nothing.gbnf", "answer ::= \"x\"", "no `root ::= ...` rule"),
        ("schema.txt", "{}", "expected a JSON schema (.json) or a GBNF grammar (.gbnf)"),
    ],
)
def test_a_broken_schema_or_grammar_is_one_line_and_exit_2(
    tiny_gguf, tmp_path, capsys, name, text, says
):
    path = write(tmp_path, name, text)
    flag = "--grammar" if name.endswith(".gbnf") else "--json-schema"
    assert main(["chat", str(tiny_gguf(["x"])), "--prompt", "Hi", flag, str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and says in captured.err


def test_a_schema_llama_cpp_cannot_use_is_one_line_and_exit_2(tiny_gguf, tmp_path, capsys):
    path = write(tmp_path, "not.json", json.dumps({"not": {"type": "string"}}))
    assert main(["chat", str(tiny_gguf(["x"])), "--prompt", "Hi", "--json-schema", str(path),
                 "--no-save"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot constrain answers to this schema" in err


async def test_json_schema_without_a_prompt_opens_the_screen_answering_in_it(
    tiny_gguf, tmp_path, monkeypatch
):
    from tui.ui.chat.screen import ChatScreen

    apps = []
    monkeypatch.setattr(LlmTui, "run", lambda self: apps.append(self))
    schema = write(tmp_path, "person.json", json.dumps(PERSON))
    assert main(["chat", str(tiny_gguf(["x"])), "--json-schema", str(schema)]) == 0
    (app,) = apps
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.info,
                    "model loaded")  # fmt: skip
        assert app.screen.session.response_format.schema == PERSON
        assert app.screen.query_one("#set-response_format", Input).value == str(schema)


def test_a_broken_schema_for_the_screen_is_one_line_before_it_opens(
    tiny_gguf, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(LlmTui, "run", lambda self: pytest.fail("the screen opened"))
    broken = write(tmp_path, "broken.json", "{")
    assert main(["chat", str(tiny_gguf(["x"])), "--json-schema", str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


# -- the stats line -------------------------------------------------------------------------------


def test_the_stats_line_shows_prompt_lookups_acceptance_only_when_it_was_on():
    off = AnswerStats(completion_tokens=10, generation_seconds=1.0)
    on = AnswerStats(completion_tokens=10, generation_seconds=1.0, draft_proposed=8,
                     draft_accepted=6)  # fmt: skip
    assert "lookup" not in stats_line(off)
    assert "lookup 6/8 drafts kept (75%)" in stats_line(on)


# -- the screen -----------------------------------------------------------------------------------


async def test_reasoning_is_folded_above_the_answer_and_unfolds_with_a_key_or_a_click(
    catalogue, tiny_gguf
):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, tiny_gguf(THINKING))
        await send(pilot, screen, "Why?")
        await until(pilot, lambda: not screen.answering, "answer finished")
        question, answer = views(screen)
        assert question.reasoning is None
        block = answer.reasoning
        assert isinstance(block, ReasoningBlock) and block.collapsed
        assert answer.text == ANSWER and answer.body.source == ANSWER
        # shown literally: markup stays text, the escape is gone
        shown = str(block.query_one(".reasoning-body").render())
        assert "[bold" in shown and "\x1b" not in shown and "Let me" in shown
        assert block.title.startswith(f"Reasoning · {len(REASONING)} characters · ")
        assert block.title.endswith(" s")
        await pilot.press("f5")
        assert not block.collapsed
        await pilot.press("f5")
        assert block.collapsed
        await pilot.click(block.query_one("CollapsibleTitle"))
        assert not block.collapsed
        answer.focus()
        await pilot.press("t")
        assert block.collapsed
        stored = screen.store.get(screen.session.conversation.id).messages[-1]
        assert (stored.content, stored.reasoning) == (ANSWER, REASONING)

        # A reopened conversation shows it folded again, with its time.
        conversation_id = screen.session.conversation.id
        await screen.action_new_chat()
        await screen.open_conversation(conversation_id)
        reopened = views(screen)[-1].reasoning
        assert reopened is not None and reopened.collapsed
        assert reopened.title == block.title


async def test_the_screen_sends_the_answer_alone_on_the_next_turn(catalogue, fake_backends):
    fake_backends["m"] = backend = FakeBackend([THINKING, ["Sure"]])
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, "m")
        for question in ("Why?", "And?"):
            await send(pilot, screen, question)
            await until(pilot, lambda: not screen.answering, "answer finished")
    assert backend.requests[-1] == [
        Message("user", "Why?"),
        Message("assistant", ANSWER),
        Message("user", "And?"),
    ]


async def test_the_settings_panel_loads_a_schema_and_refuses_a_broken_one(
    catalogue, tiny_gguf, tmp_path
):
    good = write(tmp_path, "[bold]person.json", json.dumps(PERSON))  # a name is shown literally
    broken = write(tmp_path, "broken.json", '{"type": 5}')
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, tiny_gguf(PERSON_ANSWER))
        await pilot.press("f2")
        field = screen.query_one("#set-response_format", Input)
        status = screen.query_one("#response-format-status")

        async def enter(path) -> None:
            field.focus()
            field.value = str(path)
            await pilot.press("enter")
            await pilot.pause()

        await enter(good)
        assert screen.session.response_format.schema == PERSON
        assert str(status.render()) == "JSON schema: [bold]person.json"
        notes_before = len(screen.app._notifications)
        await enter(broken)
        notes = list(screen.app._notifications)[notes_before:]
        assert len(notes) == 1 and notes[0].severity == "error"
        assert "not a valid JSON schema" in notes[0].message
        # nothing changed: the schema in use stays, and the field says which it is
        assert screen.session.response_format.schema == PERSON
        assert field.value == str(good) and str(status.render()) == "JSON schema: [bold]person.json"

        await send(pilot, screen, "Who?")
        await until(pilot, lambda: not screen.answering, "answer finished")
        assert json.loads(views(screen)[-1].text) == {"name": "[bold]Ada", "age": 36}

        await enter("")
        assert screen.session.response_format is None and str(status.render()) == "free text"


async def test_prompt_lookup_is_a_setting_that_reloads_and_its_acceptance_is_shown(
    catalogue, tiny_gguf
):
    script = [f" w{i}" for i in range(12)]
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, tiny_gguf(script))
        await pilot.press("f2")
        first = screen.session.backend
        screen.query_one("#set-prompt_lookup", Input).value = "4"
        await until(pilot, lambda: screen.session.backend not in (None, first) and screen.info, "reloaded")
        assert screen.session.options()[0].prompt_lookup == 4
        # the prompt repeats the answer, so drafts come from it
        await send(pilot, screen, "Repeat:" + "".join(script))
        await until(pilot, lambda: not screen.answering, "answer finished")
        stats = screen.last_stats
        assert stats.draft_proposed > 0
        assert f"lookup {stats.draft_accepted}/{stats.draft_proposed} drafts kept" in views(
            screen
        )[-1].note
