"""Any worker's failure becomes a visible error (tui/ui/common/workers.py), and the app keeps running.

Every `@work` method in `tui.ui` is found by introspection; a failure is injected into each, on a
live node of its class, and must come back as a notification."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from textual import work
from textual.dom import DOMNode

import tui.ui
from tests.pilot import until
from tui.ui.app import LlmTui
from tui.ui.common.workers import ReportsWorkerFailures

WORK_FILE = inspect.getfile(work)


def work_methods() -> dict[type, list[str]]:
    """Each class of tui.ui (and the methods) that starts workers with `@work`."""
    found: dict[type, list[str]] = {}
    root = Path(tui.ui.__file__).parent
    for path in sorted(root.rglob("*.py")):  # some view folders are namespace packages
        name = ".".join(("tui", "ui", *path.relative_to(root).with_suffix("").parts))
        for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if not cls.__module__.startswith("tui.ui"):
                continue
            names = [
                name
                for name, value in vars(cls).items()
                if inspect.isfunction(value)
                and value.__code__.co_filename == WORK_FILE
                and hasattr(value, "__wrapped__")
            ]
            if names:
                found[cls] = names
    return found


def test_every_class_with_workers_reports_their_failures():
    found = work_methods()
    assert len(found) >= 8  # the app, its screens, the pickers and the endpoint dialogs
    missing = [cls.__qualname__ for cls in found if not issubclass(cls, ReportsWorkerFailures)]
    assert missing == []


def nodes(app) -> list[DOMNode]:
    return [app, *app.screen.walk_children(with_self=True)]


async def test_a_failure_injected_into_every_worker_is_shown(catalogue, monkeypatch):
    from tui.ui.download.screen import QuantPicker
    from tui.ui.endpoints.screen import EndpointForm, EndpointsScreen

    found = work_methods()
    # Each worker class's methods, with its own decorator options, replaced by one that fails.
    for cls, names in found.items():
        for name in names:
            def fail(self, *args, _where=f"{cls.__qualname__}.{name}", **kwargs):
                raise RuntimeError(f"injected [bold]{_where}")

            monkeypatch.setattr(cls, name, work(thread=True, exit_on_error=False)(fail))
    injected: set[str] = set()

    async def inject_into_what_is_shown(pilot) -> None:
        for node in nodes(pilot.app):
            for cls, names in found.items():
                if not isinstance(node, cls):
                    continue
                for name in names:
                    where = f"{cls.__qualname__}.{name}"
                    if where in injected:
                        continue
                    getattr(node, name)()
                    await until(
                        pilot,
                        lambda where=where: any(f"unexpected error: injected [bold]{where}" == str(n.message)
                                    for n in pilot.app._notifications),  # fmt: skip
                        f"{where}'s failure shown",
                    )
                    injected.add(where)

    model_id = catalogue.models[0].id
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        for mode in ("browse", "leaderboards", "models", "chat", "compare"):
            await pilot.app.switch_mode(mode)
            await pilot.pause()
            await inject_into_what_is_shown(pilot)
        for dialog in (QuantPicker(model_id), EndpointsScreen(), EndpointForm(None)):
            await pilot.app.push_screen(dialog)
            await pilot.pause()
            await inject_into_what_is_shown(pilot)
            pilot.app.pop_screen()
        assert pilot.app.is_running
        everything = {f"{cls.__qualname__}.{name}" for cls, names in found.items() for name in names}
        assert everything - injected == set()


async def test_a_bug_while_a_chat_model_loads_leaves_loading(catalogue, fake_backends):
    from tests.fakebackend import FakeBackend
    from tui.ui.chat.screen import ChatScreen

    fake_backends["buggy"] = FakeBackend(load_error=RuntimeError("a bug [bold]here"))
    fake_backends["fine"] = FakeBackend([["Fine"]], label="fine")
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        pilot.app.open_job("chat", "buggy")
        await until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen), "chat screen")
        screen = pilot.app.screen
        await until(pilot, lambda: screen.last_error is not None, "the failure reached the screen")
        bar = screen.query_one("#model-bar")
        assert "loading" not in str(bar.render()) and "a bug [bold]here" in str(bar.render())
        assert any("unexpected error: a bug [bold]here" == str(n.message)
                   for n in pilot.app._notifications)  # fmt: skip
        screen.open_model("fine")  # the screen still works
        await until(pilot, lambda: screen.info is not None, "another model loaded")
        assert screen.info.name == "fine"
