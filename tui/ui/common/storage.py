"""What the stores report (a write that waits, a recovered database, saved again) as notifications.

The stores call their report function from any thread (a retry timer too): it posts a
`StorageNotice`, which the screen that owns the store shows with `show_notice`.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.widget import Widget

from tui.core.text import one_line


@dataclass
class StorageNotice(Message):
    notice: object  # a StorageError, a database Recovery or a storage Saved: message, title, severity


def show_notice(widget: Widget, notice) -> None:
    widget.notify(
        one_line(notice.message, 500),
        title=notice.title,
        severity=notice.severity,
        markup=False,
        timeout=10 if notice.severity != "information" else 5,
    )


class ShowsStorageNotices:
    """For a screen that owns a store: `store_report` is the store's report function (any
    thread), and each notice is shown, then `storage_changed()` lets the screen show what changed."""

    def store_report(self, notice: object) -> None:
        self.post_message(StorageNotice(notice))  # from any thread: the store's retry timer too

    def on_storage_notice(self, message: StorageNotice) -> None:  # by name: a mixin's @on is not seen
        show_notice(self, message.notice)
        if self.is_mounted:
            self.storage_changed()

    def storage_changed(self) -> None:
        """Saved again or recovered: what the screen shows from the store may have changed."""
