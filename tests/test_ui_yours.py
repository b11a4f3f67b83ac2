"""The Yours leaderboard tab under Pilot: ratings from the store, sorting, links, hostile names."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from tests.judged import save_comparison
from tests.pilot import until
from tui.core.compare.store import CompareStore
from tui.core.config.paths import app_paths
from tui.ui.app import LlmTui
from tui.ui.leaderboards.barchart import IntervalChart
from tui.ui.leaderboards.yours import RankingTable

HOSTILE = "[bold]x[/] \x1b[2J"
MISTRAL = "TheBloke/Mistral-7B-Instruct-v0.2-GGUF:Q4_K_M"


def judged_store() -> CompareStore:
    store = CompareStore(app_paths().database)
    models = [(MISTRAL, "mistral-7b-instruct-v0.2.Q4_K_M"), ("/m/evil.gguf", HOSTILE),
              ("/m/plain.gguf", "plain")]  # fmt: skip
    for choice in ("A", "A", "B", "A", "tie", "C", "A"):
        save_comparison(store, models, (choice,))
    save_comparison(store, models[1:], blind=False, prompts=("1+1?", "2+2?"),
                    prompt_set="/sets/sums.yaml", passed={HOSTILE: [True, False]},
                    speed={HOSTILE: (30.0, 0.25, 2_000_000_000)})  # fmt: skip
    return store


def texts(table: DataTable) -> list[list[str]]:
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def open_yours(pilot):
    await pilot.press("2")
    await pilot.pause()
    screen = pilot.app.screen
    screen.show_tab("yours")
    table = screen.query_one(RankingTable)
    await until(pilot, lambda: table.row_count > 0, "the ranking was shown")
    return screen, table


async def test_yours_tab_ranks_the_votes_with_links_and_literal_names(catalogue):
    judged_store()
    async with LlmTui(catalogue).run_test(size=(140, 50)) as pilot:
        screen, table = await open_yours(pilot)
        assert pilot.app.focused is table
        rows = texts(table)
        assert [r[1] for r in rows] == ["mistral-7b-instruct-v0.2.Q4_K_M", "[bold]x[/]", "plain"]
        first = rows[0]
        assert first[4:8] == ["12", "8", "2", "2"]  # games, wins, losses, ties
        low, _, high = first[3].partition(" to ")
        assert int(low) < int(first[2]) < int(high)
        assert first[8] == "mistralai/Mistral-7B-Instruct-v0.2"  # the catalogue model
        assert first[9] == "#1 of 9, Open LLM Leaderboard"
        assert rows[1][8] == "–" and rows[1][9] == "–"
        chart = screen.query_one(IntervalChart)
        assert [b.label for b in chart.bars] == [r[1] for r in rows]
        assert chart.marked == "mistral-7b-instruct-v0.2.Q4_K_M"
        rates = texts(screen.query_one("#yours-pass-rates", DataTable))
        assert rates == [["sums.yaml", "[bold]x[/]", "1/2", "50%", "9% to 91%"]]
        speeds = texts(screen.query_one("#yours-speeds", DataTable))
        assert speeds == [["[bold]x[/]", "2", "30.0", "0.25 s", "2.0 GB"]]  # only what was measured
        summary = str(screen.query_one("#yours-summary", Static).render())
        assert "3 models from 15 battles: 7 blind vote(s) here" in summary

        # sort by name, then by games; enter on a catalogue row shows that model
        table.move_cursor(column=1)
        await pilot.press("s")
        assert [r[1] for r in texts(table)] == sorted(r[1] for r in rows)
        table.move_cursor(row=[r[1] for r in texts(table)].index("[bold]x[/]"), column=1)
        await pilot.press("enter")  # not a catalogue model: a notification, nothing else
        assert pilot.app.current_mode == "leaderboards"
        table.move_cursor(row=[r[1] for r in texts(table)].index(rows[0][1]))
        await pilot.press("enter")
        assert pilot.app.current_mode == "browse"


async def test_yours_tab_without_votes_says_how_to_get_some(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = pilot.app.screen
        screen.show_tab("yours")
        summary = screen.query_one("#yours-summary", Static)
        await until(pilot, lambda: "No votes yet" in str(summary.render()))
        assert screen.query_one(RankingTable).row_count == 0
        assert not screen.query_one("#yours-pass-rates").display


async def test_new_votes_show_when_the_tab_is_shown_again(catalogue):
    store = judged_store()
    async with LlmTui(catalogue).run_test(size=(140, 50)) as pilot:
        screen, table = await open_yours(pilot)
        save_comparison(store, [("/m/plain.gguf", "plain"), ("/m/new.gguf", "newcomer")], ("B",))
        await pilot.press("1")
        await pilot.press("2")
        await until(pilot, lambda: table.row_count == 4, "the new model was ranked")
        assert "newcomer" in [r[1] for r in texts(table)]
