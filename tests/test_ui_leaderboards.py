"""The leaderboards screen under Pilot: tabs, sorting, best values, explanation, chart, links."""

from __future__ import annotations

from textual.widgets import OptionList, Static, TabbedContent

from tui.ui.app import LlmTui
from tui.ui.leaderboards.barchart import BarChart, bar
from tui.ui.leaderboards.screen import LABEL, LeaderboardsScreen, LeaderboardTable


async def open_boards(pilot) -> LeaderboardsScreen:
    await pilot.press("2")
    await pilot.pause()
    assert isinstance(pilot.app.screen, LeaderboardsScreen)
    return pilot.app.screen


def cell_texts(table: LeaderboardTable) -> list[list[str]]:
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_one_tab_per_table_plus_linked_leaderboards(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_boards(pilot)
        tabs = screen.query_one(TabbedContent)
        labels = [str(tab.label) for tab in tabs.query("ContentTab")]
        assert labels == [b.name for b in catalogue.leaderboards] + ["Yours", "Linked leaderboards"]
        for board in catalogue.leaderboards:
            screen.show_tab(f"board-{board.id}")
            await pilot.pause()
            table = screen.current_view.table
            # Every row and every number, as the page prints them.
            expected = {
                row.label: [str(row.scores[m.id]) for m in board.metrics] for row in board.rows
            }
            assert {cells[0]: cells[1:] for cells in cell_texts(table)} == expected
            assert pilot.app.focused is table
        await pilot.press("right_square_bracket")
        assert tabs.active == "yours"
        await pilot.press("right_square_bracket")
        assert tabs.active == "linked"
        await pilot.press("right_square_bracket")
        assert tabs.active == "board-" + catalogue.leaderboards[0].id  # wrapped round


async def test_sort_by_every_column_both_ways(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_boards(pilot)
        table = screen.current_view.table
        board = table.board
        table.move_cursor(column=0)
        await pilot.press("s")  # names: A to Z first
        labels = [cells[0].lower() for cells in cell_texts(table)]
        assert table.sort_column == LABEL and labels == sorted(labels)
        await pilot.press("s")
        assert [cells[0].lower() for cells in cell_texts(table)] == sorted(labels, reverse=True)
        for index, metric in enumerate(board.metrics, start=1):
            table.move_cursor(column=index)
            await pilot.press("s")
            values = [float(cells[index]) for cells in cell_texts(table)]
            assert table.sort_column == metric.id
            assert values == sorted(values, reverse=table.descending)
            await pilot.press("s")
            again = [float(cells[index]) for cells in cell_texts(table)]
            assert again == sorted(values, reverse=table.descending)
            assert again != values


async def test_clicking_a_header_sorts_by_it(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_boards(pilot)
        table = screen.current_view.table
        gsm8k = 1 + [m.id for m in table.board.metrics].index("gsm8k")
        x = sum(col.get_render_width(table) for col in table.ordered_columns[:gsm8k]) + 2
        await pilot.click(table, offset=(x + 1, 1))  # + 1: the table's border
        await pilot.pause()
        assert table.sort_column == "gsm8k" and table.descending
        values = [float(cells[gsm8k]) for cells in cell_texts(table)]
        assert values == sorted(values, reverse=True)


async def test_best_value_per_column_is_highlighted(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_boards(pilot)
        for board in catalogue.leaderboards:
            screen.show_tab(f"board-{board.id}")
            await pilot.pause()
            table = screen.current_view.table
            best_style = table.get_component_rich_style("leaderboard-table--best", partial=True)
            for index, metric in enumerate(board.metrics, start=1):
                top = max(row.scores[metric.id] for row in board.rows)
                for r in range(table.row_count):
                    cell = table.get_row_at(r)[index]
                    assert (cell.style == best_style) == (cell.plain == str(top)), (metric.id, r)


async def test_explanation_and_chart_follow_the_cursor_column(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_boards(pilot)
        view = screen.current_view
        table, board = view.table, view.board
        explanation = view.query_one(".metric-explanation", Static)
        chart = view.query_one(BarChart)
        # Starts on the overall metric.
        assert table.metric.id == board.overall_metric
        for metric in board.metrics:
            table.move_cursor(column=1 + list(board.metrics).index(metric))
            await pilot.pause()
            text = str(explanation.visual)
            assert metric.explanation_zh in text and " ".join(metric.explanation_en.split()) in (
                " ".join(text.split())
            )
            assert chart.title.startswith(metric.name)
            assert [b.value for b in chart.bars] == sorted(
                (float(r.scores[metric.id]) for r in board.rows), reverse=True
            )
        await pilot.press("down")
        assert chart.marked == table.current_row.model
        rendered = str(chart.render())
        assert "█" in rendered and str(chart.bars[0].text) in rendered

        table.move_cursor(column=0)  # the model column explains the row instead
        await pilot.pause()
        assert table.current_row.model in str(explanation.visual)


def test_bar_lengths_are_proportional_to_the_value():
    assert bar(50, 100, 10) == "█████"
    assert bar(100, 100, 10) == "█" * 10
    assert bar(55, 100, 10) == "█████▌"
    assert bar(0, 100, 10) == ""


async def test_summary_shows_every_point_in_chinese_and_english(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_boards(pilot)
        board = screen.current_view.board
        assert board.summary is not None
        text = str(screen.current_view.query_one(".summary", Static).visual)
        for zh, en in zip(board.summary.zh, board.summary.en, strict=True):
            assert zh in text
            assert en.splitlines()[-1] in text


async def test_linked_leaderboards_show_their_url_and_open_in_the_browser(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        opened: list[str] = []
        pilot.app.open_url = lambda url, new_tab=True: opened.append(url)  # no browser in tests
        screen = await open_boards(pilot)
        screen.show_tab("linked")
        await pilot.pause()
        options = screen.query_one("#linked-list", OptionList)
        assert pilot.app.focused is options
        texts = [
            options.get_option(linked.id).prompt.plain for linked in catalogue.linked_leaderboards
        ]
        for linked, text in zip(catalogue.linked_leaderboards, texts, strict=True):
            assert linked.url in text and linked.name in text
        await pilot.press("down", "enter")
        assert opened == [catalogue.linked_leaderboards[1].url]
        await pilot.press("o")
        assert opened[-1] == catalogue.linked_leaderboards[1].url

        screen.show_tab(f"board-{catalogue.leaderboards[0].id}")
        await pilot.pause()
        await pilot.press("o")
        assert opened[-1] == catalogue.leaderboards[0].url


async def test_palette_sorts_the_shown_table_and_switches_tabs(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_boards(pilot)
        await pilot.press("ctrl+p")
        for char in "Show OpenCompass":
            await pilot.press("space" if char == " " else char)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert screen.current_view.board.id == "opencompass"
        titles = [c.title for c in screen.palette_commands()]
        board = screen.current_view.board
        assert [t for t in titles if t.startswith("Sort ")] == [
            f"Sort {board.name} by {name}" for name in ["Model", *(m.name for m in board.metrics)]
        ]
        next(c for c in screen.palette_commands() if c.title.endswith("by Code")).run()
        assert screen.current_view.table.sort_column == "code"


async def test_layout_at_80x24_keeps_scores_visible(catalogue):
    async with LlmTui(catalogue).run_test(size=(80, 24)) as pilot:
        screen = await open_boards(pilot)
        table = screen.current_view.table
        assert screen.region.contains_region(table.region)
        label = table.ordered_columns[0]
        assert label.key.value == LABEL and label.get_render_width(table) <= 24
        # The model column and at least the overall score are on screen without scrolling.
        assert sum(c.get_render_width(table) for c in table.ordered_columns[:2]) < table.size.width
