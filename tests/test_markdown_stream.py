"""Streams into Textual's Markdown widget can be stopped at once, whatever was written."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Markdown

from tui.ui.common.markdown_stream import open_stream


class _One(App):
    def compose(self) -> ComposeResult:
        yield Markdown()


@pytest.mark.parametrize("fragments", [[], [""], ["Alpha", " one"]])
async def test_a_stream_stopped_right_after_it_opened_ends_cleanly(fragments):
    app = _One()
    async with app.run_test() as pilot:
        markdown = app.query_one(Markdown)
        stream = await open_stream(markdown)
        for fragment in fragments:
            await stream.write(fragment)
        await stream.stop()  # a stream whose task never ran raised CancelledError here
        await markdown.update("final")
        await pilot.pause()
        assert markdown.source == "final"
