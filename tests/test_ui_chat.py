"""The chat screen, driven with Pilot: real models (tiny deterministic GGUFs and SmolLM2), real store."""

from __future__ import annotations

import gc

from tests.pilot import until
from tui.core.text import clean
from tui.ui.app import LlmTui
from tui.ui.chat.screen import ChatScreen
from tui.ui.chat.widgets import ChatInput, MessageView, code_blocks

HOSTILE = [
    "Hello",
    ", ",
    "[bold]",
    "world",
    "[/]",
    "\x1b[2J",
    "[link=https://x.invalid]",
    "```py",
    "你好",
    "🙂",
]


async def open_chat(pilot, spec) -> ChatScreen:
    pilot.app.open_job("chat", str(spec))
    await until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen), "chat screen shown")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.info is not None or screen.last_error, "model loaded")
    return screen


async def type_and_enter(pilot, screen: ChatScreen, text: str) -> None:
    chat_input = screen.query_one(ChatInput)
    chat_input.focus()
    chat_input.load_text(text)
    await pilot.press("enter")


async def send(pilot, screen: ChatScreen, text: str) -> None:
    """Send a message and wait until its answer has started (a new answer view exists)."""
    before = [v for v in views(screen) if v.role == "assistant"]
    await type_and_enter(pilot, screen, text)
    await until(
        pilot,
        lambda: any(v.role == "assistant" and v not in before for v in views(screen)),
        "answer started",
    )


def views(screen) -> list[MessageView]:
    return list(screen.query(MessageView))


async def test_a_streamed_answer_appears_literally_and_is_kept(catalogue, tiny_gguf):
    path = tiny_gguf(HOSTILE)
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, path)
        assert screen.info.template_source == "gguf"
        bar = str(screen.query_one("#model-bar").render())
        assert "format: embedded in the GGUF  " in bar or bar.endswith("format: embedded in the GGUF")
        await send(pilot, screen, "Say it")
        await until(pilot, lambda: not screen.answering, "answer finished")
        question, answer = views(screen)
        expected = "".join(HOSTILE)
        assert (question.role, question.text) == ("user", "Say it")
        assert answer.text == expected  # the model's text, exactly
        assert answer.body.source == clean(
            expected
        )  # shown as Markdown source: no markup, no escapes
        assert "[bold]" in answer.body.source and "\x1b" not in answer.body.source
        assert f"{len(HOSTILE)} tokens" in answer.note
        stored = screen.store.get(screen.session.conversation.id)
        assert [(m.role, m.content, m.stopped) for m in stored.messages] == [
            ("user", "Say it", False),
            ("assistant", expected, False),
        ]
        assert screen.context_used == stored.messages[1].stats["context_used"]


async def test_stop_mid_answer_keeps_the_part_and_marks_it(catalogue, tiny_gguf):
    script = [f"w{i} " for i in range(1500)]
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, tiny_gguf(script))
        screen.session.overrides["max_tokens"] = 0
        await send(pilot, screen, "Go")
        await until(
            pilot,
            lambda: screen._answer_view is not None and screen._answer_view.text,
            "first tokens",
        )
        # Nothing the model pays for: no cursor blink, no full collection of the app's objects.
        assert not screen.query_one(ChatInput).cursor_blink
        assert gc.get_freeze_count() > 0
        await pilot.press("escape")
        await until(pilot, lambda: not screen.answering, "answer stopped")
        assert screen.query_one(ChatInput).cursor_blink
        assert gc.get_freeze_count() == 0
        answer = views(screen)[-1]
        full = "".join(script)
        assert answer.text and full.startswith(answer.text) and len(answer.text) < len(full)
        assert "stopped" in answer.note
        stored = screen.store.get(screen.session.conversation.id).messages[-1]
        assert (stored.content, stored.stopped) == (answer.text, True)


async def test_an_unexpected_error_ends_the_answer_visibly(catalogue, tiny_gguf, monkeypatch):
    from tui.core.engine.local import LocalBackend

    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, tiny_gguf(["Fine"]))

        def broken(*args, **kwargs):
            raise RuntimeError("a bug [bold]here")

        monkeypatch.setattr(LocalBackend, "stream", broken)
        await type_and_enter(pilot, screen, "Go")
        await until(pilot, lambda: not screen.answering, "the answer ended")
        assert gc.get_freeze_count() == 0
        assert any(
            "unexpected error: a bug [bold]here" in str(n.message)
            for n in pilot.app._notifications
        )
        monkeypatch.undo()
        await send(pilot, screen, "Again")  # the chat still works
        await until(pilot, lambda: not screen.answering, "answer finished")
        assert views(screen)[-1].text == "Fine"


