"""Branches, search and presets in the chat screen, driven with Pilot: the scripted fake backend
(tests/fakebackend.py) answers, the store is real."""

from __future__ import annotations

from dataclasses import replace

from tests.fakebackend import FakeBackend
from tests.pilot import until
from tests.test_ui_chat import open_chat, send, type_and_enter, views
from tui.core.chat.presets import Preset
from tui.core.chat.store import ConversationStore
from tui.core.config.paths import app_paths
from tui.core.engine.base import Message
from tui.ui.app import LlmTui
from tui.ui.chat.conversations import SearchHits
from tui.ui.chat.screen import ChatScreen
from tui.ui.chat.widgets import AlternativeArrow, ChatInput

HOSTILE = "zebra [bold] [/] \x1b[2J [link=https://x.invalid]x"


def label(view) -> str | None:
    """The "2/3" a message shows (None: it shows none)."""
    shown = view.query_one(".alternative-label")
    return str(shown.render()) if shown.display else None


async def answered(pilot, screen, *texts: str) -> None:
    await until(
        pilot,
        lambda: not screen.answering and [v.text for v in views(screen)] == list(texts),
        f"shown: {texts}",
    )


async def test_regenerate_keeps_the_old_answer_and_the_branch_shown_is_sent(
    catalogue, fake_backends
):
    model = fake_backends["m"] = FakeBackend([["first ", "[bold]"], ["second"], ["next"]])
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, "m")
        await send(pilot, screen, "q")
        await answered(pilot, screen, "q", "first [bold]")
        assert label(views(screen)[1]) is None  # one answer: no "1/1"
        await pilot.press("ctrl+r")
        await answered(pilot, screen, "q", "second")
        assert label(views(screen)[1]) == "2/2"

        await pilot.press("alt+left")  # from the input: the last message's alternatives
        await answered(pilot, screen, "q", "first [bold]")
        assert label(views(screen)[1]) == "1/2"
        assert views(screen)[1].body.source == "first [bold]"  # literally
        await send(pilot, screen, "q2")
        await answered(pilot, screen, "q", "first [bold]", "q2", "next")
        assert model.requests[-1] == [
            Message("user", "q"),
            Message("assistant", "first [bold]"),
            Message("user", "q2"),
        ]

        # A click on "›": the other answer, and below it what was shown under it (nothing).
        await pilot.click(views(screen)[1].query(AlternativeArrow).last())
        await answered(pilot, screen, "q", "second")
        assert label(views(screen)[1]) == "2/2"
        exported = screen.store.get(screen.conversation.id).to_markdown()
        assert "second" in exported and "first" not in exported  # exports follow the branch


async def test_editing_a_question_branches(catalogue, fake_backends):
    fake_backends["m"] = FakeBackend([["one"], ["two"]])
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, "m")
        await send(pilot, screen, "q [/]")
        await answered(pilot, screen, "q [/]", "one")
        await pilot.press("ctrl+up")
        screen.query_one(ChatInput).load_text("q edited")
        await pilot.press("enter")
        await answered(pilot, screen, "q edited", "two")
        assert label(views(screen)[0]) == "2/2"
        views(screen)[0].focus()
        await pilot.press("left_square_bracket")
        await answered(pilot, screen, "q [/]", "one")
        assert label(views(screen)[0]) == "1/2" and screen.focused is views(screen)[0]


async def test_fork_from_here_opens_a_new_conversation_with_the_prefix(catalogue, fake_backends):
    fake_backends["m"] = FakeBackend([["a1"], ["a2"]])
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, "m")
        await send(pilot, screen, "q1")
        await answered(pilot, screen, "q1", "a1")
        await send(pilot, screen, "q2")
        await answered(pilot, screen, "q1", "a1", "q2", "a2")
        source = screen.conversation.id
        views(screen)[1].focus()
        await pilot.press("ctrl+b")
        await until(pilot, lambda: screen.conversation and screen.conversation.id != source, "fork")
        await answered(pilot, screen, "q1", "a1")
        assert len(screen.store.get(source).messages) == 4
        listed = screen.query_one("#conversations")
        assert listed.option_count == 2


def _a_hidden_hit() -> tuple[int, int]:
    """A conversation whose second answer (hostile text) is on a branch not shown."""
    store = ConversationStore(app_paths().database)
    conversation = store.create("m", "fake")
    store.add_message(conversation.id, "user", "tell me about animals")
    first = store.add_message(conversation.id, "assistant", "cats")
    hidden = store.add_alternative(conversation.id, first.id, HOSTILE)
    store.select(conversation.id, first.id)
    store.close()
    return conversation.id, hidden.id


