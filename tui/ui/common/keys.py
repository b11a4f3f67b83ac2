"""The bindings a node offers, as the footer, the help screen and the command palette show them.

All three are generated from the same `BINDINGS` (with the user's keymap applied), so a key added to
a screen appears everywhere without a hand-written list.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.dom import DOMNode
from textual.widget import Widget

from tui.ui.common.textual_compat import bindings_with_keymap

if TYPE_CHECKING:
    from textual.screen import Screen

# Most terminals (xterm, tmux, GNOME's, Konsole) send alt+digit as ESC and the digit, and Textual
# 8.2.8's parser turns ESC 1 ... ESC 5 into the characters macOS types for option+digit, which
# macOS terminals send themselves: these keys are alt+digit wherever a key binds alt+digit.
ALT_DIGIT_KEYS = {
    "inverted_exclamation_mark": "1",  # ¡
    "trade_mark_sign": "2",  # ™
    "pound_sign": "3",  # £
    "cent_sign": "4",  # ¢
    "infinity": "5",  # ∞
}


@dataclass(frozen=True)
class KeyEntry:
    keys: str  # display form, several keys joined with " / "
    binding: Binding
    node: DOMNode  # where the action runs

    @property
    def title(self) -> str:
        """A self-explaining name: the tooltip, or the footer's short description."""
        return self.binding.tooltip or self.binding.description

    async def run(self) -> None:
        await self.node.run_action(self.binding.action)


def is_text_input(widget: Widget | None) -> bool:
    """Whether the widget types the characters pressed (Input, an editable TextArea, ...)."""
    return widget is not None and widget.check_consume_key("a", "a")


def leave_text_input(screen: Screen) -> bool:
    """Move the focus out of a text field (to nothing, so the keys of the screen and the app
    work); False where no text field had it."""
    if not is_text_input(screen.focused):
        return False
    screen.set_focus(None)
    return True


def key_entries(node: DOMNode) -> list[KeyEntry]:
    """Described bindings of ``node`` (in declaration order), one entry per action."""
    bindings = bindings_with_keymap(node)
    merged: dict[tuple[str, str], tuple[list[str], Binding]] = {}
    for _key, binding in bindings:
        if not binding.description or binding.system:
            continue
        keys, _ = merged.setdefault((binding.action, binding.description), ([], binding))
        display = node.app.get_key_display(binding)
        if display not in keys:
            keys.append(display)
    return [KeyEntry(" / ".join(keys), binding, node) for keys, binding in merged.values()]


@dataclass(frozen=True)
class _FooterKey:
    key: str  # the binding's key, which a click presses
    enabled: bool
    tooltip: str


