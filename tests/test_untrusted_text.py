"""Catalogue text is data: hostile names, licences and URLs render literally and crash nothing."""

from __future__ import annotations

import io

import pytest
import yaml
from rich.console import Console
from textual.widgets import Static

from tui.core.catalogue import load_catalogue
from tui.ui.app import LlmTui
from tui.ui.browse.detail import ModelDetail
from tui.ui.browse.table import ModelTable

LONG = "very-long-name-" * 70
HOSTILE_ID = "evil/[/]"


def screen_text(app) -> str:
    """What the terminal would show, as plain text."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        record=True,
        color_system=None,
        legacy_windows=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


@pytest.fixture
def hostile_catalogue(tmp_path):
    overlay = {
        "groups": [{"id": "evil", "name": "[bold]Evil 恶意 😈", "description_en": "[/]"}],
        "models": [
            {
                "id": HOSTILE_ID,
                "name": "[/]",
                "organisation": "[bold",
                "group": "evil",
                "url": "https://example.com/[link=http://x]y[/link]",
                "kind": "chat",
                "license": "[link=http://x]y[/link]",
                "languages": ["zh", "😈"],
                "notes": "before\x1b[2Jafter \x1b]8;;http://x\x07osc\x1b]8;;\x07 [red]\x07 end",
                "gguf": {"repo": None, "reason": "\x1b[31m[bold]no[/bold] 中文理由 🚫"},
            },
            {
                "id": "evil/long",
                "name": LONG,
                "group": "evil",
                "kind": "base",
                "url": "https://example.com/" + "x" * 300,
                "license": "模型许可证 " * 40,
            },
        ],
        "leaderboards": [
            {
                "id": "evil_board",
                "name": "[b]Board[/b] 榜单 🏆",
                "url": "https://example.com/board",
                "group": "evil",
                "metrics": [
                    {
                        "id": "m1",
                        "name": "[i]M1",
                        "name_zh": "[/]指标",
                        "explanation_en": "[link=http://x]click[/link]",
                        "explanation_zh": "\x1b[2J清屏",
                    },
                ],
                "rows": [
                    {"model": HOSTILE_ID, "label": "[/][bold", "scores": {"m1": 1.5}},
                    {"model": "evil/long", "label": LONG, "scores": {"m1": 99}},
                ],
                "summary": {"zh": ["[/]总结"], "en": ["[bold summary"]},
            }
        ],
    }
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(overlay, allow_unicode=True), encoding="utf-8")
    return load_catalogue(overlay=path)


async def test_hostile_model_renders_literally_in_table_and_detail(hostile_catalogue):
    app = LlmTui(hostile_catalogue)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("slash")
        for char in "[/]":
            await pilot.press(char)
        await pilot.pause()
        table = app.screen.query_one(ModelTable)
        assert [row.id for row in table.rows] == [HOSTILE_ID]
        await pilot.press("enter")
        await pilot.pause()

        detail = "\n".join(str(s.visual) for s in app.screen.query_one(ModelDetail).query(Static))
        assert "[link=http://x]y[/link]" in detail
        assert "[/]" in detail and "[bold" in detail
        assert "no[/bold] 中文理由 🚫" in detail
        assert "\x1b" not in detail and "\x07" not in detail
        assert "beforeafter" in detail  # the escape sequences were removed, the text kept

        shown = screen_text(app)
        assert "[/]" in shown and "[bold" in shown and "\x1b" not in shown
        assert "[bold]Evil 恶意 😈" in shown  # the group pane


async def test_long_lines_and_cjk_do_not_break_the_layout(hostile_catalogue):
    app = LlmTui(hostile_catalogue)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.open_model("evil/long")
        await pilot.pause()
        table = app.screen.query_one(ModelTable)
        assert table.current.id == "evil/long"
        lines = screen_text(app).splitlines()
        assert all(len(line) <= 80 for line in lines)
        assert any("very-long-name-very" in line and "…" in line for line in lines)


async def test_hostile_leaderboard_renders_literally(hostile_catalogue):
    app = LlmTui(hostile_catalogue)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        screen.show_tab("board-evil_board")
        await pilot.pause()
        view = screen.current_view
        table = view.table
        labels = {table.get_row_at(i)[0].plain for i in range(table.row_count)}
        assert "[/][bold" in labels
        texts = "\n".join(str(s.visual) for s in view.query(Static))
        assert "[link=http://x]click[/link]" in texts and "清屏" in texts and "\x1b" not in texts
        assert "[/]总结" in texts and "[bold summary" in texts
        shown = screen_text(app)
        assert "[b]Board[/b] 榜单 🏆" in shown and "[i]M1" in shown

        # The palette lists the hostile board's commands as plain text.
        await pilot.press("ctrl+p")
        for char in "Sort":
            await pilot.press(char)
        await pilot.pause(0.3)
        assert "Sort [b]Board[/b] 榜单 🏆 by [i]M1" in screen_text(app)
        await pilot.press("escape")

        # Jumping from the hostile row to the model works too.
        table.move_cursor(row=[r.model for r in table.rows_in_order].index(HOSTILE_ID))
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "browse"
        assert app.screen.query_one(ModelTable).current.id == HOSTILE_ID
