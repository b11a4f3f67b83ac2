"""The browse screen under Pilot: groups, filter, sort, detail pane, actions, help, palette."""

from __future__ import annotations

import importlib

import pytest
from textual.widgets import Input, OptionList, Static

from tests.pilot import fits_found, put_on_this_machine, until
from tui.ui.app import MODE_SCREENS, LlmTui
from tui.ui.browse.detail import ModelDetail
from tui.ui.browse.screen import BrowseScreen
from tui.ui.browse.table import ModelTable
from tui.ui.common.help import HelpScreen
from tui.ui.common.keys import KeyFooter


def shown_ids(app) -> list[str]:
    return [row.id for row in app.screen.query_one(ModelTable).rows]


def detail_text(app) -> str:
    detail = app.screen.query_one(ModelDetail)
    return "\n".join(str(static.visual) for static in detail.query(Static))


async def type_text(pilot, text: str) -> None:
    for char in text:
        await pilot.press("space" if char == " " else char)


async def test_groups_list_counts_and_filter_the_table(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        groups = pilot.app.screen.query_one("#groups", OptionList)
        prompts = [groups.get_option_at_index(i).prompt.plain for i in range(groups.option_count)]
        counts = catalogue.group_counts()
        assert prompts == [f"All {len(catalogue.models)}"] + [
            f"{g.name} {counts[g.id]}" for g in catalogue.groups
        ] + ["Hub search"]  # the Hub source comes last
        assert len(shown_ids(pilot.app)) == len(catalogue.models)

        await pilot.click("#groups", offset=(2, 2))  # the second entry: the first group
        await pilot.pause()
        first = catalogue.groups[0]
        assert sorted(shown_ids(pilot.app)) == sorted(m.id for m in catalogue.models if m.group == first.id)
        assert str(pilot.app.screen.query_one("#match-count").visual).strip() == (
            f"{counts[first.id]} of {len(catalogue.models)}"
        )

        await pilot.press("g")  # next group
        await pilot.pause()
        second = catalogue.groups[1]
        assert sorted(shown_ids(pilot.app)) == sorted(m.id for m in catalogue.models if m.group == second.id)


async def test_filter_as_you_type_matches_name_org_group_and_licence(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.press("slash")
        assert isinstance(pilot.app.focused, Input)
        await type_text(pilot, "qwen")
        await pilot.pause()
        assert shown_ids(pilot.app) and all("qwen" in i.lower() for i in shown_ids(pilot.app))
        expected = [m.id for m in catalogue.models if "qwen" in (m.name + m.id).lower()]
        assert sorted(shown_ids(pilot.app)) == sorted(expected)

        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert len(shown_ids(pilot.app)) == len(catalogue.models)

        await type_text(pilot, "apache")  # licence
        await pilot.pause()
        assert sorted(shown_ids(pilot.app)) == sorted(
            m.id for m in catalogue.models if "apache" in (m.license or "").lower()
        )

        await pilot.press("escape")
        await type_text(pilot, "embedding baai")  # group + organisation, both words must match
        await pilot.pause()
        assert shown_ids(pilot.app) == ["BAAI/bge-base-zh-v1.5"]

        await type_text(pilot, "zzz")
        await pilot.pause()
        assert shown_ids(pilot.app) == []

        await pilot.press("enter")  # leaves the filter for the table; the detail pane catches up
        assert isinstance(pilot.app.focused, ModelTable)
        assert "No model matches" in detail_text(pilot.app)


async def test_sort_by_keys_and_by_clicking_a_header(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        table = pilot.app.screen.query_one(ModelTable)
        names = [row.model.name.lower() for row in table.rows]
        assert names == sorted(names)  # default: by name

        await pilot.press("r")  # reverse
        assert [row.model.name.lower() for row in table.rows] == sorted(names, reverse=True)

        # Click the "Size" header: biggest first, unknown sizes last.
        x = 1 + sum(w for _, column, w in table._layout[: table.visible_columns.index("size")])
        await pilot.click(ModelTable, offset=(x + 1, 0))
        await pilot.pause()
        assert table.sort.column == "size" and table.sort.descending
        sizes = [row.model.params_b for row in table.rows]
        known = [s for s in sizes if s is not None]
        assert known == sorted(known, reverse=True)
        assert sizes == known + [None] * (len(sizes) - len(known))

        await pilot.press("s")  # next column: group
        assert table.sort.column == "group"
        order = [g.id for g in catalogue.groups]
        assert [order.index(row.model.group) for row in table.rows] == sorted(
            order.index(row.model.group) for row in table.rows
        )


async def test_detail_pane_shows_link_facts_scores_with_rank_and_gguf(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = pilot.app.screen
        screen.open_model("01-ai/Yi-34B-Chat")
        await pilot.pause()
        text = detail_text(pilot.app)
        assert "https://huggingface.co/01-ai/Yi-34B-Chat" in text
        assert "34B parameters" in text and "4,096 tokens (unverified)" in text
        for board, metric, value, rank in catalogue.scores_for("01-ai/Yi-34B-Chat"):
            scored = len(board.ranked(metric.id))
            assert any(
                metric.name in line and str(value) in line and f"#{rank} of {scored}" in line
                for line in text.splitlines()
            ), (board.id, metric.id)
        assert "https://huggingface.co/TheBloke/Yi-34B-Chat-GGUF" in text

        screen.open_model("Qwen/Qwen-7B-Chat")
        await pilot.pause()
        text = detail_text(pilot.app)
        assert "none: TheBloke published Qwen-7B-Chat only in GPU formats" in text
        assert "no leaderboard lists this model" in text


@pytest.fixture
def opened(monkeypatch):
    """The (mode, model) pairs the job screens were opened with (the screens do nothing else)."""
    calls: list[tuple[str, str]] = []
    for mode in ("models", "chat", "compare"):
        module, name = MODE_SCREENS[mode].split(":")
        screen_class = getattr(importlib.import_module(module), name)
        record = lambda self, model, m=mode: calls.append((m, model))  # noqa: E731
        monkeypatch.setattr(screen_class, "open_model", record)
    return calls


@pytest.mark.parametrize(("key", "mode"), [("d", "models"), ("c", "chat"), ("m", "compare")])
async def test_actions_open_the_job_with_the_selected_model(catalogue, opened, tiny_gguf, key, mode):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        table = pilot.app.screen.query_one(ModelTable)
        await pilot.press("down", "down")
        chosen = table.current.id
        put_on_this_machine(catalogue.model(chosen), tiny_gguf(["x"]))  # chat needs a file
        await pilot.press(key)
        await until(pilot, lambda: pilot.app.current_mode == mode)
        assert opened == [(mode, chosen)]


async def test_action_buttons_do_the_same_as_the_keys(catalogue, opened, tiny_gguf):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        chosen = pilot.app.screen.query_one(ModelTable).current.id
        put_on_this_machine(catalogue.model(chosen), tiny_gguf(["x"]))
        # The fit fills the detail pane (moving its buttons down): click where the button ends up.
        await until(pilot, lambda: fits_found(pilot.app))
        await pilot.pause()
        await pilot.click("#action-chat")
        await until(pilot, lambda: pilot.app.current_mode == "chat")
        assert opened == [("chat", chosen)]


async def test_jump_from_a_leaderboard_row_to_the_model_and_back(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.press("slash", "x", "y", "z")  # a filter that hides the target model
        await pilot.press("enter")
        await pilot.press("2")
        await pilot.pause()
        boards = pilot.app.screen
        table = boards.current_view.table
        await pilot.press("down", "down", "right")
        row, column = table.cursor_row, table.cursor_column
        target = table.current_row.model

        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.current_mode == "browse"
        browse = pilot.app.screen
        assert isinstance(browse, BrowseScreen)
        assert browse.query_one(ModelTable).current.id == target
        assert browse.filter_text == ""  # the filter that hid it was cleared
        assert "back" in [b.binding.action for b in browse.active_bindings.values()]

        await pilot.press("b")
        await pilot.pause()
        assert pilot.app.current_mode == "leaderboards"
        assert (table.cursor_row, table.cursor_column) == (row, column)
        assert table.current_row.model == target


async def test_help_screen_lists_every_binding_of_app_and_screen(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(pilot.app.screen, HelpScreen)
        text = "\n".join(str(s.visual) for s in pilot.app.screen.query(Static))
        for binding in [*BrowseScreen.BINDINGS, *LlmTui.BINDINGS, *ModelTable.BINDINGS]:
            if binding.description:
                assert (binding.tooltip or binding.description) in text, binding
        assert "Views" not in text  # groups are a footer detail; help lists each key
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, BrowseScreen)


async def test_help_follows_the_user_keymap(catalogue):
    app = LlmTui(catalogue)
    async with app.run_test(size=(120, 40)) as pilot:
        app.set_keymap({"browse.sort": "f2"})
        await pilot.press("f2")
        assert app.screen.sort.column == "organisation"
        await pilot.press("question_mark")
        await pilot.pause()
        text = "\n".join(str(s.visual) for s in app.screen.query(Static))
        line = next(line for line in text.splitlines() if "Sort models by the next column" in line)
        assert "f2" in line.lower()


async def test_the_keymap_in_the_settings_file_applies_from_the_start(catalogue):
    from tui.core.config.paths import app_paths

    settings = app_paths().settings_file
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("keymap:\n  browse.filter: f\n  browse.sort: f2\n", encoding="utf-8")
    app = LlmTui(catalogue)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("slash")  # no longer the filter key
        assert isinstance(app.focused, ModelTable)
        await pilot.press("f")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")  # leaves the empty filter for the table
        await pilot.press("f2")
        assert app.screen.sort.column == "organisation"
        keys = {key.key for _, _, key in app.screen.query_one(KeyFooter).spans}
        assert {"f", "f2"} <= keys and "slash" not in keys


async def test_a_broken_settings_file_is_reported_and_the_default_keys_stay(catalogue):
    from tui.core.config.paths import app_paths

    settings = app_paths().settings_file
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("keymap: [not, a, mapping]\n", encoding="utf-8")
    app = LlmTui(catalogue)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        [note] = app._notifications
        assert note.title == "Settings not applied" and "keymap" in note.message
        await pilot.press("slash")
        assert isinstance(app.focused, Input)


async def test_the_detail_pane_waits_while_typing_and_follows_on_leaving_the_filter(
    catalogue, monkeypatch
):
    import tui.ui.browse.screen as browse_screen

    monkeypatch.setattr(browse_screen, "DETAIL_DELAY", 30.0)  # no pause in typing here
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: fits_found(pilot.app))  # the fit re-renders the detail
        await pilot.pause()
        shown = detail_text(pilot.app)
        await pilot.press("slash")
        await type_text(pilot, "yi-6")
        assert shown_ids(pilot.app) and detail_text(pilot.app) == shown
        await pilot.press("enter")
        first = catalogue.model(shown_ids(pilot.app)[0])
        await until(pilot, lambda: first.name in detail_text(pilot.app), "the detail follows")


async def test_command_palette_runs_screen_and_app_actions(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = pilot.app.screen
        await pilot.press("ctrl+p")
        await type_text(pilot, "Sort models by Best score")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert screen.sort.column == "best" and screen.sort.descending

        await pilot.press("ctrl+p")
        await type_text(pilot, "Go to the leaderboards")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.current_mode == "leaderboards"


async def test_palette_has_an_entry_for_every_action(catalogue):
    from tui.ui.common.commands import palette_commands

    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        titles = [c.title for c in palette_commands(pilot.app.screen)]
        for binding in [*BrowseScreen.BINDINGS, *LlmTui.BINDINGS]:
            assert binding.tooltip in titles
        for column in ("Name", "Organisation", "Size", "Group", "GGUF", "Best score"):
            assert f"Sort models by {column}" in titles
        for linked in catalogue.linked_leaderboards:
            assert f"Open {linked.name} in the browser" in titles
        assert len(titles) == len(set(titles))


async def test_layout_at_80x24_puts_the_detail_pane_under_the_table(catalogue):
    async with LlmTui(catalogue).run_test(size=(80, 24)) as pilot:
        screen = pilot.app.screen
        table = screen.query_one("#models-pane").region
        detail = screen.query_one("#detail").region
        groups = screen.query_one("#groups").region
        assert detail.y >= table.bottom and detail.x == table.x
        assert groups.right <= table.x
        for region in (table, detail, groups):
            assert region.height >= 5 and screen.region.contains_region(region)
        # The name, size, GGUF and score columns still fit.
        assert {"name", "size", "gguf", "best"} <= set(screen.query_one(ModelTable).visible_columns)

    async with LlmTui(catalogue).run_test(size=(160, 40)) as pilot:
        screen = pilot.app.screen
        table = screen.query_one("#models-pane").region
        detail = screen.query_one("#detail").region
        assert detail.x >= table.right and detail.y == table.y
        assert len(screen.query_one(ModelTable).visible_columns) == 6


async def test_footer_keys_come_with_the_screen_and_follow_what_they_can_do(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        footer = pilot.app.screen.query_one(KeyFooter)

        def keys() -> dict[str, tuple[int, bool]]:
            return {key.key: (start, key.enabled) for start, _, key in footer.spans}

        first = keys()
        assert {"slash", "s", "d", "c", "m", "question_mark", "ctrl+p"} <= set(first)
        assert first["d"][1] and first["c"][1]
        # A click on a key presses it.
        await pilot.click(KeyFooter, offset=(first["s"][0] + 1, 0))
        await pilot.pause()
        assert pilot.app.screen.sort.column == "organisation"
        # A filter that matches nothing: the job keys are disabled, and drawn dim.
        await pilot.press("slash", "x", "y", "z", "enter")
        await pilot.pause()
        now = keys()
        assert not now["d"][1] and not now["c"][1]
        dim = footer.render().get_style_at_offset(pilot.app.console, now["d"][0] + 1)
        assert dim.dim
