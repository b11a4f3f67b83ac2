"""Remote models in the UI, driven with Pilot against llama-cpp-python's real server on loopback:
listed in My models as `model @ endpoint`, opened in chat, compared side by side with a local GGUF;
an endpoint that refuses connections shows as down while the app keeps running."""
# ruff: noqa: F811 - the session fixture imported from tests.test_remote

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import DataTable, Static

from tests.conftest import TINY
from tests.faultserver import free_port
from tests.pilot import until
from tui.core.config import endpoints
from tui.core.config.context import AppContext
from tui.core.config.paths import app_paths
from tui.core.config.settings import Endpoint, load_settings, save_settings
from tui.core.text import clean
from tui.ui.app import LlmTui
from tui.ui.chat.screen import ChatScreen
from tui.ui.chat.widgets import MessageView
from tui.ui.common.model_select import ModelSelect
from tui.ui.compare.screen import CompareScreen, ModelColumn
from tui.ui.download.screen import ModelsScreen
from tui.ui.endpoints.screen import EndpointForm, EndpointsScreen


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def text_of(widget: Static) -> str:
    return str(widget.render())


async def my_models(pilot) -> ModelsScreen:
    await pilot.press("3")
    await until(pilot, lambda: isinstance(pilot.app.screen, ModelsScreen), "My models shown")
    return pilot.app.screen


def add_model_folder(folder) -> None:
    file = app_paths().settings_file
    settings = load_settings(file)
    save_settings(replace(settings, model_dirs=(*settings.model_dirs, str(folder))), file)


@pytest.mark.inference
async def test_my_models_lists_remote_models_and_chats_with_one(catalogue, llama_server):
    down_port = free_port()  # nothing listens there: connection refused
    endpoints.add_endpoint(AppContext.load(), Endpoint("lab", llama_server))
    endpoints.add_endpoint(AppContext.load(), Endpoint("down", f"http://127.0.0.1:{down_port}/v1"))
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await my_models(pilot)
        remote = screen.query_one("#remote", DataTable)
        await until(pilot, lambda: remote.row_count == 3, "the servers answered")
        # Each model labelled with its endpoint; the endpoint that is down says why, in its place.
        assert [r[0] for r in rows(remote)] == ["tiny @ lab", "smollm2 @ lab", "— @ down"]
        assert rows(remote)[0][1:] == [llama_server, "ready"]
        assert rows(remote)[2][2].startswith(f"down: connection refused by 127.0.0.1:{down_port}")
        assert text_of(screen.query_one("#remote-title")) == "On servers: 2 models; down: down"

        remote.focus()
        await pilot.press("enter")  # tiny @ lab
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "chat opened")
        chat = app.screen
        await until(pilot, lambda: chat.info is not None or chat.last_error, "model loaded")
        assert chat.session.spec == "lab#tiny" and chat.last_error is None
        assert chat.session.backend.label == "tiny @ lab"
        chat.query_one("#chat-input").load_text("Say it")
        chat.query_one("#chat-input").focus()
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                not chat.answering
                and [v.role for v in chat.query(MessageView)] == ["user", "assistant"]
            ),
            "answer finished",
        )
        assert chat.query(MessageView).last().text == "".join(TINY)
        stored = chat.store.get(chat.session.conversation.id)
        assert [(m.role, m.content) for m in stored.messages] == [
            ("user", "Say it"),
            ("assistant", "".join(TINY)),  # the tiny model's exact answer, through the server
        ]


async def test_an_endpoint_that_refuses_connections_shows_as_down(catalogue):
    port = free_port()
    endpoints.add_endpoint(AppContext.load(), Endpoint("gone", f"http://127.0.0.1:{port}/v1"))
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await my_models(pilot)
        remote = screen.query_one("#remote", DataTable)
        await until(pilot, lambda: remote.row_count == 1, "the endpoint's state shown")
        (row,) = rows(remote)
        assert row[0] == "— @ gone" and "connection refused" in row[2]
        remote.focus()
        await pilot.press("enter")  # nothing to open: a notification, not a crash
        await pilot.pause()
        assert app.screen is screen and app.is_running
        assert any("connection refused" in n.message for n in app._notifications)


