"""How the app shows an `LlmtuiError`: a notification with its title, the message as plain text."""

from __future__ import annotations

from textual.dom import DOMNode

from tui.core.errors import LlmtuiError
from tui.core.text import clean


def show_error(node: DOMNode, error: LlmtuiError, *, title: str | None = None, **options) -> None:
    """`title` replaces the error's own where the screen knows better what failed."""
    node.notify(clean(str(error)), title=title or error.title, severity="error",
                markup=False, **options)  # fmt: skip
