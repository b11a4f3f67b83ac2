"""Snapshots of the job screens at 120x40 (pytest-textual-snapshot): My models with local files and
a server's models, the quant picker, a finished comparison reopened from the store, and the
Endpoints screen with its form.

Regenerate after an intended change (`pytest tests/test_snapshots_jobs.py --snapshot-update`) and
review the SVGs under tests/__snapshots__/. Nothing here depends on time or on this machine: no
clock, cursors steady, files never used (`never`), the home folder is the test's own (`~/models`),
the machine's memory fixed, servers on fixed loopback ports, comparison stats stored, not measured.
"""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from textual.widgets import DataTable, Input, TextArea

from tests.fakehub import fake_hub  # noqa: F401
from tests.faultserver import FaultServer
from tests.pilot import fits_found, until
from tui.core.compare.comparison import Cell, Column, CompareConfig, ComparisonResult, ModelChoice
from tui.core.compare.prompt_sets import Prompt
from tui.core.config import endpoints
from tui.core.config.context import AppContext
from tui.core.config.paths import app_paths
from tui.core.config.settings import Endpoint, load_settings, save_settings
from tui.core.engine.base import AnswerStats, SamplingOptions
from tui.ui.app import LlmTui

SIZE = (120, 40)
# Fixed ports, so the URLs in the pictures do not change between runs: a server, and a closed port.
SERVER_PORT, CLOSED_PORT = 18517, 18518


async def shown(pilot, screen_name: str, selector: str):
    """Wait for a screen to be on top and composed; the widget `selector` names in it."""
    await until(
        pilot,
        lambda: (
            type(pilot.app.screen).__name__ == screen_name
            and bool(pilot.app.screen.query(selector))
        ),
    )
    return pilot.app.screen.query_one(selector)


pytestmark = pytest.mark.usefixtures("fixed_machine")


async def steady(pilot) -> None:
    """Cursors that do not blink, and everything rendered: a table that got rows fits its columns
    to them on a later refresh than the one that drew the rows (seen under load), so two."""
    await until(pilot, lambda: fits_found(pilot.app), "the Fits here column")
    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, (Input, TextArea)):
            widget.cursor_blink = False
    await pilot.pause()
    await pilot.pause()
    await pilot.pause()  # a table that grew in the last frame is measured again in the next


