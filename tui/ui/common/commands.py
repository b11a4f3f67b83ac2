"""The command palette (ctrl+p): an entry for every action of the app and of the current screen.

Entries come from the bindings (the same ones the footer and help screen show), from the screen's
`palette_commands()` (parametrised actions such as "sort by <column>"), and from the catalogue's
linked leaderboards, which open in the browser from anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from tui.core.text import one_line
from tui.ui.common.keys import key_entries


@dataclass(frozen=True)
class PaletteCommand:
    title: str  # plain text, shown as-is
    help: str  # shown as markup by the palette: llmtui's own words only, never catalogue text
    run: Callable[[], Any]


def palette_commands(screen) -> list[PaletteCommand]:
    app = screen.app
    found: list[PaletteCommand] = []
    for node in (screen, app):
        for entry in key_entries(node):
            found.append(PaletteCommand(entry.title, f"key: {escape(entry.keys)}", entry.run))
    extra: Callable[[], Iterable[PaletteCommand]] | None = getattr(screen, "palette_commands", None)
    if extra is not None:
        found.extend(extra())
    for linked in app.catalogue.linked_leaderboards:
        found.append(
            PaletteCommand(
                f"Open {one_line(linked.name)} in the browser",
                "linked leaderboard",
                partial(app.open_url, one_line(linked.url, limit=500)),
            )
        )
    return found


def _highlight(matcher: Matcher, title: str) -> Content:
    """The title with matched characters styled, as plain text (Matcher.highlight parses markup)."""
    content = Content(title)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    for offset in offsets:
        if not title[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class LlmTuiCommands(Provider):
    """Commands of the screen the palette was opened over, and of the app."""

    def _commands(self) -> list[PaletteCommand]:
        return palette_commands(self.screen)

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(Content(command.title), command.run, text=command.title,
                               help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, _highlight(matcher, command.title), command.run,
                          text=command.title, help=command.help)
