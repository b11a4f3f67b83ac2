"""The root of every error llmtui explains to a person.

`str(error)` is the message: plain text (untrusted parts included as data, never markup), one line
where it can be; `title` says what failed. The CLI prints any of them as one line and exits with
status 2 (`tui.cli.main`); the app shows one as a notification (`tui.ui.common.errors.show_error`).
"""

from __future__ import annotations


class LlmtuiError(Exception):
    title = "Error"

    def __init__(self, message: str = "", *, title: str | None = None) -> None:
        super().__init__(message)
        if title is not None:
            self.title = title
