"""Moving between the views: alt+digit and f1 from anywhere (text fields included), esc out of a
text field, and where the focus lands on entering a view. Pilot, with the keys a terminal sends.

The terminal's bytes go through Textual's own input parser (`XTermParser`, private: checked against
Textual 8.2.8), so these tests press the keys the app really receives: xterm, tmux and most Linux
terminals send alt+digit as ESC and the digit, which that parser turns into the characters macOS
types for option+digit (¡ ™ £ ¢ ∞); terminals with the kitty keyboard protocol send CSI 49;3u.
"""

from __future__ import annotations

import pytest
from textual import events
from textual._xterm_parser import XTermParser
from textual.command import CommandPalette
from textual.widgets import Input, OptionList, TextArea

from tests.pilot import until
from tui.ui.app import VIEWS, LlmTui
from tui.ui.chat.screen import ChatScreen, OpenModelScreen
from tui.ui.chat.widgets import ChatInput
from tui.ui.common.help import HelpScreen
from tui.ui.common.keys import ALT_DIGIT_KEYS, KeyFooter
from tui.ui.common.model_select import ModelOffer

MODES = [mode for mode, _, _ in VIEWS]
XTERM = {n: f"\x1b{n}" for n in range(1, 6)}  # alt+digit in xterm, tmux, GNOME's, Konsole
MACOS = dict(zip(range(1, 6), "¡™£¢∞", strict=True))  # option+digit typed on a Mac
KITTY = {n: f"\x1b[{ord(str(n))};3u" for n in range(1, 6)}  # kitty keyboard protocol
F1 = "\x1bOP"


def parse(data: str) -> list[events.Key]:
    """The key events Textual makes of what a terminal sends."""
    parser = XTermParser()
    tokens = [*parser.feed(data), *parser.feed("")]  # "" ends the input: a lone ESC is flushed
    return [token for token in tokens if isinstance(token, events.Key)]


async def send(pilot, data: str) -> None:
    """Give the app the keys that a terminal sending `data` produces, as the parser made them
    (`pilot.press("trade_mark_sign")` would make a key without its character)."""
    keys = parse(data)
    assert keys, f"{data!r} made no key"
    for key in keys:
        pilot.app.post_message(key)
        await pilot.pause()


async def in_view(pilot, mode: str) -> None:
    await until(pilot, lambda: pilot.app.current_mode == mode and pilot.app.screen.is_current,
                f"the {mode} view shown")  # fmt: skip


def test_textual_turns_escape_digit_into_the_keys_the_app_binds():
    """If this fails after a Textual upgrade, ALT_DIGIT_KEYS (tui/ui/common/keys.py) no longer says what
    ESC+digit arrives as: check alt+digit by hand in xterm and on a Mac, then update it."""
    for n in range(1, 6):
        [xterm] = parse(XTERM[n])
        [macos] = parse(MACOS[n])
        assert (xterm.key, xterm.character) == (macos.key, MACOS[n])
        assert ALT_DIGIT_KEYS[xterm.key] == str(n)
        assert [key.key for key in parse(KITTY[n])] == [f"alt+{n}"]
    assert [key.key for key in parse(F1)] == ["f1"]


async def focus_chat_input(pilot) -> Input | TextArea:
    await send(pilot, XTERM[4])
    await in_view(pilot, "chat")
    field = pilot.app.screen.query_one(ChatInput)
    field.focus()
    return field


async def focus_compare_prompt(pilot) -> Input | TextArea:
    await send(pilot, XTERM[5])
    await in_view(pilot, "compare")
    field = pilot.app.screen.query_one("#prompt", TextArea)
    field.focus()
    return field


async def focus_compare_add(pilot) -> Input | TextArea:
    await send(pilot, XTERM[5])
    await in_view(pilot, "compare")
    field = pilot.app.screen.query_one("#model-add", Input)
    field.focus()
    return field


async def focus_browse_filter(pilot) -> Input | TextArea:
    await pilot.press("slash")
    return pilot.app.screen.query_one("#filter", Input)


async def focus_chat_settings(pilot) -> Input | TextArea:
    await focus_chat_input(pilot)
    await pilot.press("f2")
    field = pilot.app.screen.query_one("#set-system_prompt", TextArea)
    field.focus()
    return field


def text_of(field: Input | TextArea) -> str:
    return field.text if isinstance(field, TextArea) else field.value


FIELDS = [
    pytest.param("browse", focus_browse_filter, id="models-filter"),
    pytest.param("chat", focus_chat_input, id="chat-input"),
    pytest.param("chat", focus_chat_settings, id="chat-settings"),
    pytest.param("compare", focus_compare_prompt, id="compare-prompt"),
    pytest.param("compare", focus_compare_add, id="compare-add-model"),
]


@pytest.mark.parametrize(("home", "focus_field"), FIELDS)
async def test_from_inside_a_text_field_every_view_and_the_help_are_one_key_away(
    catalogue, home, focus_field
):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        field = await focus_field(pilot)
        await pilot.press(*"ab")
        assert field.has_focus and text_of(field) == "ab"
        home_n = MODES.index(home) + 1
        for n, mode in enumerate(MODES, 1):
            for keys in (XTERM, MACOS, KITTY):
                await send(pilot, keys[n])
                await in_view(pilot, mode)
                await send(pilot, keys[home_n])
                await in_view(pilot, home)
                # Back where the user was, with nothing typed by the view keys.
                assert pilot.app.focused is field and text_of(field) == "ab"
        await send(pilot, F1)
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help shown")
        assert pilot.app.screen.about is field.screen
        await send(pilot, F1)  # f1 again closes it
        await until(pilot, lambda: pilot.app.focused is field, "the help closed")
        assert text_of(field) == "ab"


