"""ModelTable: a virtual table of catalogue models that draws only the rows on screen.

A DataTable is too slow to refill per keystroke with thousands of rows (docs/dependencies.md). With
the Line API, `show(rows)` only stores the list and `render_line` draws the visible rows from their
precomputed cells, so a filter result costs the same with ten rows or ten thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import Reactive, reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.core.catalogue.browse import COLUMNS, Column, ModelRow, Sort

# Caps on a column's natural width (the name column takes whatever space is left).
_MAX_WIDTH = {"name": 40, "organisation": 16, "group": 14, "fits": 34}
# Columns dropped, in this order, while the name column would be narrower than _COMFORTABLE_NAME
# (the groups pane already shows the group; Fits here is wide, and the `fits:` filter works
# without it).
_DROP_ORDER = ("group", "organisation", "fits", "gguf")
_COMFORTABLE_NAME = 20
_MIN_NAME = 8
_ARROWS = {False: "▲", True: "▼"}


def fit(text: str, width: int, *, right: bool = False) -> str:
    """``text`` padded or cut (with an ellipsis) to exactly ``width`` cells."""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 0 else ""
    padding = " " * (width - length)
    return padding + text if right else text + padding


class ModelTable(ScrollView, can_focus=True):
    """`ModelRow`s, a fixed header, a row cursor. Posts Highlighted, Selected, HeaderClicked."""

    HELP_TITLE = "Model table"

    COMPONENT_CLASSES = {"model-table--header", "model-table--sorted", "model-table--cursor"}
    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Actions", show=False, id="browse.table.select",
                tooltip="Go to the selected model's actions"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    @dataclass
    class Highlighted(Message):
        """The row under the cursor changed (None: the table is empty)."""

        row: ModelRow | None

    @dataclass
    class Selected(Message):
        row: ModelRow

    @dataclass
    class HeaderClicked(Message):
        column: Column

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: Sequence[ModelRow] = ()
        self.sort = Sort()
        self._natural = {column.id: cell_len(column.title) + 2 for column in COLUMNS}
        self._layout: list[tuple[int, Column, int]] = []  # (cell index, column, width)
        self._layout_width = -1  # the width `_layout` was fitted to
        self._highlighted: ModelRow | None = None
        self._strips: LRUCache[tuple[ModelRow, bool], Strip] = LRUCache(256)
        self._strip_key: object = None
        self._styles: dict[str, Style] = {}

    # ---------------------------------------------------------------- data

    def measure(self, rows: Sequence[ModelRow]) -> None:
        """Size the columns for every row that can appear (once per data set, not per filter)."""
        for i, column in enumerate(COLUMNS):
            widest = max((cell_len(row.cells[i]) for row in rows), default=0)
            natural = max(cell_len(column.title) + 2, widest)
            self._natural[column.id] = min(natural, _MAX_WIDTH.get(column.id, natural))
        self._layout_columns()

    def show(self, rows: Sequence[ModelRow], sort: Sort) -> None:
        """Display ``rows``; the cursor stays on the same model when it is still there (rows of a
        new index, with the Fits here column filled in, are other objects for the same models)."""
        previous = self._highlighted
        self.rows = rows
        self.sort = sort
        self._set_virtual_height(len(rows) + 1)
        self.cursor = next(
            (i for i, row in enumerate(rows) if previous is not None and row.id == previous.id), 0
        )
        self.refresh()

    # A new row count is a new virtual size: set plainly, a layout pass and a repaint of the screen per
    # keystroke. The table's size never depends on it, so only the scrollbar is updated (its gutter is
    # always reserved: `scrollbar-gutter: stable`).
    virtual_size = Reactive(Size(0, 0), layout=False)

    def _set_virtual_height(self, height: int) -> None:
        size = Size(self.size.width, height)
        if size != self.virtual_size:
            self.virtual_size = size
            self._scroll_update(size)

    @property
    def current(self) -> ModelRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def move_to(self, model_id: str) -> bool:
        """Put the cursor on a model if it is shown."""
        for i, row in enumerate(self.rows):
            if row.id == model_id:
                self.cursor = i
                return True
        return False

    # ---------------------------------------------------------------- cursor

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1))

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh_line(old + 1)
        self.refresh_line(new + 1)
        row = self.current
        if row is not self._highlighted:
            self._highlighted = row
            self.post_message(self.Highlighted(row))

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        visible = self._page()
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False)

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_page_up(self) -> None:
        self.cursor -= self._page()

    def action_page_down(self) -> None:
        self.cursor += self._page()

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self.rows) - 1

    def action_select(self) -> None:
        if self.current is not None:
            self.post_message(self.Selected(self.current))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = 0
            for _, column, width in self._layout:
                if x <= offset.x < x + width:
                    self.post_message(self.HeaderClicked(column))
                    return
                x += width
            return
        index = round(self.scroll_y) + offset.y - 1
        if index < len(self.rows):
            if index == self.cursor and event.chain > 1:
                self.action_select()
            self.cursor = index

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # ---------------------------------------------------------------- layout and drawing

    def on_resize(self, event: events.Resize) -> None:
        self._set_virtual_height(len(self.rows) + 1)
        self._layout_columns()
        self._scroll_to_cursor()

    def _layout_columns(self) -> None:
        """Fit the columns to the width: drop the least useful ones, then give the name the rest."""
        width = self._layout_width = self.scrollable_content_region.width
        shown = list(enumerate(COLUMNS))
        name_wanted = min(self._natural["name"], _COMFORTABLE_NAME) + 2

        def others() -> int:
            return sum(self._natural[c.id] + 2 for _, c in shown if c.id != "name")

        drop = list(_DROP_ORDER)
        while drop and others() + name_wanted > width:
            victim = drop.pop(0)
            shown = [(i, c) for i, c in shown if c.id != victim]
        name_width = max(width - others(), _MIN_NAME + 2)
        self._layout = [(i, c, name_width if c.id == "name" else self._natural[c.id] + 2) for i, c in shown]

    @property
    def visible_columns(self) -> list[str]:
        return [column.id for _, column, _ in self._layout]

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles looked up once per paint, not once per line; drawn rows are reused until the
        # styles or the column layout change.
        styles = {name: self.get_component_rich_style(name) for name in self.COMPONENT_CLASSES}
        styles["base"] = self.rich_style
        # The first frame is painted before the Resize event arrives: fit the columns to the width
        # being painted, not to the zero width the table had when its rows were measured.
        if self._layout_width != self.scrollable_content_region.width:
            self._layout_columns()
        key = (styles, tuple(self._layout), self.scrollable_content_region.width)
        if key != self._strip_key:
            self._strip_key = key
            self._strips.clear()
        self._styles = styles
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self._styles["base"]
        if y == 0:
            return self._render_header(width, base)
        index = round(self.scroll_y) + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        selected = index == self.cursor
        strip = self._strips.get((row, selected))
        if strip is None:
            style = base + self._styles["model-table--cursor"] if selected else base
            segments = [
                Segment(" " + fit(row.cells[i], w - 2, right=column.right) + " ", style)
                for i, column, w in self._layout
            ]
            strip = Strip(segments).adjust_cell_length(width, style)
            self._strips[(row, selected)] = strip
        return strip

    def _render_header(self, width: int, base: Style) -> Strip:
        header = base + self._styles["model-table--header"]
        sorted_style = header + self._styles["model-table--sorted"]
        segments = []
        for _, column, w in self._layout:
            title = column.title
            style = header
            if column.id == self.sort.column:
                title = f"{title} {_ARROWS[self.sort.descending]}"
                style = sorted_style
            segments.append(Segment(" " + fit(title, w - 2, right=column.right) + " ", style))
        return Strip(segments).adjust_cell_length(width, header)