class KeyFooter(Widget, can_focus=False):
    """The screen's keys, drawn the way Textual's Footer draws them, in one widget.

    Footer is a container of one FooterKey widget a key (12 on the browse screen), each styled,
    laid out and rendered on its own; at start-up they cost ~30 ms (bench/startup.py). Here the
    same cells are one line of text: its styles come from component classes using Footer's
    theme variables, and the spans of the last render map a click or hover to its key (a click
    presses the key, a disabled one rings the bell; hover highlights and shows the tooltip).
    """

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {
        "key-footer--item",
        "key-footer--hover",
        "key-footer--key",
        "key-footer--description",
        "key-footer--separator",
    }
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .key-footer--item { background: $footer-item-background; }
        & > .key-footer--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
        & > .key-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .key-footer--separator { color: $foreground 20%; }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple | None = None  # what the keys show, as _shown_keys() gives it
        self._spans: list[tuple[int, int, _FooterKey]] = []  # cells of each key, last render
        self._hover: _FooterKey | None = None
        self._palette: _FooterKey | None = None  # the command palette's key, last render

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if self._shown_keys() != self._shown:
            self.refresh()

    def _shown_keys(self) -> tuple:
        """All that the keys display of the screen's active bindings."""
        palette = self.app.COMMAND_PALETTE_BINDING
        return tuple(
            (key, binding.action, binding.description, binding.group, enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == palette
        )

    def render(self) -> Text:
        self._shown = self._shown_keys()
        style = self.get_component_rich_style
        key_style = style("key-footer--key", partial=True)
        description_style = style("key-footer--description", partial=True)
        # As Footer: one key an action, the first active one (a view's digit where it works, its
        # alt+digit in a text field). The screen's keys come first; the app's (views, help),
        # which work everywhere, stay in sight at the right end, before the palette's.
        by_action: dict[str, tuple[str, Binding, bool, str]] = {}
        app_actions: set[str] = set()
        for key, (namespace, binding, enabled, tooltip) in self.screen.active_bindings.items():
            if binding.show and binding.action not in by_action:
                by_action[binding.action] = (key, binding, enabled, tooltip)
                if namespace is self.app:
                    app_actions.add(binding.action)
        screen_keys, screen_spans, screen_ends = self._draw(
            [entry for action, entry in by_action.items() if action not in app_actions],
            key_style, description_style,
        )  # fmt: skip
        app_keys, app_spans, _ = self._draw(
            [entry for action, entry in by_action.items() if action in app_actions],
            key_style, description_style,
        )  # fmt: skip
        palette = self._palette_key(style, key_style, description_style)
        width = max(self.size.width - palette.cell_len, 0)
        app_keys.truncate(min(app_keys.cell_len, width))
        left = width - app_keys.cell_len
        # The screen's keys that fit whole (a key cut short reads as another word).
        cut = max((end for end in screen_ends if end <= left), default=0)
        screen_keys.truncate(cut)
        screen_keys.truncate(left, pad=True)
        spans = [span for span in screen_spans if span[1] <= cut]
        spans += [(left + start, min(left + end, width), key) for start, end, key in app_spans
                  if left + start < width]  # fmt: skip
        if self._palette is not None:
            spans.append((width, width + palette.cell_len, self._palette))
        self._spans = spans
        return screen_keys + app_keys + palette

    def _draw(
        self, entries: list[tuple[str, Binding, bool, str]], key_style: Style, description_style: Style
    ) -> tuple[Text, list[tuple[int, int, _FooterKey]], list[int]]:
        """Keys as Footer.compose draws them, the cells of each key, and where each item (a key
        and its description, or a group) ends. A group of several actions shows their keys
        together (a modifier they share once: alt+12345), then its description."""
        style = self.get_component_rich_style
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, _FooterKey]] = []
        ends: list[int] = []

        def add(key: _FooterKey, *parts: tuple[str, Style]) -> None:
            base = style("key-footer--hover" if key == self._hover else "key-footer--item")
            if not key.enabled:
                base += Style(dim=True)
            start = len(line)
            for text, part_style in parts:
                line.append(text, base + part_style)
            spans.append((start, len(line), key))

        for group, members in groupby(entries, lambda entry: entry[1].group):
            members = list(members)
            if group is not None and len(members) > 1:
                displays = [self.app.get_key_display(binding) for _, binding, _, _ in members]
                modifier = displays[0].rpartition("+")[0]
                if modifier and all(display.startswith(f"{modifier}+") for display in displays):
                    displays = [display[len(modifier) + 1 :] for display in displays]
                    modifier += "+"
                else:
                    modifier = ""
                line.append(" " if group.compact else "")
                line.append(modifier, style("key-footer--item") + key_style)
                for (key, binding, enabled, tooltip), display in zip(members, displays, strict=True):
                    margin = "" if group.compact else " "
                    line.append(margin)
                    add(
                        _FooterKey(key, enabled, tooltip or binding.description),
                        (display, key_style),
                    )
                    line.append(margin)
                line.append(" " if group.compact else "")
                line.append(group.description, style("key-footer--description"))
                line.append(" ")
                ends.append(len(line))
            else:
                for key, binding, enabled, tooltip in members:
                    display = self.app.get_key_display(binding)
                    parts = [(f" {display} ", key_style), (f"{binding.description} ", description_style)]
                    if not binding.description:  # as FooterKey: the bare key, no padding
                        parts = [(display, key_style)]
                    add(_FooterKey(key, enabled, tooltip), *parts)
                    ends.append(len(line))
        return line, spans, ends

    def _palette_key(self, style, key_style: Style, description_style: Style) -> Text:
        """The command palette's key at the right end, as Footer docks it (compact)."""
        self._palette = None
        if not self.app.ENABLE_COMMAND_PALETTE:
            return Text()
        try:
            _, binding, enabled, tooltip = self.screen.active_bindings[
                self.app.COMMAND_PALETTE_BINDING
            ]
        except KeyError:
            return Text()
        key = self._palette = _FooterKey(
            binding.key, enabled, binding.tooltip or binding.description
        )
        base = style("key-footer--hover" if key == self._hover else "key-footer--item")
        if not enabled:
            base += Style(dim=True)
        return Text.assemble(
            ("\u258f", style("key-footer--separator")),
            (self.app.get_key_display(binding), base + key_style),
            (f" {binding.description}", base + description_style),
            (" ", base),
        )

    @property
    def spans(self) -> list[tuple[int, int, _FooterKey]]:
        """(first cell, end cell, key) of each key drawn, left to right, as last rendered."""
        return list(self._spans)

    def _key_at(self, x: int) -> _FooterKey | None:
        return next((key for start, end, key in self._spans if start <= x < end), None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        key = self._key_at(event.x)
        if key is None:
            return
        if key.enabled:
            self.app.simulate_key(key.key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self._key_at(event.x))

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def _set_hover(self, key: _FooterKey | None) -> None:
        if key != self._hover:
            self._hover = key
            self.tooltip = key.tooltip if key is not None and key.tooltip else None
            self.refresh()
