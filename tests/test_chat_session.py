"""ChatSession driven headless: a real tiny GGUF through the local worker, and the scripted fake
backend for what surrounds the model (persisting, failures, context fitting, templates)."""

from __future__ import annotations

import threading

import pytest

from tests.fakebackend import FakeBackend
from tui.core.chat.session import Answered, ChatSession
from tui.core.engine.base import EngineError, Message, TokenEvent

HOSTILE = ["Hello", " [bold", "[/]", " \x1b[2J", " 日本語"]


def answer(session: ChatSession, turns=(), **options) -> tuple[list[str], Answered]:
    events = list(session.answer(list(turns), **options))
    *tokens, ended = events
    assert all(isinstance(t, TokenEvent) for t in tokens) and isinstance(ended, Answered)
    return [t.text for t in tokens], ended


def test_a_real_model_streams_and_the_conversation_is_kept(context, store, tiny_gguf):
    session = ChatSession(context, store)
    info = session.load(str(tiny_gguf(HOSTILE)))
    try:
        assert session.info is info and info.template_source == "gguf"
        tokens, ended = answer(session, question="Say it")
        # The worker sends text in batches: the pieces arrive joined, in order, exactly.
        assert "".join(tokens) == ended.text == "".join(HOSTILE)
        assert ended.error is None and not ended.stopped and ended.stats.completion_tokens == 5
        kept = store.get(session.conversation.id)
        assert [(m.id, m.role, m.content, m.stopped) for m in kept.messages] == [
            (ended.question_id, "user", "Say it", False),
            (ended.answer_id, "assistant", "".join(HOSTILE), False),
        ]
        assert kept.model == str(tiny_gguf(HOSTILE)) and kept.messages[1].stats["completion_tokens"] == 5
    finally:
        session.close()


def test_stop_ends_the_answer_and_keeps_the_part_marked(context, store, tiny_gguf):
    script = [f"w{i} " for i in range(2000)]
    session = ChatSession(context, store, overrides={"max_tokens": 0})
    session.load(str(tiny_gguf(script)))
    cancel = threading.Event()
    try:
        events = session.answer([], question="Go", cancel=cancel)
        shown = [next(events).text for _ in range(3)]
        session.stop()
        rest = list(events)
        ended = rest[-1]
        assert isinstance(ended, Answered) and ended.stopped and ended.error is None
        assert ended.stats.finish_reason == "cancelled"
        assert "".join(script).startswith(ended.text) and len(ended.text) < len("".join(script))
        assert ended.text.startswith("".join(shown))
        last = store.get(session.conversation.id).messages[-1]
        assert (last.content, last.stopped) == (ended.text, True)
    finally:
        session.close()


def test_the_system_prompt_and_the_turns_are_what_the_model_is_asked(context, store, fake_backends):
    fake_backends["m"] = backend = FakeBackend([["One"], ["Two"]])
    session = ChatSession(context, store, overrides={"system_prompt": "Be [bold]brief"})
    session.load("m")
    _, first = answer(session, question="a")
    turns = [Message("user", "a"), Message("assistant", first.text)]
    _, second = answer(session, turns, question="b")
    assert backend.requests[1] == [Message("system", "Be [bold]brief"), *turns, Message("user", "b")]
    kept = store.get(session.conversation.id)
    assert [m.content for m in kept.messages] == ["a", "One", "b", "Two"]
    assert kept.settings["system_prompt"] == "Be [bold]brief"


def test_without_a_store_nothing_is_kept(context, fake_backends):
    fake_backends["m"] = FakeBackend([["x"]])
    session = ChatSession(context)
    session.load("m")
    _, ended = answer(session, question="q")
    assert ended.text == "x" and (ended.question_id, ended.answer_id) == (None, None)
    assert session.conversation is None


def test_redo_and_edit_keep_the_old_messages_beside_the_new(context, store, fake_backends):
    fake_backends["m"] = FakeBackend([["first"], ["again"], ["edited"]])
    session = ChatSession(context, store)
    session.load("m")
    _, one = answer(session, question="q")
    question = [Message("user", "q")]
    _, two = answer(session, question, redo=one.answer_id)
    kept = store.get(session.conversation.id).messages
    assert [m.content for m in kept] == ["q", "again"]
    assert kept[1].alternatives.ids == (one.answer_id, two.answer_id)
    assert kept[1].alternatives.label == "2/2"
    _, three = answer(session, [Message("user", "q2")], edit=(one.question_id, "q2"))
    kept = store.get(session.conversation.id).messages
    assert [(m.role, m.content) for m in kept] == [("user", "q2"), ("assistant", "edited")]
    assert kept[0].id == three.question_id and kept[0].alternatives.label == "2/2"
    assert kept[1].id == three.answer_id != two.answer_id
    # The old question is there, with the answer last shown under it.
    shown = session.show_alternative(one.question_id)
    assert [m.content for m in shown.messages] == ["q", "again"]
    assert shown.messages[0].alternatives.label == "1/2"
    assert session.conversation is shown