async def test_search_as_you_type_opens_a_hit_on_its_hidden_branch(catalogue, fake_backends):
    fake_backends["m"] = FakeBackend()
    conversation_id, hidden = _a_hidden_hit()
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen), "chat screen")
        screen = pilot.app.screen
        await pilot.press("ctrl+f", *"zeb")
        found = screen.query_one(SearchHits)
        await until(pilot, lambda: found.display and found.option_count == 1, "a hit")
        assert not screen.query_one("#conversations").display
        prompt = found.get_option_at_index(0).prompt
        shown = prompt.plain
        assert "[bold] [/]" in shown and "[link=https://x.invalid]" in shown and "\x1b" not in shown
        assert any(span.style == "bold reverse" and prompt.plain[span.start:span.end] == "zebra"
                   for span in prompt.spans)  # fmt: skip
        await pilot.press("enter", "enter")  # to the hits, then open the first
        await until(pilot, lambda: len(views(screen)) == 2, "opened")
        assert screen.conversation.id == conversation_id
        answer = views(screen)[1]
        assert (answer.message_id, answer.text, label(answer)) == (hidden, HOSTILE, "2/2")
        assert screen.focused is answer

        screen.query_one("#conversation-search").value = ""  # empty: the list again
        await until(pilot, lambda: screen.query_one("#conversations").display, "the list back")
        assert not found.display


async def test_a_preset_picked_in_the_settings_reaches_the_model(catalogue, fake_backends):
    from textual.widgets import Select

    from tui.core.config.context import AppContext

    AppContext.load().presets().create(Preset("p [/] [bold", system_prompt="Be [bold] brief."))
    model = fake_backends["m"] = FakeBackend([["ok"]])
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, "m")
        await pilot.press("f2")
        picker = screen.query_one("#set-preset", Select)
        picker.value = "p [/] [bold"
        await until(pilot, lambda: screen.session.preset is not None, "preset chosen")
        assert screen.query_one("#set-system_prompt").text == "Be [bold] brief."
        shown = picker.query_one("SelectCurrent #label").render()
        assert "p [/] [bold" in str(shown)  # the user's name, literally
        assert "preset: p [/] [bold" in str(screen.query_one("#model-bar").render())
        await type_and_enter(pilot, screen, "hi")
        await until(pilot, lambda: not screen.answering and model.requests, "answered")
        assert model.requests[-1][0] == Message("system", "Be [bold] brief.")
        assert screen.store.get(screen.conversation.id).settings["preset"] == "p [/] [bold"

        # Changed in the preset manager (f6) meanwhile: the chat answers with it as it is now.
        book = pilot.app.context.presets()
        book.edit("p [/] [bold", replace(book.get("p [/] [bold"), system_prompt="Changed."))
        await pilot.press("escape", "f6")
        await until(pilot, lambda: pilot.app.screen is not screen, "the manager open")
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "back in the chat")
        assert screen.query_one("#set-system_prompt").text == "Changed."
        await type_and_enter(pilot, screen, "again")
        await until(pilot, lambda: not screen.answering and len(model.requests) == 2, "answered")
        assert model.requests[-1][0] == Message("system", "Changed.")


async def test_a_models_default_preset_shows_when_it_loads(catalogue, fake_backends):
    from textual.widgets import Select

    from tui.core.config.context import AppContext

    AppContext.load().presets().set_default("m", "code")
    model = fake_backends["m"] = FakeBackend([["ok"]])
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, "m")
        await until(pilot, lambda: screen.query_one("#set-preset", Select).value == "code", "shown")
        code = pilot.app.context.presets().get("code")
        assert screen.query_one("#set-system_prompt").text == code.system_prompt
        await type_and_enter(pilot, screen, "hi")
        await until(pilot, lambda: not screen.answering and model.requests, "answered")
        assert model.requests[-1][0] == Message("system", code.system_prompt)


async def test_a_regenerated_answer_that_fails_at_once_leaves_the_old_one(catalogue, fake_backends):
    from tui.core.engine.base import EngineError

    fake_backends["m"] = FakeBackend([["kept"], [EngineError("the server [bold] hung up", "server")]])
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, "m")
        await send(pilot, screen, "q")
        await answered(pilot, screen, "q", "kept")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: not screen.answering, "failed")
        await answered(pilot, screen, "q", "kept")
        assert label(views(screen)[1]) is None  # nothing was added beside it
