"""Streaming into Textual's Markdown widget, safely stoppable."""

from __future__ import annotations

import asyncio

from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownStream


async def open_stream(markdown: Markdown) -> MarkdownStream:
    """`Markdown.get_stream`, then one turn of the event loop so that the stream's task is running.

    Textual's `MarkdownStream.stop()` cancels its task and awaits it; a task cancelled before it
    first ran never reaches its own `except CancelledError`, so the CancelledError lands in the
    caller instead (a drain timer then dies, and the answers it would have shown never appear).
    That happens when a stream is stopped right after it was opened: a short answer on a busy
    machine, or a first fragment that cleaning left empty.
    """
    stream = Markdown.get_stream(markdown)
    await asyncio.sleep(0)
    return stream
