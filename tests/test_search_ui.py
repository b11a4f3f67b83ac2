"""The browse screen's Hub source under Pilot, against the loopback Hub: search as you type, pages,
orders, offline, hostile text, and a found repository through the quant picker to a file."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Label, OptionList, Static

from tests.fakehub import fake_hub, sha256_of  # noqa: F401
from tests.faultserver import free_port
from tests.pilot import until
from tui.core.models.downloads import State
from tui.core.models.search import PAGE_SIZE, HubSearch
from tui.ui.app import LlmTui
from tui.ui.browse.detail import ModelDetail
from tui.ui.browse.hub import HubTable
from tui.ui.browse.screen import HUB_SOURCE, BrowseScreen
from tui.ui.browse.table import ModelTable


@pytest.fixture
def gguf(tmp_path):
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    return path


def publish(hub, gguf, repo_id, **kwargs):
    stem = repo_id.split("/")[1].removesuffix("-GGUF").lower()
    return hub.add_repo(repo_id, {f"{stem}.Q4_K_M.gguf": gguf, f"{stem}.Q8_0.gguf": gguf}, **kwargs)


def hub_ids(screen) -> list[str]:
    return [repo.repo_id for repo in screen.query_one(HubTable).repos]


def status(screen) -> str:
    return str(screen.query_one("#hub-status", Label).visual)


def detail_text(screen) -> str:
    return "\n".join(str(s.visual) for s in screen.query_one(ModelDetail).query(Static))


async def search_for(pilot, text: str) -> None:
    """Show the Hub source and type `text` into the filter."""
    await pilot.press("H", "slash")
    for char in text:
        await pilot.press(char)


async def test_typing_asks_the_hub_and_shows_only_the_current_answer(catalogue, fake_hub, gguf):
    publish(fake_hub, gguf, "bartowski/Qwen2.5-7B-GGUF", downloads=500, likes=2)
    publish(fake_hub, gguf, "unsloth/Qwen3-4B-GGUF", downloads=900, likes=7,
            card_data={"license": "apache-2.0", "base_model": "Qwen/Qwen3-4B"})  # fmt: skip
    publish(fake_hub, gguf, "bartowski/Llama-3.2-1B-GGUF", downloads=10_000)
    async with LlmTui(catalogue).run_test(size=(140, 40)) as pilot:
        screen = pilot.app.screen
        await search_for(pilot, "qwen")
        table = screen.query_one(HubTable)
        assert table.display and not screen.query_one(ModelTable).display
        await until(pilot, lambda: hub_ids(screen) == ["unsloth/Qwen3-4B-GGUF",
                                                       "bartowski/Qwen2.5-7B-GGUF"])  # fmt: skip
        assert screen.hub_search.query == "qwen"
        assert "2 GGUF repositories, most downloaded" in status(screen)
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row == ["unsloth/Qwen3-4B-GGUF", "unsloth", "900", "7", "2024-01-01", "Q4_K_M Q8_0"]
        text = detail_text(screen)
        assert "apache-2.0" in text and "Qwen/Qwen3-4B" in text and "Q4_K_M Q8_0" in text

        # An answer to a query that is no longer the current one is dropped.
        stale = HubSearch("llama")
        stale.more()
        screen.post_message(BrowseScreen.HubPage(stale, None))
        await pilot.pause()
        assert hub_ids(screen) == ["unsloth/Qwen3-4B-GGUF", "bartowski/Qwen2.5-7B-GGUF"]

        await pilot.press("enter", "s")  # to the results; the next order: most liked
        await until(pilot, lambda: screen.hub_sort == "likes" and "most liked" in status(screen))
        assert hub_ids(screen) == ["unsloth/Qwen3-4B-GGUF", "bartowski/Qwen2.5-7B-GGUF"]
        assert fake_hub.searches[-1]["sort"] == ["likes"]

        # Back to the catalogue: its table and filter work as before.
        screen.query_one("#groups", OptionList).highlighted = 0
        await pilot.pause()
        assert screen.query_one(ModelTable).display and not table.display
        assert screen.query_one(ModelTable).rows  # "qwen" filters the catalogue's models too


async def test_more_results_on_demand(catalogue, fake_hub, gguf):
    for i in range(PAGE_SIZE + 5):
        publish(fake_hub, gguf, f"pub{i:02}/Phi-{i}-GGUF", downloads=1000 - i)
    async with LlmTui(catalogue).run_test(size=(140, 40)) as pilot:
        screen = pilot.app.screen
        await search_for(pilot, "phi")
        await until(pilot, lambda: len(hub_ids(screen)) == PAGE_SIZE)
        table = screen.query_one(HubTable)
        assert table.row_count == PAGE_SIZE + 1  # and the "more results" row
        assert "n: more results" in status(screen)
        await pilot.press("enter", "n")  # the filter field typed "n" would be the query
        await until(pilot, lambda: len(hub_ids(screen)) == PAGE_SIZE + 5)
        assert hub_ids(screen)[-1] == f"pub{PAGE_SIZE + 4}/Phi-{PAGE_SIZE + 4}-GGUF"
        assert table.row_count == PAGE_SIZE + 5  # the last page: no "more" row
        assert screen.check_action("more_results", ()) is False


async def test_offline_says_so_and_the_catalogue_keeps_working(catalogue, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens
    async with LlmTui(catalogue).run_test(size=(140, 40)) as pilot:
        screen = pilot.app.screen
        await search_for(pilot, "qwen")
        await until(pilot, lambda: status(screen).startswith("The Hub is offline: cannot connect"))
        assert hub_ids(screen) == []
        assert detail_text(screen).startswith("The Hub is offline: cannot connect")  # not "Searching…"
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        await pilot.press("backspace")
        await until(pilot, lambda: "HF_HUB_OFFLINE" in status(screen))
        screen.query_one("#groups", OptionList).highlighted = 0
        await pilot.pause()
        assert [r.id for r in screen.query_one(ModelTable).rows]  # the catalogue still answers


async def test_hostile_names_and_card_text_are_shown_literally(catalogue, fake_hub, gguf):
    publish(fake_hub, gguf, "evil/[bold]x[/]-GGUF",
            card_data={"license": "[red]mit\x1b[2J", "base_model": "[link=http://e]b[/link]"})
    async with LlmTui(catalogue).run_test(size=(140, 40)) as pilot:
        screen = pilot.app.screen
        await search_for(pilot, "x")
        await until(pilot, lambda: hub_ids(screen) == ["evil/[bold]x[/]-GGUF"])
        assert str(screen.query_one(HubTable).get_row_at(0)[0]) == "evil/[bold]x[/]-GGUF"
        text = detail_text(screen)
        assert "evil/[bold]x[/]-GGUF" in text and "[link=http://e]b[/link]" in text
        assert "[red]mit" in text and "\x1b" not in text


async def test_a_found_repository_goes_through_the_picker_to_my_models(
    catalogue, fake_hub, smollm2, tiny_gguf
):
    from tui.ui.download.screen import ModelsScreen, QuantPicker

    repo = "someone/SmolLM2-135M-Instruct-GGUF"
    fake_hub.add_repo(repo, {"smollm2-135m-instruct-q4_1.gguf": smollm2,
                             "smollm2-135m-instruct-q2_k.gguf": tiny_gguf(["x"])})  # fmt: skip
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.screen
        await search_for(pilot, "smollm2")
        await until(pilot, lambda: hub_ids(screen) == [repo])
        await pilot.press("enter", "d")
        await until(pilot, lambda: isinstance(app.screen, QuantPicker))
        files = app.screen.query_one("#files", DataTable)
        await until(pilot, lambda: files.row_count == 2)  # opened at once: no repository to pick
        await pilot.press("down", "enter")  # Q4_1
        await until(pilot, lambda: isinstance(app.screen, ModelsScreen))
        await until(pilot, lambda: [s.state for s in app.downloads.statuses()] == [State.DONE])
        library = app.screen.query_one("#library", DataTable)
        await until(pilot, lambda: library.row_count == 1)
        assert [str(c) for c in library.get_row_at(0)][:3] == [
            repo, "smollm2-135m-instruct-q4_1.gguf", "Q4_1"]
        assert sha256_of(app.downloads.statuses()[0].path) == sha256_of(smollm2)

        # Downloaded, the found repository opens in chat like a catalogue model.
        app.switch_mode("browse")
        await pilot.pause()
        await pilot.press("c")
        await until(pilot, lambda: app.current_mode == "chat")
        assert app.screen.session.spec == repo
        await until(pilot, lambda: app.screen.info is not None or app.screen.last_error is not None)
        assert app.screen.last_error is None and app.screen.info is not None


async def test_chat_on_a_found_repository_not_here_yet_opens_its_quant_picker(
    catalogue, fake_hub, gguf
):
    from tui.ui.download.screen import QuantPicker

    publish(fake_hub, gguf, "ggml-org/Gemma-3-1B-GGUF")
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        await search_for(pilot, "gemma")
        await until(pilot, lambda: hub_ids(app.screen) == ["ggml-org/Gemma-3-1B-GGUF"])
        await pilot.press("enter", "c")
        await until(pilot, lambda: isinstance(app.screen, QuantPicker))
        assert (app.screen.model_id, app.screen.then) == ("ggml-org/Gemma-3-1B-GGUF", "chat")
        files = app.screen.query_one("#files", DataTable)
        await until(pilot, lambda: files.row_count == 2)


async def test_a_catalogue_model_without_thebloke_gguf_finds_it_on_the_hub(
    catalogue, fake_hub, gguf
):
    model = next(m for m in catalogue.models if m.gguf.repo is None)
    name = model.id.rsplit("/", 1)[-1]
    publish(fake_hub, gguf, f"bartowski/{name}-GGUF")
    async with LlmTui(catalogue).run_test(size=(140, 40)) as pilot:
        screen = pilot.app.screen
        screen.open_model(model.id)
        await pilot.pause()
        assert screen.check_action("find_on_hub", ()) is True
        assert screen.query_one("#action-find-hub").display
        await pilot.press("h")
        await until(pilot, lambda: hub_ids(screen) == [f"bartowski/{name}-GGUF"])
        assert screen.query_one(Input).value == name and screen.hub_source
        groups = screen.query_one("#groups", OptionList)
        assert groups.get_option_at_index(groups.highlighted).id == HUB_SOURCE
