"""Snapshots of the main screens at 120x40 and 80x24 (pytest-textual-snapshot, pinned with Textual).

Regenerate after an intended change (`pytest tests/test_snapshots.py --snapshot-update`); review
the SVGs under tests/__snapshots__/. Nothing here depends on time or on this machine: no clock in
the header, cursor blinking off, the machine's memory fixed (the Fits here column).
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tests.pilot import fits_found, until
from tui.ui.app import LlmTui

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


pytestmark = pytest.mark.usefixtures("fixed_machine")


def steady(then=None):
    """A run_before that stops the cursor blinking, then does ``then(pilot)``."""

    async def run_before(pilot) -> None:
        for widget in pilot.app.screen.query(Input):
            widget.cursor_blink = False
        await until(pilot, lambda: fits_found(pilot.app), "the Fits here column")
        if then is not None:
            await then(pilot)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_browse(snap_compare, catalogue, size):
    assert snap_compare(LlmTui(catalogue), terminal_size=size, run_before=steady())


@pytest.mark.parametrize("size", SIZES)
def test_browse_detail_filtered(snap_compare, catalogue, size):
    async def filter_and_pick(pilot):
        await pilot.press("slash", *"yi", "enter", "down")

    assert snap_compare(LlmTui(catalogue), terminal_size=size, run_before=steady(filter_and_pick))


@pytest.mark.parametrize("size", SIZES)
def test_leaderboards(snap_compare, catalogue, size):
    assert snap_compare(
        LlmTui(catalogue), press=["2", "right"], terminal_size=size, run_before=steady()
    )


@pytest.mark.parametrize("size", SIZES)
def test_opencompass_sorted(snap_compare, catalogue, size):
    assert snap_compare(
        LlmTui(catalogue),
        press=["2", "right_square_bracket", "right", "right", "s"],
        terminal_size=size,
        run_before=steady(),
    )


@pytest.mark.parametrize("size", SIZES)
def test_linked_leaderboards(snap_compare, catalogue, size):
    assert snap_compare(
        LlmTui(catalogue),
        press=["2", "right_square_bracket", "right_square_bracket", "right_square_bracket"],
        terminal_size=size,
        run_before=steady(),
    )


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, catalogue, size):
    assert snap_compare(
        LlmTui(catalogue), press=["question_mark"], terminal_size=size, run_before=steady()
    )