def test_fork_copies_the_branch_up_to_a_message(context, store, fake_backends):
    fake_backends["m"] = FakeBackend([["a1"], ["a2"]])
    session = ChatSession(context, store)
    session.load("m")
    _, one = answer(session, question="q1 [bold")
    answer(session, [Message("user", "q1 [bold"), Message("assistant", "a1")], question="q2")
    source = session.conversation.id
    fork = session.fork(one.answer_id)
    assert fork != source
    opened = session.open_conversation(fork)
    assert [(m.role, m.content) for m in opened.messages] == [
        ("user", "q1 [bold"),
        ("assistant", "a1"),
    ]
    assert len(store.get(source).messages) == 4  # the source is as it was


def test_a_preset_gives_its_system_prompt_and_settings_under_the_flags(
    context, store, fake_backends
):
    from tui.core.chat.presets import Preset

    context.presets().create(Preset("terse [bold", system_prompt="Be [/] terse.", max_tokens=7,
                                    temperature=0.1))  # fmt: skip
    fake_backends["m"] = FakeBackend([["ok"]])
    session = ChatSession(context, store, preset="terse [bold", overrides={"temperature": 0.9})
    session.load("m")
    _, sampling = session.options()
    assert (sampling.max_tokens, sampling.temperature) == (7, 0.9)  # the flag over the preset
    answer(session, question="hi")
    assert fake_backends["m"].requests[-1][0] == Message("system", "Be [/] terse.")
    kept = store.get(session.conversation.id)
    assert kept.settings["preset"] == "terse [bold" and kept.settings["max_tokens"] == 7

    # Reopened: the preset again, the setting chosen over it too.
    again = ChatSession(context, store)
    again.open_conversation(kept.id)
    assert again.preset.name == "terse [bold" and again.overrides == {"temperature": 0.9}
    assert again.options()[1].max_tokens == 7


def test_a_models_default_preset_applies_unless_one_is_chosen(context, store, fake_backends):
    from tui.core.chat.presets import PresetError

    context.presets().set_default("m", "precise")
    fake_backends["m"] = FakeBackend([["ok"]])
    session = ChatSession(context, store)
    session.load("m")
    assert session.preset.name == "precise"
    assert session.values["system_prompt"] == context.presets().get("precise").system_prompt
    session.use_preset(None)
    session.load("m")
    assert session.preset is None and session.values["temperature"] == 0.7
    with pytest.raises(PresetError, match="presets: precise, balanced"):
        ChatSession(context, store, preset="nope")


def test_a_failure_mid_answer_is_reported_and_its_part_kept(context, store, fake_backends):
    fake_backends["m"] = FakeBackend([["part", EngineError("the server [bold]hung up", "server")]])
    session = ChatSession(context, store)
    session.load("m")
    tokens, ended = answer(session, question="q")
    assert tokens == ["part"] and ended.stopped and ended.stats is None
    assert ended.error.message == "the server [bold]hung up"
    last = store.get(session.conversation.id).messages[-1]
    assert (last.content, last.stopped) == ("part", True)


def test_a_failure_before_any_text_keeps_only_the_question(context, store, fake_backends):
    fake_backends["m"] = FakeBackend([[EngineError("refused", "server")]])
    session = ChatSession(context, store)
    session.load("m")
    tokens, ended = answer(session, question="q")
    assert tokens == [] and ended.error.message == "refused" and ended.answer_id is None
    assert [m.role for m in store.get(session.conversation.id).messages] == ["user"]


def test_a_model_that_fails_to_load_leaves_none_open(context, fake_backends):
    fake_backends["bad"] = FakeBackend(load_error=EngineError("not a GGUF", "bad_file"))
    session = ChatSession(context)
    with pytest.raises(EngineError, match="not a GGUF"):
        session.load("bad")
    assert session.backend is None and session.info is None
    with pytest.raises(EngineError, match="no model is open"):
        list(session.answer([], question="q"))


def test_loading_another_model_closes_the_first(context, fake_backends):
    fake_backends["a"], fake_backends["b"] = first, second = FakeBackend(), FakeBackend(label="b")
    session = ChatSession(context)
    session.load("a")
    assert session.load("b").name == "b"
    assert first.closed and not second.closed and session.backend is second


def test_the_oldest_turns_drop_to_fit_the_context(context, fake_backends):
    # 10 tokens a message, a context of 100 with 50 kept for the answer: 5 messages fit.
    fake_backends["m"] = backend = FakeBackend([["ok"]], context_size=100)
    session = ChatSession(context, overrides={"max_tokens": 50, "context_policy": "drop_oldest"})
    session.load("m")
    turns = [Message("user" if i % 2 == 0 else "assistant", f"t{i}") for i in range(8)]
    dropped = []
    _, ended = answer(session, turns, question="last", on_dropped=dropped.append)
    assert ended.error is None and dropped and dropped[0] > 0
    asked = backend.requests[0]
    assert asked[-1] == Message("user", "last") and len(asked) <= 5
    assert len(asked) + dropped[0] == len(turns) + 1


