"""Snapshots of the browse screen's Hub source (pytest-textual-snapshot), at 120x40 and 80x24.

The results are put in the screen's current search as the Hub would answer (a fixed set, so the
picture does not depend on a server); HF_HUB_OFFLINE keeps the screen's own searches off the
network. Regenerate with `--snapshot-update` on this file after an intended change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from textual.widgets import Label

from tests.pilot import until
from tests.test_snapshots import SIZES, steady
from tui.core.models.search import HubRepo, HubSearch
from tui.ui.app import LlmTui
from tui.ui.browse.hub import HubTable
from tui.ui.browse.screen import BrowseScreen

FOUND = [
    HubRepo("unsloth/Qwen3-4B-Instruct-2507-GGUF", "unsloth", 412_345, 187,
            datetime(2025, 8, 6, tzinfo=UTC), False,
            ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "BF16"), 7,
            "apache-2.0", ("Qwen/Qwen3-4B-Instruct-2507",)),
    HubRepo("bartowski/Qwen2.5-7B-Instruct-GGUF", "bartowski", 98_765, 120,
            datetime(2024, 9, 19, tzinfo=UTC), False, ("IQ2_M", "Q4_K_M", "Q8_0"), 3,
            "apache-2.0", ("Qwen/Qwen2.5-7B-Instruct",)),
    HubRepo("evil/[bold]qwen[/]-GGUF", "evil", 12, 0, None, True, ("Q4_0",), 1,
            "[red]mit", ()),
]  # fmt: skip


@pytest.mark.parametrize("size", SIZES)
def test_hub_source_with_results(snap_compare, catalogue, size, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The links name the endpoint: the Hub's own, whichever one huggingface-hub was imported with.
    monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")

    async def show_results(pilot):
        await pilot.press("H", "slash", *"qwen", "enter")
        screen = pilot.app.screen
        status = screen.query_one("#hub-status", Label)
        await until(pilot, lambda: screen.hub_search.query == "qwen"
                    and "offline" in str(status.visual))  # its own answer is in
        await pilot.app.workers.wait_for_complete()
        search = HubSearch("qwen")
        search.results.extend(FOUND)
        screen.hub_search = search
        screen.post_message(BrowseScreen.HubPage(search, None))
        await until(pilot, lambda: screen.query_one(HubTable).repos == tuple(FOUND))
        screen.query_one(HubTable).focus()
        await pilot.pause()

    assert snap_compare(LlmTui(catalogue), terminal_size=size, run_before=steady(show_results))
