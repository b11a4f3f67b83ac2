"""Endpoints: saved in the settings, keys from env vars or the keyring, tested, listed; the UI."""

from __future__ import annotations

import sys
import types

import pytest
from textual.app import App
from textual.widgets import Checkbox, DataTable, Input, Static

from tests.faultserver import MODELS, FaultServer, free_port
from tui.core.config import endpoints
from tui.core.config.context import AppContext
from tui.core.config.paths import app_paths
from tui.core.config.settings import Endpoint, Settings, load_settings
from tui.core.engine.base import EngineError
from tui.core.engine.remote import endpoint_api_key, open_remote
from tui.ui.endpoints.screen import EndpointForm, EndpointsScreen

KEY = "sk-endpoint-test-5d1e77"


@pytest.fixture()
def fault():
    with FaultServer(extra_models=("[bold]x[/]\x1b[2J",)) as server:
        yield server


@pytest.fixture()
def keyed():
    with FaultServer(api_key=KEY) as server:
        yield server


class FakeKeyring(types.ModuleType):
    """The OS keyring is an edge this machine has none of: an in-memory one with keyring's API."""

    def __init__(self) -> None:
        super().__init__("keyring")
        self.store: dict[tuple[str, str], str] = {}
        self.errors = types.ModuleType("keyring.errors")
        self.errors.KeyringError = type("KeyringError", (Exception,), {})

    def get_password(self, service: str, user: str) -> str | None:
        return self.store.get((service, user))

    def set_password(self, service: str, user: str, key: str) -> None:
        self.store[(service, user)] = key

    def delete_password(self, service: str, user: str) -> None:
        del self.store[(service, user)]


@pytest.fixture()
def keyring(monkeypatch) -> FakeKeyring:
    fake = FakeKeyring()
    monkeypatch.setitem(sys.modules, "keyring", fake)
    monkeypatch.setitem(sys.modules, "keyring.errors", fake.errors)
    return fake


def saved() -> Settings:
    return load_settings(app_paths().settings_file)


# -- core ------------------------------------------------------------------------------------------


def test_add_edit_remove_persist_in_the_settings_file():
    endpoints.add_endpoint(AppContext.load(), Endpoint("gpu-box", "http://gpu-box:8080"))
    lab = Endpoint("lab", "https://lab.example/v1", api_key_env="LAB_KEY")
    endpoints.add_endpoint(AppContext.load(), lab)
    assert [(e.name, e.url) for e in saved().endpoints] == [
        ("gpu-box", "http://gpu-box:8080/v1"),  # normalised
        ("lab", "https://lab.example/v1"),
    ]
    endpoints.edit_endpoint(AppContext.load(), "gpu-box", Endpoint("gpu", "http://gpu-box:9000/v1"))
    assert [e.name for e in saved().endpoints] == ["gpu", "lab"]  # renamed in place
    assert saved().endpoint("gpu").url == "http://gpu-box:9000/v1"
    endpoints.remove_endpoint(AppContext.load(), "lab")
    assert [e.name for e in saved().endpoints] == ["gpu"]


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (Endpoint("has space", "http://h/v1"), "letters, digits"),
        (Endpoint("a#b", "http://h/v1"), "letters, digits"),
        (Endpoint("ok", "gpu-box:8080"), "not a server URL"),
        (Endpoint("ok", "http://h/v1", api_key_env="NOT-A-VAR"), "not an environment variable"),
    ],
)
def test_bad_endpoints_are_refused_with_a_reason(endpoint, message):
    with pytest.raises(endpoints.EndpointError, match=message):
        endpoints.add_endpoint(AppContext.load(), endpoint)
    assert saved().endpoints == ()


def test_names_are_unique_and_unknown_names_list_the_known():
    endpoints.add_endpoint(AppContext.load(), Endpoint("gpu-box", "http://gpu-box:8080/v1"))
    with pytest.raises(endpoints.EndpointError, match="already exists"):
        endpoints.add_endpoint(AppContext.load(), Endpoint("gpu-box", "http://other:8080/v1"))
    endpoints.add_endpoint(AppContext.load(), Endpoint("lab", "http://lab:8080/v1"))
    with pytest.raises(endpoints.EndpointError, match="already exists"):
        endpoints.edit_endpoint(AppContext.load(), "lab", Endpoint("gpu-box", "http://lab:8080/v1"))
    with pytest.raises(
        endpoints.EndpointError, match=r"no endpoint named 'x' \(endpoints: gpu-box, lab\)"
    ):
        endpoints.remove_endpoint(AppContext.load(), "x")


def test_test_endpoint_lists_models_or_says_what_is_wrong(fault):
    assert endpoints.test_endpoint(Endpoint("f", fault.url))[: len(MODELS)] == list(MODELS)
    with pytest.raises(EngineError, match="refused"):
        endpoints.test_endpoint(Endpoint("down", f"http://127.0.0.1:{free_port()}/v1"))


def test_remote_models_labels_models_with_their_endpoint_and_skips_a_down_server(fault):
    up = Endpoint("up", fault.url)
    down = Endpoint("down", f"http://127.0.0.1:{free_port()}/v1")
    failures = []
    found = endpoints.remote_models(
        Settings(endpoints=(down, up)), lambda e, err: failures.append((e, err))
    )
    assert found[:2] == [(up, "ok"), (up, "flaky")] and all(e == up for e, _ in found)
    assert [(e.name, err.kind) for e, err in failures] == [("down", "network")]
    assert endpoints.remote_spec(up, "ok") == "up#ok"


