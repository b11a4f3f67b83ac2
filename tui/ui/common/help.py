"""Help (? or f1): every key of the app and of the screen below it, generated from the bindings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui.ui.common.keys import KeyEntry, key_entries


def _section(title: str, entries: list[KeyEntry]) -> Content:
    width = max(len(entry.keys) for entry in entries)
    lines = [Content.styled(title, "bold $accent")]
    for entry in entries:
        lines.append(Content.assemble((entry.keys.rjust(width + 1), "bold $text-accent"), "  ",
                                      entry.title))
    return Content("\n").join(lines)


def help_sections(screen: Screen) -> list[tuple[str, list[KeyEntry]]]:
    """(title, entries) for the screen, its own widgets that have keys, and the app."""
    sections = [(getattr(screen, "HELP_TITLE", None) or type(screen).__name__, key_entries(screen))]
    seen: set[type] = set()
    for widget in screen.walk_children():
        # Only llmtui's widgets: Textual's own (Input, DataTable, ...) keep their usual keys.
        if type(widget) in seen or not type(widget).__module__.startswith("tui."):
            continue
        seen.add(type(widget))
        entries = key_entries(widget)
        if entries:
            sections.append((getattr(widget, "HELP_TITLE", None) or type(widget).__name__, entries))
    sections.append(("Everywhere", key_entries(screen.app)))
    return [(title, entries) for title, entries in sections if entries]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]
    CSS_PATH = "help.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.about = self.app.screen  # created before it is pushed: the screen the help is about

    def compose(self) -> ComposeResult:
        screen = self.about
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "escape or f1 to close"
            for title, entries in help_sections(screen):
                yield Static(_section(title, entries), classes="help-section")
            yield Static(Content.styled(
                "In a text field the digits and ? are typed: alt+1 … alt+5 and f1 work everywhere, "
                "and esc leaves the field.\nctrl+p opens the command palette: every action by name.",
                "$text-muted",
            ))  # fmt: skip