@pytest.fixture
def home(tmp_path, monkeypatch):
    """The test's folder as the home folder, so model folders show as `~/...`."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def add_model_folder(folder) -> None:
    file = app_paths().settings_file
    settings = load_settings(file)
    save_settings(replace(settings, model_dirs=(*settings.model_dirs, str(folder))), file)


@pytest.fixture
def server_on_a_fixed_port():
    try:
        server = FaultServer(port=SERVER_PORT)
    except OSError:
        pytest.skip(f"port {SERVER_PORT} is in use on this machine")
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", CLOSED_PORT)) == 0:
            server.close()
            pytest.skip(f"something listens on port {CLOSED_PORT}")
    with server:
        yield server


def test_my_models(snap_compare, catalogue, home, tiny_gguf, server_on_a_fixed_port):
    (home / "models" / "chat").mkdir(parents=True)
    tiny_gguf(["Alpha"], name="models/alpha-7b.Q4_K_M.gguf")
    tiny_gguf(["Beta", " two"], name="models/beta-3b.Q8_0.gguf")
    tiny_gguf(["Gamma", " three", " pieces"], name="models/chat/gamma-1b.Q5_K_S.gguf")
    add_model_folder(home / "models")
    endpoints.add_endpoint(AppContext.load(), Endpoint("lab", f"http://127.0.0.1:{SERVER_PORT}/v1"))
    endpoints.add_endpoint(AppContext.load(), Endpoint("gpu-box", f"http://127.0.0.1:{CLOSED_PORT}/v1"))

    async def run_before(pilot) -> None:
        await pilot.press("3")
        library = await shown(pilot, "ModelsScreen", "#library")
        remote = pilot.app.screen.query_one("#remote", DataTable)
        await until(pilot, lambda: library.row_count == 3 and remote.row_count == 9)
        await steady(pilot)

    assert snap_compare(LlmTui(catalogue), terminal_size=SIZE, run_before=run_before)


def test_quant_picker(snap_compare, catalogue, fake_hub, tiny_gguf, smollm2):
    tiny = tiny_gguf(["x"], name="t.gguf")
    fake_hub.add_repo("TheBloke/phi-2-GGUF", {
        "phi-2.Q2_K.gguf": tiny, "phi-2.Q4_K_M.gguf": smollm2, "phi-2.Q8_0.gguf": tiny,
    })  # fmt: skip

    async def run_before(pilot) -> None:
        pilot.app.open_job("models", "microsoft/phi-2")
        files = await shown(pilot, "QuantPicker", "#files")
        await until(pilot, lambda: files.row_count == 3)
        await steady(pilot)

    assert snap_compare(LlmTui(catalogue), terminal_size=SIZE, run_before=run_before)


def stored_comparison() -> int:
    """A finished local-versus-remote comparison, saved as the compare screen saves one."""
    from tui.core.compare.store import CompareStore

    config = CompareConfig(
        models=(ModelChoice("~/models/alpha-7b.Q4_K_M.gguf"), ModelChoice("lab#tiny")),
        prompts=(Prompt("Name three colours of the rainbow.", id="prompt"),),
        system_prompt="Answer briefly.",
        sampling=SamplingOptions(temperature=0.0, max_tokens=64, seed=42),
    )
    columns = [
        Column(0, "~/models/alpha-7b.Q4_K_M.gguf", "A", "done", label="alpha-7b.Q4_K_M",
               load_seconds=1.25, threads=2, peak_rss=5_100_000_000),
        Column(1, "lab#tiny", "B", "done", label="tiny @ lab",
               location="http://127.0.0.1:8080/v1#tiny", load_seconds=0.04),
    ]  # fmt: skip
    stats = [
        AnswerStats(18, 9, 0.42, 1.6, 2.02, 27, 4096),
        AnswerStats(18, 12, 0.08, 0.22, 0.3, 30, 4096),
    ]
    answers = ["Red, **green** and blue.", "Violet, indigo and `orange`; [bold]not markup[/]."]
    cells = [Cell(0, i, "done", answers[i], stats[i]) for i in (0, 1)]
    result = ComparisonResult(
        config, columns, cells, mode="parallel", created="2024-05-01T10:00:00",
        finished="2024-05-01T10:00:03", llama_cpp_version="0.3.36",
    )  # fmt: skip
    return CompareStore(app_paths().database).save(result)


def test_compare_reopened_from_the_store(snap_compare, catalogue):
    run_id = stored_comparison()

    async def run_before(pilot) -> None:
        await pilot.press("5")
        await shown(pilot, "CompareScreen", "#prompt")
        screen = pilot.app.screen
        await pilot.press("f3")  # the saved comparisons
        await shown(pilot, "HistoryScreen", "#history-list")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                pilot.app.screen is screen
                and screen.result is not None
                and screen.result.id == run_id
                and "Violet" in screen.query_one("#column-1 .column-answer").source
            ),
        )
        await steady(pilot)

    assert snap_compare(LlmTui(catalogue), terminal_size=SIZE, run_before=run_before)


def save_two_endpoints() -> None:
    gpu_box = Endpoint("gpu-box", "http://gpu-box:8080", api_key_env="GPU_BOX_KEY")
    endpoints.add_endpoint(AppContext.load(), gpu_box)
    endpoints.add_endpoint(AppContext.load(), Endpoint("lab", "https://lab.example/v1", use_keyring=True))


def test_endpoints_screen(snap_compare, catalogue):
    save_two_endpoints()

    async def run_before(pilot) -> None:
        from tui.ui.endpoints.screen import EndpointsScreen

        # The browse screen behind lays out its fit while it is on top (a screen under a modal may
        # draw it a frame late), then the endpoints are pushed directly: My models (where "e" opens
        # them) would ask these made-up hosts' DNS.
        await until(pilot, lambda: fits_found(pilot.app), "the Fits here column")
        await pilot.pause()
        pilot.app.push_screen(EndpointsScreen())
        table = await shown(pilot, "EndpointsScreen", "#endpoints")
        await until(pilot, lambda: table.row_count == 2)
        await steady(pilot)

    assert snap_compare(LlmTui(catalogue), terminal_size=SIZE, run_before=run_before)


def test_endpoint_form(snap_compare, catalogue):
    save_two_endpoints()

    async def run_before(pilot) -> None:
        from tui.ui.endpoints.screen import EndpointsScreen

        # The browse screen behind lays out its fit while it is on top (a screen under a modal may
        # draw it a frame late), then the endpoints are pushed directly: My models (where "e" opens
        # them) would ask these made-up hosts' DNS.
        await until(pilot, lambda: fits_found(pilot.app), "the Fits here column")
        await pilot.pause()
        pilot.app.push_screen(EndpointsScreen())
        table = await shown(pilot, "EndpointsScreen", "#endpoints")
        await until(pilot, lambda: table.row_count == 2)
        await pilot.press("e")  # edit the first one
        await shown(pilot, "EndpointForm", "#url")
        await steady(pilot)

    assert snap_compare(LlmTui(catalogue), terminal_size=SIZE, run_before=run_before)