async def test_regenerate_and_edit_and_resend(catalogue, tiny_gguf):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, tiny_gguf(["One", " two"]))
        await send(pilot, screen, "first")
        await until(pilot, lambda: not screen.answering, "answer finished")
        first_answer_id = views(screen)[-1].message_id
        await pilot.press("ctrl+r")
        await until(
            pilot,
            lambda: (
                not screen.answering
                and len(views(screen)) == 2
                and views(screen)[-1].message_id != first_answer_id
            ),
            "regenerated",
        )
        assert views(screen)[-1].text == "One two"
        assert [m.id for m in screen.store.get(screen.session.conversation.id).messages][
            -1
        ] != first_answer_id

        await pilot.press("ctrl+up")
        chat_input = screen.query_one(ChatInput)
        assert chat_input.text == "first"
        chat_input.load_text("first, edited")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                not screen.answering
                and views(screen)[-1].role == "assistant"
                and views(screen)[0].text == "first, edited"
            ),
            "resent",
        )
        stored = screen.store.get(screen.session.conversation.id).messages
        assert [(m.role, m.content) for m in stored] == [
            ("user", "first, edited"),
            ("assistant", "One two"),
        ]


async def test_a_conversation_survives_an_app_restart(catalogue, tiny_gguf):
    path = tiny_gguf(["Kept", " answer"])
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, path)
        screen.session.overrides["temperature"] = 0.25
        await send(pilot, screen, "remember me")
        await until(pilot, lambda: not screen.answering, "answer finished")
        conversation_id = screen.session.conversation.id
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen), "chat screen")
        screen = pilot.app.screen
        listed = screen.query_one("#conversations")
        assert listed.option_count == 1 and listed.get_option_at_index(0).id == str(conversation_id)
        await screen.open_conversation(conversation_id)
        await until(pilot, lambda: screen.info is not None, "its model loaded again")
        assert [(v.role, v.text) for v in views(screen)] == [
            ("user", "remember me"),
            ("assistant", "Kept answer"),
        ]
        assert screen.session.spec == str(path) and screen.session.values["temperature"] == 0.25
        await send(pilot, screen, "and again")
        await until(pilot, lambda: not screen.answering, "answer finished")
        assert len(screen.store.get(conversation_id).messages) == 4


async def two_conversations(pilot, model) -> tuple[ChatScreen, int, int]:
    """The chat screen with two chats of one exchange each, the second open; their ids, oldest
    first."""
    screen = await open_chat(pilot, model)
    ids = []
    for question in ("first chat", "second chat"):
        if ids:
            await pilot.press("ctrl+n")
        await send(pilot, screen, question)
        await until(pilot, lambda: not screen.answering, "answer finished")
        ids.append(screen.session.conversation.id)
    return screen, ids[0], ids[1]


async def test_delete_a_past_conversation_from_the_list(catalogue, tiny_gguf):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen, first, second = await two_conversations(pilot, tiny_gguf(["Answer"]))
        listed = screen.query_one("#conversations")
        assert [listed.get_option_at_index(i).id for i in range(2)] == [str(second), str(first)]

        await pilot.press("ctrl+l")  # to the list; its first entry is the open conversation
        assert listed.has_focus and listed.highlighted == 0
        await pilot.press("delete")
        await until(pilot, lambda: listed.option_count == 1, "the list shows one")
        assert listed.get_option_at_index(0).id == str(first)
        assert [s.id for s in screen.store.list()] == [first]
        # It was the open one: the screen starts a new chat instead of showing a deleted one.
        assert screen.session.conversation is None and views(screen) == []
        await pilot.press("delete")
        await until(pilot, lambda: listed.option_count == 0, "the list is empty")
        assert screen.store.list() == []


async def test_the_conversation_list_keeps_its_place_and_follows_the_order(catalogue, tiny_gguf):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen, first, second = await two_conversations(pilot, tiny_gguf(["Answer"]))
        listed = screen.query_one("#conversations")
        await pilot.press("ctrl+l", "down")
        assert listed.highlighted == 1
        # A message in the conversation at the top changes nothing the list shows: the place the
        # user left in it stays.
        await send(pilot, screen, "more")
        await until(pilot, lambda: not screen.answering, "answer finished")
        assert listed.highlighted == 1
        assert [listed.get_option_at_index(i).id for i in range(2)] == [str(second), str(first)]
        # A message in the older one brings it to the top.
        await screen.open_conversation(first)
        await until(pilot, lambda: screen.info is not None, "its model loaded")
        await send(pilot, screen, "back again")
        await until(pilot, lambda: not screen.answering, "answer finished")
        assert [listed.get_option_at_index(i).id for i in range(2)] == [str(first), str(second)]


async def test_a_bad_file_shows_an_error_and_the_app_keeps_working(catalogue, tiny_gguf, tmp_path):
    good = tiny_gguf(["Fine"])
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(good.read_bytes()[:-1000])  # a download cut short
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, bad)
        assert screen.info is None and "truncated" in screen.last_error
        assert "-error" in screen.query_one("#model-bar").classes
        await type_and_enter(pilot, screen, "hello?")  # nothing to answer with: a warning, no crash
        await pilot.pause()
        assert views(screen) == []
        screen.open_model(str(good))
        await until(pilot, lambda: screen.info is not None, "a good model loads after a bad one")
        await send(pilot, screen, "hello")
        await until(pilot, lambda: not screen.answering, "answer finished")
        assert views(screen)[-1].text == "Fine"


