"""A snapshot of the first chat with nothing on this machine: the catalogue's smallest chat models
offered as downloads (pytest-textual-snapshot, pinned). Regenerate after an intended change
(`pytest tests/test_snapshots_journey.py --snapshot-update`) and review the SVG."""

from __future__ import annotations

from tests.pilot import until
from tui.ui.app import LlmTui


def test_first_chat_with_nothing_downloaded(snap_compare, catalogue):
    async def open_chat(pilot) -> None:
        from tui.ui.chat.screen import ChatScreen
        from tui.ui.chat.widgets import ChatInput
        from tui.ui.common.model_select import ModelOffer

        await pilot.press("4")
        await until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen), "the chat shows")
        pilot.app.screen.query_one(ChatInput).cursor_blink = False
        offer = pilot.app.screen.query_one(ModelOffer)
        await until(pilot, lambda: offer.scanned and offer.option_count > 0, "the offer fills")
        await pilot.pause()

    assert snap_compare(LlmTui(catalogue), terminal_size=(120, 40), run_before=open_chat)