def test_keyring_keys_are_stored_moved_and_deleted_with_the_endpoint(keyed, keyring):
    endpoints.store_key("vault", KEY)
    endpoints.add_endpoint(AppContext.load(), Endpoint("vault", keyed.url, use_keyring=True))
    assert KEY not in app_paths().settings_file.read_text()
    backend = open_remote("vault#ok", saved())
    assert backend.load().name == "ok"  # the key from the keyring was accepted
    endpoints.edit_endpoint(AppContext.load(), "vault", Endpoint("safe", keyed.url, use_keyring=True))
    assert keyring.store == {("llmtui", "safe"): KEY}
    assert endpoint_api_key(saved().endpoint("safe")) == KEY
    endpoints.remove_endpoint(AppContext.load(), "safe")
    assert keyring.store == {}


def test_env_var_wins_over_the_keyring(keyring, monkeypatch):
    keyring.set_password("llmtui", "both", "from-keyring")
    monkeypatch.setenv("BOTH_KEY", "from-env")
    endpoint = Endpoint("both", "http://h/v1", api_key_env="BOTH_KEY", use_keyring=True)
    assert endpoint_api_key(endpoint) == "from-env"
    monkeypatch.delenv("BOTH_KEY")
    assert endpoint_api_key(endpoint) == "from-keyring"


def test_storing_a_key_without_the_keyring_package_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)
    with pytest.raises(endpoints.EndpointError, match="keyring package is not installed"):
        endpoints.store_key("vault", KEY)


# -- UI --------------------------------------------------------------------------------------------


class Host(App):
    """The lead binds the screen into the app; here it is shown on its own."""

    def __init__(self) -> None:
        super().__init__()
        self.context = AppContext.load()

    def on_mount(self) -> None:
        self.push_screen(EndpointsScreen())


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def result_text(app: App, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def fill(pilot, **values: str) -> None:
    for field, value in values.items():
        widget = pilot.app.screen.query_one(f"#{field}", Input)
        widget.value = value
    await pilot.pause()


async def test_add_an_endpoint_in_the_ui_saves_and_tests_it(fault):
    app = Host()
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press("a")
        assert isinstance(app.screen, EndpointForm)
        await fill(
            pilot, name="fault", url=f"http://127.0.0.1:{fault.port}", **{"key-env": "FAULT_KEY"}
        )
        await pilot.click("#save")
        await settle(pilot)
        assert isinstance(app.screen, EndpointsScreen)
        assert saved().endpoints == (Endpoint("fault", fault.url, api_key_env="FAULT_KEY"),)
        table = app.screen.query_one(DataTable)
        assert [str(c) for c in table.get_row_at(0)] == ["fault", fault.url, "$FAULT_KEY"]
        shown = result_text(app, "#endpoint-result")
        assert "fault#ok" in shown and "fault#stall" in shown
        # A hostile model name is shown as text, without its escape sequence.
        assert "[bold]x[/]" in shown and "\x1b" not in shown


async def test_edit_test_and_remove_in_the_ui(fault):
    endpoints.add_endpoint(AppContext.load(), Endpoint("down", f"http://127.0.0.1:{free_port()}/v1"))
    app = Host()
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press("t")
        await settle(pilot)
        assert "connection refused" in result_text(app, "#endpoint-result")
        await pilot.press("e")
        await fill(pilot, url=fault.url)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert saved().endpoint("down").url == fault.url
        assert "down#ok" in result_text(app, "#endpoint-result")
        await pilot.press("d")
        assert saved().endpoints  # one press only arms it
        await pilot.press("d")
        assert saved().endpoints == ()
        assert app.screen.query_one(DataTable).row_count == 0


async def test_a_key_typed_in_the_form_goes_to_the_keyring_and_is_never_shown(keyed, keyring):
    app = Host()
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press("a")
        form = app.screen
        form.query_one("#use-keyring", Checkbox).value = True
        await fill(pilot, name="vault", url=keyed.url, key=KEY)
        await pilot.click("#test")
        await settle(pilot)
        assert "vault#ok" in result_text(app, "#form-result")  # tested with the typed key
        assert KEY not in app.export_screenshot()
        await pilot.click("#save")
        await settle(pilot)
        assert keyring.store == {("llmtui", "vault"): KEY}
        assert "vault#ok" in result_text(app, "#endpoint-result")
    assert KEY not in app_paths().settings_file.read_text()


async def test_keyring_missing_in_the_form_is_explained_and_nothing_saved(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)
    app = Host()
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press("a")
        app.screen.query_one("#use-keyring", Checkbox).value = True
        await fill(pilot, name="vault", url="http://127.0.0.1:9/v1", key=KEY)
        await pilot.click("#save")
        await pilot.pause()
        assert isinstance(app.screen, EndpointForm)
        assert "keyring package is not installed" in result_text(app, "#form-result")
    assert saved().endpoints == ()


async def test_renaming_with_a_new_key_keeps_the_new_key(keyed, keyring):
    keyring.set_password("llmtui", "vault", "sk-old")
    endpoints.add_endpoint(AppContext.load(), Endpoint("vault", keyed.url, use_keyring=True))
    app = Host()
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press("e")
        await fill(pilot, name="safe", key=KEY)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "safe#ok" in result_text(app, "#endpoint-result")
    assert keyring.store == {("llmtui", "safe"): KEY}
