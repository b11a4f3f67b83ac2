"""From a catalogue row to a running chat (or comparison) against the loopback Hub; the first chat
with nothing downloaded; the GGUF column's words."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Label, Static

from tests.fakehub import fake_hub, sha256_of  # noqa: F401
from tests.pilot import until
from tui.core.catalogue.browse import COLUMN_IDS
from tui.core.models.downloads import State
from tui.ui.app import LlmTui
from tui.ui.browse.table import ModelTable

MODEL = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
REPO = "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"  # the catalogue's GGUF repository for it
GOOD = "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def text_of(widget: Static) -> str:
    return str(widget.render())


def cache_files(isolated_dirs) -> list[str]:
    return sorted(p.name for p in (isolated_dirs / "hf" / "hub").rglob("*.gguf"))


async def picker_for(pilot, key: str):
    """Select MODEL in the catalogue and press `key`; the quant picker, with its files listed."""
    from tui.ui.download.screen import QuantPicker

    pilot.app.screen.open_model(MODEL)
    await pilot.pause()
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, QuantPicker), "the picker opens")
    picker = pilot.app.screen
    files = picker.query_one("#files", DataTable)
    await until(pilot, lambda: files.row_count == 2, "the files are listed")
    return picker


@pytest.fixture
def hub_with_model(fake_hub, smollm2, tiny_gguf):
    fake_hub.add_repo(REPO, {
        "tinyllama-1.1b-chat-v1.0.Q2_K.gguf": tiny_gguf(["x"], name="t.gguf"),
        GOOD: smollm2,
    })  # fmt: skip
    return fake_hub


async def test_chat_on_a_model_not_here_downloads_with_progress_then_chats(
    catalogue, hub_with_model, smollm2, isolated_dirs
):
    from tui.ui.chat.screen import ChatScreen

    # Holds the download mid-way: each of its 8 connections (the default) stalls at 2,500,000 bytes.
    hub_with_model.fault(GOOD, stall_after=2_500_000, times=8)
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        picker = await picker_for(pilot, "c")
        assert "to chat with it" in text_of(picker.query_one("#title", Static))
        rows = cells(picker.query_one("#files", DataTable))
        # The recommended file is marked and the cursor is on it; each row has its fit and size.
        assert rows[1][:3] == ["★", "Q4_K_M", "98.4 MB"] and rows[1][4] == "fits"
        assert picker.query_one("#files", DataTable).cursor_row == 1
        await pilot.press("enter")
        progress = picker.query_one("#progress", Static)
        await until(pilot, lambda: "downloading" in text_of(progress), "progress shows")
        await until(pilot, lambda: "%" in text_of(progress) and " 0%" not in text_of(progress))
        assert GOOD in text_of(progress) and app.current_mode == "browse"
        hub_with_model.release()
        # Verified, the chat opens with the file and loads it.
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat opens")
        chat = app.screen
        await until(pilot, lambda: chat.info is not None, "the model loads")
        status = app.downloads.statuses()[0]
        assert status.state == State.DONE and chat.spec == str(status.path)
        assert sha256_of(status.path) == sha256_of(smollm2)
        assert chat.backend is not None and not chat.query_one("#offer").display


async def test_compare_on_a_model_not_here_adds_it_once_downloaded(catalogue, hub_with_model):
    from tui.ui.compare.screen import CompareScreen

    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        picker = await picker_for(pilot, "m")
        assert "to compare it" in text_of(picker.query_one("#title", Static))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), "compare opens")
        await until(pilot, lambda: app.screen.choices, "the model joins")
        (status,) = app.downloads.statuses()
        assert [c.spec for c in app.screen.choices] == [str(status.path)]
        assert status.path.name == GOOD


async def test_closing_the_picker_leaves_everything_as_it_was(
    catalogue, hub_with_model, isolated_dirs
):
    from tui.ui.browse.screen import BrowseScreen

    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        await picker_for(pilot, "c")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, BrowseScreen), "back on the catalogue")
        assert app.current_mode == "browse"
        assert app.screen.query_one(ModelTable).current.id == MODEL
        assert app.downloads.statuses() == [] and cache_files(isolated_dirs) == []


async def test_cancel_during_the_download_stops_it_and_opens_nothing(
    catalogue, hub_with_model, isolated_dirs
):
    from tui.core.config.paths import app_paths
    from tui.ui.browse.screen import BrowseScreen

    hub_with_model.fault(GOOD, stall_after=2_500_000, times=8)  # 20 MB over 8 connections
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        picker = await picker_for(pilot, "c")
        await pilot.press("enter")
        (job,) = picker.jobs
        await until(pilot, lambda: app.downloads.manager.status(job).done >= 19 << 20)
        await pilot.press("escape")  # the focus is on "Cancel download"
        await until(pilot, lambda: isinstance(app.screen, BrowseScreen), "back on the catalogue")
        await until(pilot, lambda: app.downloads.manager.status(job).state == State.CANCELLED)
        hub_with_model.release()
        assert app.current_mode == "browse"
        assert cache_files(isolated_dirs) == []
        assert list(app_paths().downloads_dir.glob("*.part")) == []  # the partial file went too


async def test_a_download_already_running_is_followed_not_cancelled(catalogue, hub_with_model):
    from tui.core.models.hub import list_files

    hub_with_model.fault(GOOD, stall_after=2_500_000, times=8)  # 20 MB over 8 connections
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        service = app.downloads
        good = next(f for f in list_files(REPO).files if f.name == GOOD)
        (job,) = service.submit(good)  # started earlier, from My models
        picker = await picker_for(pilot, "c")
        await pilot.press("enter")
        assert picker.jobs == [job]
        await pilot.press("escape")
        await until(pilot, lambda: not picker.is_attached, "the picker closes")
        assert service.manager.status(job).state != State.CANCELLED
        hub_with_model.release()
        await until(pilot, lambda: service.manager.status(job).state == State.DONE)


async def test_no_message_in_the_app_names_a_command(catalogue, hub_with_model):
    """A conversation whose model is not here any more offers its download (no "run llmtui ...")."""
    from tui.ui.chat.screen import ChatScreen
    from tui.ui.download.screen import QuantPicker

    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        app.open_job("chat", MODEL)
        await until(pilot, lambda: isinstance(app.screen, QuantPicker), "the download is offered")
        assert "to chat with it" in text_of(app.screen.query_one("#title", Static))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen))
        bar = text_of(app.screen.query_one("#model-bar", Static))
        assert "is not downloaded" in bar and "llmtui" not in bar and "`" not in bar


async def test_first_chat_offers_this_machine_first_then_small_downloads(
    catalogue, hub_with_model, tiny_gguf
):
    from tui.core.catalogue.browse import smallest_chat_models
    from tui.core.config.paths import app_paths
    from tui.ui.common.model_select import OFFERED_DOWNLOADS, ModelOffer
    from tui.ui.download.screen import QuantPicker

    folder = app_paths().models_dir  # where `make run` puts the test model
    folder.mkdir(parents=True)
    here = tiny_gguf(["hi"], name="SmolLM2-[bold]135M.gguf")  # a hostile name: shown as text
    (folder / here.name).write_bytes(here.read_bytes())
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("4")
        chat = app.screen
        offer = chat.query_one(ModelOffer)
        await until(pilot, lambda: offer.scanned and offer.option_count > 0, "the offer fills")
        prompts = [offer.get_option_at_index(i).prompt.plain for i in range(offer.option_count)]
        smallest = smallest_chat_models(catalogue, OFFERED_DOWNLOADS)
        assert smallest[0].id == MODEL and len(smallest) == OFFERED_DOWNLOADS
        assert prompts == [
            "On this machine and your servers",
            str(folder / "SmolLM2-[bold]135M.gguf"),
            "Download from the catalogue (the smallest chat models)",
            *(f"{m.name}  {m.params_b:g}B  download" for m in smallest),
        ]
        # The focus is on the offer, on the first model: enter opens it.
        assert offer.has_focus and offer.highlighted == 1
        await pilot.press("down")  # the heading is skipped: the first download
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, QuantPicker), "the picker opens")
        assert app.screen.model_id == MODEL and app.screen.then == "chat"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat)
        assert chat.spec is None and offer.display
        offer.focus()
        await pilot.press("up", "enter")  # the file on this machine
        await until(pilot, lambda: chat.info is not None, "the model loads")
        assert chat.spec == str(folder / "SmolLM2-[bold]135M.gguf") and not offer.display
        assert chat.query_one("#chat-input").has_focus


async def test_a_downloaded_catalogue_model_is_not_offered_again(catalogue, hub_with_model):
    from tui.core.catalogue.browse import smallest_chat_models
    from tui.core.config.context import AppContext
    from tui.core.models.downloads import FileRequest
    from tui.ui.common.model_select import OFFERED_DOWNLOADS, ModelOffer

    f = hub_with_model.repos[REPO].files[GOOD]
    manager = AppContext.load().download_manager()
    manager.wait(manager.submit(FileRequest(REPO, GOOD, f.size, f.sha256)))
    manager.close()
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("4")
        offer = app.screen.query_one(ModelOffer)
        await until(pilot, lambda: offer.scanned and offer.option_count > 0)
        offered = [m.id for m in offer.downloads()]
        # TinyLlama is here (listed first, as a file); the next smallest take its place.
        smallest = [m.id for m in smallest_chat_models(catalogue, OFFERED_DOWNLOADS + 1)]
        assert smallest[0] == MODEL and offered == smallest[1:]
        assert offer.get_option_at_index(1).prompt.plain == f"{REPO}/{GOOD}"


async def test_gguf_column_words_and_filter(catalogue):
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 40)) as pilot:
        table = app.screen.query_one(ModelTable)
        column = COLUMN_IDS.index("gguf")
        words = {row.id: row.cells[column] for row in table.rows}
        assert words[MODEL] == "yes"
        assert words["baichuan-inc/Baichuan2-13B-Chat"] == "other"  # second-state's GGUF
        assert words["THUDM/chatglm3-6b"] == "no"
        filter_input = app.screen.query_one("#filter", Input)
        filter_input.focus()
        for word in ("yes", "other", "no"):
            filter_input.value = f"gguf:{word}"
            await pilot.pause()
            shown = [row.id for row in table.rows]
            assert shown and all(words[i] == word for i in shown)
            assert len(shown) == sum(1 for w in words.values() if w == word)
            count = str(app.screen.query_one("#match-count", Label).render()).strip()
            assert count == f"{len(shown)} of {len(catalogue.models)}"
