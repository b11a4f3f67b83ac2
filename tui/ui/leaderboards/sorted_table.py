"""SortedTable: the leaderboard tabs' tables. `s` on a column or a click on its header sorts by it,
the same column again reverses the order; the sort column's header carries an arrow."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.widgets import DataTable

_ARROWS = {False: " ▲", True: " ▼"}


class SortedTable(DataTable):
    """A subclass says how its rows sort (`in_order`) and draws them (`add_sorted_rows`)."""

    def __init__(self, sort_column: str, **kwargs: Any) -> None:
        super().__init__(cursor_type="cell", zebra_stripes=True, **kwargs)
        self.sort_column = sort_column
        self.descending = True
        self.rows_in_order: list[Any] = []

    @property
    def current_row(self) -> Any:
        """The entry under the cursor, or None."""
        return self.rows_in_order[self.cursor_row] if 0 <= self.cursor_row < len(self.rows_in_order) else None

    def arrow(self, column: str) -> str:
        return _ARROWS[self.descending] if column == self.sort_column else ""

    def first_descending(self, column: str) -> bool:
        """Whether the column sorts biggest first when it is chosen."""
        raise NotImplementedError

    def in_order(self) -> list[Any]:
        raise NotImplementedError

    def add_sorted_rows(self) -> None:
        """Add the columns, then `rows_in_order` as rows."""
        raise NotImplementedError

    def sort_by(self, column: str) -> None:
        """Sort by a column (its key); the current sort column again reverses it."""
        if column == self.sort_column:
            self.descending = not self.descending
        else:
            self.sort_column, self.descending = column, self.first_descending(column)
        self.fill()

    def fill(self) -> None:
        """(Re)build the rows in sort order, keeping the cursor on the same entry and column."""
        keep, column = self.current_row, self.cursor_column
        self.rows_in_order = self.in_order()
        self.clear(columns=True)
        self.add_sorted_rows()
        if keep is not None and keep in self.rows_in_order:
            self.move_cursor(row=self.rows_in_order.index(keep), column=column, animate=False)

    def action_sort_column(self) -> None:
        self.sort_by(str(self.ordered_columns[self.cursor_column].key.value))

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))
        self.move_cursor(column=event.column_index)
