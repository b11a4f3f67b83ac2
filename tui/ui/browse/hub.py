"""The browse screen's Hub source: GGUF repositories of any publisher, found by a Hub search.

`HubTable` shows the results of one `tui.core.models.search.HubSearch`, a row a repository, and a
last row that fetches the next page while the Hub has more. Repository ids and every other string
from the Hub are `Text`, never markup, cleaned of terminal control sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from tui.core.text import one_line

if TYPE_CHECKING:
    from tui.core.models.search import HubRepo

MORE = "more"  # the row key of the "more results" row
COLUMNS = ("Repository", "Author", "Downloads", "Likes", "Updated", "Quants")


class HubTable(DataTable):
    """Hub search results; enter on the last row (or `n` on the screen) asks for more."""

    HELP_TITLE = "Hub results"
    BINDINGS = [
        Binding("enter", "select_cursor", "Actions", show=False, id="browse.hub.select",
                tooltip="Go to the selected repository's actions, or fetch more results"),
    ]  # fmt: skip

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.repos: tuple[HubRepo, ...] = ()
        for title in COLUMNS:  # now, not on mount: rows may come before the table is mounted
            self.add_column(title, key=title.lower())

    def show(self, repos: Sequence[HubRepo], more: bool) -> None:
        """Display `repos`; the cursor stays on the repository it was on when it is still there."""
        previous = self.current
        self.repos = tuple(repos)
        self.clear()
        for repo in self.repos:
            downloads, likes, updated = repo.cells
            self.add_row(
                Text(one_line(repo.repo_id, 60)),
                Text(one_line(repo.author, 24)),
                Text(downloads, justify="right"),
                Text(likes, justify="right"),
                updated,
                Text(one_line(" ".join(repo.quants), 40) or "?"),
                key=repo.repo_id,
            )
        if more:
            self.add_row(Text("… more results (n)", style="italic"), "", "", "", "", "", key=MORE)
        if previous is not None and previous in self.repos:
            self.move_cursor(row=self.repos.index(previous), animate=False)

    @property
    def current(self) -> HubRepo | None:
        row = self.cursor_row
        return self.repos[row] if self.row_count and 0 <= row < len(self.repos) else None