async def test_a_guessed_template_is_flagged(catalogue, tiny_gguf):
    path = tiny_gguf(["ok"], chat_template=None, name="zephyr-7b-beta")
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, path)
        bar = screen.query_one("#model-bar")
        assert screen.info.template_is_guess and "-guess" in bar.classes
        assert "Zephyr (guessed)" in str(bar.render()) and "⚠" in str(bar.render())


async def test_keys_arriving_in_one_burst_are_sent_whole_and_in_order(catalogue, tiny_gguf):
    # Over SSH or from a fast typist, "hello⏎" can arrive in one read: Enter must see every
    # character before it, and a new line must land after them.
    from textual import events

    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, tiny_gguf(HOSTILE))
        chat_input = screen.query_one(ChatInput)
        chat_input.focus()
        await pilot.pause()
        burst = [*"one", "ctrl+j", *"two", "enter"]
        for key in burst:
            character = {"ctrl+j": None, "enter": "\r"}.get(key, key)
            pilot.app.post_message(events.Key(key, character))
        await until(pilot, lambda: len(views(screen)) == 2, "message sent")
        assert views(screen)[0].text == "one\ntwo"
        assert chat_input.text == ""


async def test_input_history_and_copy(catalogue, tiny_gguf):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, tiny_gguf(["Here:\n", "```py\nprint(1)\n```\n"]))
        await send(pilot, screen, "one")
        await until(pilot, lambda: not screen.answering, "answer finished")
        copied = []
        pilot.app.copy_to_clipboard = copied.append
        await pilot.press("f3")
        await pilot.press("f4")
        assert copied == ["Here:\n```py\nprint(1)\n```\n", "print(1)"]
        chat_input = screen.query_one(ChatInput)
        chat_input.focus()
        await pilot.press("up")
        assert chat_input.text == "one"
        await pilot.press("down")
        assert chat_input.text == ""


async def test_real_model_answers_through_the_screen(catalogue, smollm2):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, smollm2)
        screen.session.overrides.update(max_tokens=8, temperature=0)
        await send(pilot, screen, "What is the capital of France?")
        await until(pilot, lambda: not screen.answering, "answer finished", steps=1500)
        answer = views(screen)[-1]
        assert answer.text.strip() and answer.role == "assistant"
        assert screen.context_used > 0
        assert "context" in str(screen.query_one("#meter").render())


async def test_open_model_says_when_there_is_nothing_to_pick(catalogue, tiny_gguf):
    from textual.widgets import Label

    from tui.ui.chat.screen import OpenModelScreen

    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, tiny_gguf(HOSTILE))  # a file outside any model folder
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, OpenModelScreen), "dialog shown")
        title = pilot.app.screen.query_one("#open-title", Label)
        await until(pilot, lambda: "No models here" in str(title.render()), "nothing found")
        await pilot.press(*"nowhere.gguf", "enter")  # typing still works
        await until(pilot, lambda: pilot.app.screen is screen, "dialog closed")
        await until(pilot, lambda: screen.last_error is not None, "the typed model tried")
        assert pilot.app.is_running


def test_renders_take_less_when_the_model_has_every_core(monkeypatch):
    import os

    from tui.core.engine.base import ModelInfo
    from tui.ui.common import pump

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)

    def info(**local) -> ModelInfo:
        return ModelInfo("m", "m.gguf", 4096, **local)

    assert pump.ui_share([info(n_threads=4)]) == pump.UI_SHARE_NO_SPARE_CORE
    assert pump.ui_share([info(n_threads=2)]) == pump.UI_SHARE  # a core to spare
    # All layers on the GPU: the CPU threads mostly wait, as for a remote model.
    assert pump.ui_share([info(n_threads=4, offloaded_layers=(30, 30))]) == pump.UI_SHARE
    assert pump.ui_share([info(n_threads=4, offloaded_layers=(10, 30))]) == pump.UI_SHARE_NO_SPARE_CORE
    assert pump.ui_share([info()]) == pump.UI_SHARE
    # Compare: one model that takes every core is enough.
    assert pump.ui_share([info(n_threads=2), info(n_threads=4)]) == pump.UI_SHARE_NO_SPARE_CORE
    assert pump.ui_share([None]) == pump.UI_SHARE
    assert pump.UI_SHARE_NO_SPARE_CORE < pump.UI_SHARE


def test_code_blocks():
    text = "a\n```py\nx = 1\n```\nb\n~~~\ny\n~~~\n```unclosed\nz"
    assert code_blocks(text) == ["x = 1", "y"]
