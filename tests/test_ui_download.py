"""Pilot tests: quant picker, download progress, cancel and My models, against the loopback Hub."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from tests.fakehub import fake_hub, sha256_of  # noqa: F401
from tui.core.models.downloads import State

REPO = "TheBloke/phi-2-GGUF"  # the catalogue maps microsoft/phi-2 here


@pytest.fixture
def app():
    from tui.core.catalogue import default_catalogue_path, load_catalogue
    from tui.ui.app import LlmTui

    return LlmTui(load_catalogue(default_catalogue_path()))


async def wait_until(pilot, condition, steps: int = 600) -> None:
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_pick_a_quant_download_it_and_find_it_in_my_models(app, fake_hub, smollm2, tiny_gguf):
    from tui.ui.download.screen import ModelsScreen, QuantPicker

    tiny = tiny_gguf(["x"], name="t.gguf")
    fake_hub.add_repo(REPO, {
        "phi-2.Q4_K_M.gguf": smollm2,
        "phi-2.Q2_K.gguf": tiny,
        "phi-2.[red]evil[/].Q8_0.gguf": tiny,  # hostile name: shown as text, not markup
    })  # fmt: skip
    async with app.run_test(size=(140, 45)) as pilot:
        app.open_job("models", "microsoft/phi-2")
        await pilot.pause()
        assert isinstance(app.screen, QuantPicker)
        picker = app.screen
        files = picker.query_one("#files", DataTable)
        await wait_until(pilot, lambda: files.row_count == 3)
        rows = cells(files)
        assert [r[1] for r in rows] == ["Q2_K", "Q4_K_M", "Q8_0"]  # quality order
        assert all(r[4] == "fits" for r in rows)  # tiny files fit anywhere
        assert rows[2][5] == "phi-2.[red]evil[/].Q8_0.gguf"
        # Recommended: the best quality that fits, up to Q8_0; the cursor starts on it.
        assert rows[2][0] == "★" and files.cursor_row == 2
        # The smallest file's header (read with Range requests) sizes the KV cache.
        assert picker.header is not None and picker.header.n_embd == 288
        await pilot.press("up")  # Q4_K_M
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)
        service = app.downloads
        await wait_until(pilot, lambda: [s.state for s in service.statuses()] == [State.DONE])
        library = app.screen.query_one("#library", DataTable)
        await wait_until(pilot, lambda: library.row_count == 1)
        assert cells(library)[0][:3] == [REPO, "phi-2.Q4_K_M.gguf", "Q4_K_M"]
        title = app.screen.query_one("#library-title", Static)
        assert "1 file, 98.4 MB" in str(title.render())
        downloads = app.screen.query_one("#downloads", DataTable)
        assert "done" in cells(downloads)[0][5]
        path = service.statuses()[0].path
        assert sha256_of(path) == sha256_of(smollm2)


async def test_progress_shows_and_cancel_removes_the_download(
    app, fake_hub, smollm2, monkeypatch
):
    from tui.core.models.hub import list_files
    from tui.ui.download import screen as models_screen

    monkeypatch.setattr(models_screen, "STALLED_AFTER", 0.5)

    fake_hub.add_repo(REPO, {"phi-2.Q4_K_M.gguf": smollm2})
    # Each of its 8 connections (the default) stalls after 2,500,000 bytes: 20 MB in all.
    fake_hub.fault("phi-2.Q4_K_M.gguf", stall_after=2_500_000, times=8)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        service = app.downloads
        (job,) = service.submit(list_files(REPO).files[0])
        table = app.screen.query_one("#downloads", DataTable)
        await wait_until(pilot, lambda: service.manager.status(job).done >= 19 << 20)

        def shown_percent() -> int:
            return int(cells(table)[0][1].split()[-1].rstrip("%")) if table.row_count else -1

        # The table renders 10 times a second: wait for a render after the bytes arrived (19 MiB
        # of 98.4 MB, then the server stalls).
        await wait_until(pilot, lambda: shown_percent() >= 19)
        row = cells(table)[0]
        assert row[0] == "phi-2.Q4_K_M.gguf" and row[2] == "98.4 MB" and row[5] == "downloading"
        # The server has stopped sending: the last speed and ETA give way to how long it has been.
        await wait_until(pilot, lambda: cells(table)[0][3].startswith("stalled "))
        assert cells(table)[0][4] == "" and cells(table)[0][5] == "downloading"
        await pilot.press("p")
        assert service.manager.status(job).state == State.PAUSED
        await pilot.press("p")
        assert service.manager.status(job).state == State.QUEUED
        await pilot.press("c")
        await wait_until(pilot, lambda: table.row_count == 0)
        assert service.manager.status(job).state == State.CANCELLED
        fake_hub.release()


async def test_a_finished_and_a_failed_download_are_notified_then_the_pump_parks(
    app, fake_hub, tiny_gguf
):
    from tui.core.models.hub import list_files

    tiny = tiny_gguf(["x"], name="t.gguf")
    fake_hub.add_repo(REPO, {"phi-2.Q2_K.gguf": tiny, "phi-2.[bold]Q8_0.gguf": tiny})
    fake_hub.fault("phi-2.[bold]Q8_0.gguf", status=403, times=100)
    async with app.run_test(size=(140, 40)) as pilot:
        service = app.downloads
        for file in list_files(REPO).files:
            service.submit(file)

        def notes() -> dict[str, str]:
            return {n.title: n.message for n in app._notifications}

        await wait_until(pilot, lambda: len(notes()) == 2)
        assert notes()["Download finished"] == "phi-2.Q2_K.gguf is ready (verified)."
        assert "phi-2.[bold]Q8_0.gguf failed" in notes()  # a hostile name, as text
        assert sorted(s.state.value for s in service.statuses()) == ["done", "failed"]
        await wait_until(pilot, lambda: not service._pump.running)  # nothing moves: no more drains


async def test_delete_asks_first_and_frees_the_disk(app, fake_hub, tiny_gguf):
    from tui.core.config.context import AppContext
    from tui.core.models.downloads import FileRequest
    from tui.ui.download.screen import Confirm

    tiny = tiny_gguf(["x"], name="t.gguf")
    fake_hub.add_repo(REPO, {"phi-2.Q4_0.gguf": tiny})
    f = fake_hub.repos[REPO].files["phi-2.Q4_0.gguf"]
    m = AppContext.load().download_manager()
    path = m.wait(m.submit(FileRequest(REPO, "phi-2.Q4_0.gguf", f.size, f.sha256))).path
    blob = path.resolve()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("3")
        library = app.screen.query_one("#library", DataTable)
        await wait_until(pilot, lambda: library.row_count == 1)
        library.focus()
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("escape")  # no
        await pilot.pause()
        assert blob.exists()
        await pilot.press("delete")
        await pilot.pause()
        await pilot.click("#yes")
        await wait_until(pilot, lambda: library.row_count == 0)
        assert not blob.exists() and not path.exists()


async def test_repo_without_thebloke_gguf_offers_others_and_a_typed_id(app, fake_hub, tiny_gguf):
    from tui.ui.download.screen import QuantPicker

    tiny = tiny_gguf(["x"], name="t.gguf")
    fake_hub.add_repo("someone/Acme-7B-GGUF", {"acme-7b.Q4_K_M.gguf": tiny}, downloads=5)
    fake_hub.add_repo("other/Custom-GGUF", {"custom.Q5_K_M.gguf": tiny})
    async with app.run_test(size=(140, 45)) as pilot:
        app.open_job("models", "acme/Acme-7B")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, QuantPicker)
        repos = picker.query_one("#repos", DataTable)
        await wait_until(pilot, lambda: repos.row_count == 1)
        assert "TheBloke published no GGUF" in str(picker.query_one("#note", Static).render())
        assert cells(repos)[0][0] == "someone/Acme-7B-GGUF"
        picker.query_one("#repo-input").focus()
        await pilot.press(*"other/Custom-GGUF", "enter")
        files = picker.query_one("#files", DataTable)
        await wait_until(pilot, lambda: files.row_count == 1 and cells(files)[0][1] == "Q5_K_M")


async def test_offline_banner_and_cached_files_only(app, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        banner = app.screen.query_one("#offline", Static)
        assert banner.display and "HF_HUB_OFFLINE" in str(banner.render())