async def test_endpoints_screen_from_my_models_and_the_list_follows_changes(catalogue):
    from tests.faultserver import FaultServer

    with FaultServer(extra_models=("[bold]x[/]\x1b[2J",)) as fault:
        app = LlmTui(catalogue)
        async with app.run_test(size=(140, 45)) as pilot:
            screen = await my_models(pilot)
            remote = screen.query_one("#remote", DataTable)
            assert not remote.display
            assert "none yet. Press e" in text_of(screen.query_one("#remote-title"))
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, EndpointsScreen), "endpoints shown")
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, EndpointForm), "form shown")
            form = app.screen
            form.query_one("#name").value = "fault"
            form.query_one("#url").value = f"http://127.0.0.1:{fault.port}"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, EndpointsScreen), "saved")
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen, "back in My models")
            await until(pilot, lambda: remote.row_count > 0, "the new endpoint's models listed")
            assert rows(remote)[0][:2] == ["ok @ fault", fault.url]
            # A hostile model name is shown as text: markup kept literally, the escape removed.
            assert rows(remote)[-1][0] == "[bold]x[/] @ fault"
            remote.focus()
            await pilot.press("m")  # add it to compare
            await until(pilot, lambda: isinstance(app.screen, CompareScreen), "compare shown")
            assert [c.spec for c in app.screen.choices] == ["fault#ok"]


@pytest.mark.inference
async def test_compare_a_local_gguf_with_a_remote_model(
    catalogue, llama_server, tiny_gguf, tmp_path
):
    (tmp_path / "models").mkdir()
    local = tiny_gguf(["Local", " answer"], name="models/local.gguf")
    add_model_folder(local.parent)
    endpoints.add_endpoint(AppContext.load(), Endpoint("lab", llama_server))
    app = LlmTui(catalogue)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), "compare shown")
        screen = app.screen
        # The picker offers the files here and every endpoint's models, labelled with it.
        picker = screen.query_one("#model-pick", ModelSelect)
        await until(pilot, lambda: len(picker.models) == 3, "the servers answered")
        assert picker.models == [
            (str(local), str(local)),  # a file is labelled with its path
            ("tiny @ lab", "lab#tiny"),
            ("smollm2 @ lab", "lab#smollm2"),
        ]
        for search in ("local.gguf", "tiny @ lab"):
            screen.query_one("#model-pick").focus()
            await pilot.press("enter", *search, "enter")
        await until(pilot, lambda: len(screen.choices) == 2, "both picked")
        assert [c.spec for c in screen.choices] == [str(local), "lab#tiny"]

        screen.query_one("#prompt").load_text("Say something")
        screen.query_one("#prompt").focus()
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.result is not None, "comparison started")
        result = screen.result
        await until(pilot, lambda: result.id is not None, "finished and saved")
        await pilot.pause()
        assert [c.state for c in result.columns] == ["done", "done"]
        assert [result.cell(0, i).answer for i in (0, 1)] == ["Local answer", "".join(TINY)]
        # The columns' Markdown is written by the screen's drain timer: wait for its next turn.
        expected = ["Local answer", clean("".join(TINY))]
        shown = lambda: [  # noqa: E731
            screen.query_one(f"#column-{i}", ModelColumn).markdown.source for i in (0, 1)
        ]
        await until(pilot, lambda: shown() == expected, "answers shown")
        title = text_of(screen.query_one("#column-1 .column-title"))
        assert "B · tiny @ lab" in title and "done" in title

        # A server that is not saved is typed as URL#MODEL.
        screen.query_one("#model-add").focus()
        await pilot.press(*f"{llama_server}#smollm2", "enter")
        assert [c.spec for c in screen.choices][-1] == f"{llama_server}#smollm2"


@pytest.mark.inference
async def test_chat_opens_a_model_picked_from_my_models_or_a_server(
    catalogue, llama_server, tiny_gguf, tmp_path
):
    from tui.ui.chat.screen import OpenModelScreen

    local = tiny_gguf(["Local", " answer"], name="local.gguf")
    add_model_folder(local.parent)
    endpoints.add_endpoint(AppContext.load(), Endpoint("lab", llama_server))
    app = LlmTui(catalogue)
    async with app.run_test(size=(140, 45)) as pilot:
        app.open_job("chat", str(local))
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "chat shown")
        chat = app.screen
        await until(pilot, lambda: chat.info is not None, "local model loaded")
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, OpenModelScreen), "picker shown")
        picker = app.screen.query_one(ModelSelect)
        expected = {str(local), "lab#tiny", "lab#smollm2"}
        await until(pilot, lambda: {s for _, s in picker.models} == expected, "all listed")
        picker.focus()
        await pilot.press("enter", *"tiny @ lab", "enter")
        await until(pilot, lambda: app.screen is chat and chat.session.spec == "lab#tiny", "picked")
        await until(pilot, lambda: chat.info is not None, "remote model loaded")
        assert chat.session.backend.label == "tiny @ lab"