def test_a_conversation_too_long_for_the_stop_policy_fails_visibly(context, fake_backends):
    fake_backends["m"] = backend = FakeBackend([["ok"]], context_size=100)
    session = ChatSession(context, overrides={"max_tokens": 50, "context_policy": "stop"})
    session.load("m")
    turns = [Message("user", f"t{i}") for i in range(8)]
    tokens, ended = answer(session, turns, question="q")
    assert tokens == [] and ended.error.kind == "context" and backend.requests == []


def test_a_template_switch_applies_and_is_kept(context, store, fake_backends):
    fake_backends["m"] = FakeBackend([["x"]])
    session = ChatSession(context, store)
    session.load("m")
    answer(session, question="q")
    info = session.set_template("chatml")
    assert info.template_name == "chatml" and session.info is info
    assert store.get(session.conversation.id).template == "chatml"
    assert session.values["template"] == "chatml"


def test_a_stored_conversation_continues_with_its_settings(context, store, fake_backends):
    fake_backends["m"] = FakeBackend([["x"]])
    first = ChatSession(context, store, overrides={"temperature": 0.25})
    first.load("m")
    answer(first, question="q")
    again = ChatSession(context, store)
    conversation = again.open_conversation(first.conversation.id)
    assert again.values["temperature"] == 0.25 and conversation.model == "m"
    again.load("m")
    answer(again, [Message("user", "q"), Message("assistant", "x")], question="more")
    assert len(store.get(conversation.id).messages) == 4


def test_a_change_of_settings_says_what_it_takes_to_apply(context, store, fake_backends):
    fake_backends["m"] = FakeBackend()
    session = ChatSession(context, store)
    assert session.choose("gpu_layers", 0) is None  # no model asked for: nothing to reload
    assert session.choose("template", "chatml") is None
    session.spec = "m"  # asked for, not open yet (loading, or failed)
    assert session.choose("template", "alpaca") == "reload"
    session.load("m")
    assert session.choose("gpu_layers", 5) == "reload"
    assert session.choose("template", "chatml") == "template"
    assert session.choose("context_policy", "stop") == "recount"
    assert session.choose("system_prompt", "Be brief") == "recount"
    assert session.choose("temperature", 0.3) is None
    assert session.choose("temperature", 0.3) is None  # the same again: nothing changed
    # A preset: the changes of all its settings together.
    assert session.use_preset("code") == "recount"  # its system prompt
    assert session.use_preset("code") is None


def test_a_preset_with_another_context_reloads(context, store, fake_backends):
    from tui.core.chat.presets import Preset

    context.presets().create(Preset("long", context_length=8192))
    fake_backends["m"] = FakeBackend()
    session = ChatSession(context, store)
    session.load("m")
    assert session.use_preset("long") == "reload"


def test_the_conversation_exports_itself_as_markdown_and_json(context, store, fake_backends):
    import json

    fake_backends["m"] = FakeBackend([["first [bold"], ["second"]])
    session = ChatSession(context, store)
    session.load("m")
    _, ended = answer(session, question="q")
    answer(session, [Message("user", "q")], redo=ended.answer_id)
    stem = session.export()
    assert stem == context.paths.data_dir / "exports" / f"conversation-{session.conversation.id}"
    markdown = stem.with_suffix(".md").read_text(encoding="utf-8")
    assert "second" in markdown and "first" not in markdown  # the branch shown
    kept = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    assert [m["content"] for m in kept["messages"]] == ["q", "second"]


def test_an_answers_stats_come_back_from_the_store(context, store, fake_backends):
    from tui.core.engine.base import AnswerStats

    fake_backends["m"] = FakeBackend([["one", "two"]])
    session = ChatSession(context, store)
    session.load("m")
    _, ended = answer(session, question="q")
    kept = store.get(session.conversation.id).messages[-1].stats
    assert "tokens_per_second" in kept  # derived, written for other tools
    assert AnswerStats.from_dict(kept) == ended.stats


def test_the_answer_format_in_use_says_what_it_is_and_where_it_came_from(context, tmp_path):
    schema, grammar = tmp_path / "person [bold].json", tmp_path / "yes.gbnf"
    schema.write_text('{"type": "object"}', encoding="utf-8")
    grammar.write_text('root ::= "yes"', encoding="utf-8")
    session = ChatSession(context)
    assert session.set_response_format(schema).describe() == "JSON schema: person [bold].json"
    assert session.response_format.source == str(schema)
    assert session.set_response_format(str(grammar)).describe() == "GBNF grammar: yes.gbnf"
    assert session.set_response_format("") is None