async def test_in_a_text_field_digits_and_question_mark_are_typed(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        field = await focus_chat_input(pilot)
        await pilot.press(*"12345", "question_mark")
        assert field.text == "12345?" and pilot.app.current_mode == "chat"
        assert not isinstance(pilot.app.screen, HelpScreen)


async def test_esc_leaves_the_text_field_then_digits_move(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        for focus_field, home in ((focus_chat_input, "chat"), (focus_compare_prompt, "compare")):
            field = await focus_field(pilot)
            await pilot.press("x", "escape")
            assert pilot.app.focused is None and text_of(field) == "x"
            await pilot.press("1")
            await in_view(pilot, "browse")
            await pilot.press(str(MODES.index(home) + 1))
            await in_view(pilot, home)
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "help")
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(pilot.app.screen, HelpScreen), "closed")


async def test_view_keys_from_a_dialog_the_help_and_the_palette(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await focus_chat_input(pilot)
        await pilot.press("ctrl+o")  # a dialog with a text field: it stays open in its view
        await until(pilot, lambda: isinstance(pilot.app.screen, OpenModelScreen), "the dialog")
        await until(pilot, lambda: isinstance(pilot.app.focused, Input), "its field focused")
        await send(pilot, XTERM[1])
        await in_view(pilot, "browse")
        await send(pilot, XTERM[4])
        await until(pilot, lambda: isinstance(pilot.app.screen, OpenModelScreen), "dialog again")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen), "dialog closed")
        # The help and the palette are about the screen left: a view key closes them.
        await send(pilot, F1)
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help")
        await send(pilot, XTERM[2])
        await in_view(pilot, "leaderboards")
        await send(pilot, XTERM[4])
        await in_view(pilot, "chat")
        assert isinstance(pilot.app.screen, ChatScreen)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), "the palette")
        await send(pilot, MACOS[3])
        await in_view(pilot, "models")
        await send(pilot, XTERM[4])
        await in_view(pilot, "chat")
        assert isinstance(pilot.app.screen, ChatScreen)


async def test_a_keymap_gives_a_mac_character_back_to_typing(catalogue):
    """Who types £ as text rebinds the view's alt key to alt+3 alone: £ types, alt+3 still moves."""
    from tui.core.config.paths import app_paths

    settings = app_paths().settings_file
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("keymap:\n  mode.models.anywhere: alt+3\n", encoding="utf-8")
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        field = await focus_chat_input(pilot)
        await send(pilot, "£5")
        assert field.text == "£5" and pilot.app.current_mode == "chat"
        await send(pilot, KITTY[3])
        await in_view(pilot, "models")


def footer_keys(pilot) -> set[str]:
    return {key.key for _, _, key in pilot.app.screen.query_one(KeyFooter).spans}


@pytest.mark.parametrize("width", [80, 120])
async def test_the_footer_shows_the_view_keys_that_work_where_the_focus_is(catalogue, width):
    views = {f"{n}" for n in range(1, 6)}
    alt_views = {f"alt+{n}" for n in range(1, 6)}
    async with LlmTui(catalogue).run_test(size=(width, 30)) as pilot:
        await pilot.pause()
        assert views | {"question_mark", "ctrl+p"} <= footer_keys(pilot)
        for focus_field in (focus_browse_filter, focus_chat_input, focus_compare_prompt):
            await focus_field(pilot)
            await pilot.pause()
            shown = footer_keys(pilot)
            assert alt_views | {"f1", "ctrl+p"} <= shown and not shown & (views | {"question_mark"})
            await pilot.press("escape")
            await pilot.pause()
            assert views | {"question_mark"} <= footer_keys(pilot)
        await send(pilot, F1)
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help")
        text = "\n".join(str(section.render()) for section in pilot.app.screen.query(".help-section"))
        for n, (_, _, tooltip) in enumerate(VIEWS, 1):
            assert f"{n} / alt+{n}  {tooltip}" in text
        assert "? / f1  Show every key" in text


async def test_compare_focuses_the_models_to_choose_until_two_then_the_prompt(catalogue, tmp_path):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await in_view(pilot, "compare")
        screen = pilot.app.screen
        await until(pilot, lambda: screen.focused is screen.query_one("#model-pick"), "picker")
        await pilot.press("1")  # not a text field: the view keys work at once
        await in_view(pilot, "browse")
        pilot.app.open_job("compare", str(tmp_path / "a.gguf"))
        await in_view(pilot, "compare")
        assert screen.focused is screen.query_one("#model-pick")
        await pilot.press("1")
        pilot.app.open_job("compare", str(tmp_path / "b.gguf"))
        await in_view(pilot, "compare")
        await until(pilot, lambda: screen.focused is screen.query_one("#prompt"), "the prompt")


async def test_chat_focus_on_entering_follows_what_there_is(catalogue, tiny_gguf):
    model = tiny_gguf(["Hi"])
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.press("4")  # nothing to talk to yet: the offer of models, the view keys work
        await in_view(pilot, "chat")
        screen = pilot.app.screen
        assert screen.focused is screen.query_one(ModelOffer)
        await pilot.press("1")
        await in_view(pilot, "browse")
        pilot.app.open_job("chat", str(model))  # a model chosen: the question comes next
        await in_view(pilot, "chat")
        await until(pilot, lambda: screen.info is not None, "model loaded")
        assert isinstance(screen.focused, ChatInput)
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: screen.session.conversation is not None and not screen.answering,
                    "answered")  # fmt: skip
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.press("4")  # no model, a past conversation: the list, to continue it
        await in_view(pilot, "chat")
        listed = pilot.app.screen.query_one("#conversations", OptionList)
        assert listed.has_focus and listed.highlighted == 0
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.focused, ChatInput), "input focused")
