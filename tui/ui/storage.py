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
