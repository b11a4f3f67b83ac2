"""Endpoints: the OpenAI-compatible servers chat and compare can use: add, edit, test, remove.

`EndpointsScreen` lists the saved endpoints and the models the selected one offers (asked for in a
thread worker, so a slow server never blocks the UI). `EndpointForm` edits one; an API key typed
there goes to the OS keyring and is never shown (the input is a password field) or written to the
settings file. Server text (model names, errors) is untrusted: cleaned and rendered as plain
`Content`/`Text`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Static

from tui.core.config import endpoints as core
from tui.core.config.settings import Endpoint, Settings, SettingsError
from tui.core.engine.base import EngineError
from tui.core.storage import StorageError
from tui.core.text import clean, one_line
from tui.ui.common.workers import ReportsWorkerFailures


@dataclass
class EndpointTested(Message):
    """A test finished: the models, or the error a user can act on."""

    endpoint: Endpoint
    models: list[str] | None
    error: str = ""


def test_report(message: EndpointTested) -> Content:
    """What a test says, as plain content (server text is never markup)."""
    name = message.endpoint.name or message.endpoint.url
    if message.models is None:
        return Content.assemble(
            (f"{one_line(name)}: ", "bold"), (clean(message.error), "$text-error")
        )
    lines = [
        Content.styled(f"{one_line(name)}: {len(message.models)} model(s)", "bold $text-success")
    ]
    lines += [
        Content(one_line(f"  {core.remote_spec(message.endpoint, m)}", 200)) for m in message.models
    ]
    return Content("\n").join(lines)


class _Tester(ReportsWorkerFailures):
    """Mixin: test an endpoint in a thread worker; its `EndpointTested` shows in `RESULT`."""

    RESULT: str  # the Static that shows results and errors

    @work(thread=True, exclusive=True, group="endpoint-test", exit_on_error=False)
    def start_test(self, endpoint: Endpoint, api_key: str | None = None) -> None:
        try:
            models = core.test_endpoint(endpoint, api_key)
        except (EngineError, core.EndpointError) as error:
            self.post_message(EndpointTested(endpoint, None, str(error)))  # type: ignore[attr-defined]
        else:
            self.post_message(EndpointTested(endpoint, models))  # type: ignore[attr-defined]

    def on_endpoint_tested(self, message: EndpointTested) -> None:
        self._show(test_report(message))

    def _show(self, content: Content) -> None:
        self.query_one(self.RESULT, Static).update(content)  # type: ignore[attr-defined]

    def _show_error(self, error: Exception) -> None:
        self._show(Content.styled(one_line(str(error), 300), "$text-error"))


class EndpointForm(_Tester, ModalScreen[Endpoint | None]):
    """Add or edit one endpoint; dismisses with the saved endpoint, or None when cancelled."""

    CSS_PATH = "endpoints.tcss"
    HELP_TITLE = "Endpoint"
    RESULT = "#form-result"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="endpoint_form.cancel"),
        Binding("ctrl+t", "test", "Test", id="endpoint_form.test"),
        Binding("ctrl+s", "save", "Save", id="endpoint_form.save"),
    ]

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        super().__init__()
        self.original = endpoint  # None: adding

    def compose(self) -> ComposeResult:
        e = self.original or Endpoint("", "")
        with Vertical(id="endpoint-form") as form:
            form.border_title = "Edit endpoint" if self.original else "Add endpoint"
            form.border_subtitle = "ctrl+s save · ctrl+t test · escape cancel"
            yield Label("Name (used as NAME#MODEL)")
            yield Input(e.name, placeholder="gpu-box", id="name")
            yield Label("Base URL")
            yield Input(e.url, placeholder="http://gpu-box:8080/v1", id="url")
            yield Label("API key from environment variable (optional)")
            yield Input(e.api_key_env, placeholder="GPU_BOX_API_KEY", id="key-env")
            yield Checkbox("Keep the API key in the OS keyring", e.use_keyring, id="use-keyring")
            yield Input(
                placeholder="API key for the keyring (left empty: keep the stored one)",
                password=True,
                id="key",
            )
            with Horizontal(id="form-buttons"):
                yield Button("Test", id="test")
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")
            yield Static(id="form-result")

    def on_mount(self) -> None:
        self._sync_key_input()

    @on(Checkbox.Changed, "#use-keyring")
    def _sync_key_input(self) -> None:
        self.query_one("#key", Input).disabled = not self.query_one("#use-keyring", Checkbox).value

    def endpoint(self) -> Endpoint:
        return Endpoint(
            name=self.query_one("#name", Input).value.strip(),
            url=self.query_one("#url", Input).value.strip(),
            api_key_env=self.query_one("#key-env", Input).value.strip(),
            use_keyring=self.query_one("#use-keyring", Checkbox).value,
        )

    def _typed_key(self) -> str | None:
        key = self.query_one("#key", Input)
        return None if key.disabled else (key.value or None)

    @on(Button.Pressed, "#test")
    def action_test(self) -> None:
        endpoint = self.endpoint()
        self._show(Content(f"testing {one_line(endpoint.url)} ..."))
        self.start_test(endpoint, self._typed_key())

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        endpoint = self.endpoint()
        key = self._typed_key()
        context = self.app.context
        try:
            if self.original is None:
                core.validated(endpoint)  # before a keyring entry is written for a bad one
                if context.checked_settings().endpoint(endpoint.name) is not None:
                    raise core.EndpointError(f"an endpoint named {endpoint.name!r} already exists")
                if key:
                    core.store_key(endpoint.name, key)
                core.add_endpoint(context, endpoint)
            else:
                # Saved first: a rename moves the stored key, which must not replace the new one.
                core.edit_endpoint(context, self.original.name, endpoint)
                if key:
                    core.store_key(endpoint.name, key)
        except (core.EndpointError, SettingsError, StorageError) as error:
            self._show_error(error)
            return
        self.dismiss(core.validated(endpoint))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class EndpointsScreen(_Tester, ModalScreen[None]):
    """The saved endpoints, and the models the selected one offers."""

    CSS_PATH = "endpoints.tcss"
    HELP_TITLE = "Endpoints"
    RESULT = "#endpoint-result"
    BINDINGS = [
        Binding("a", "add", "Add", id="endpoints.add"),
        Binding("e", "edit", "Edit", id="endpoints.edit"),
        Binding("t", "test", "Test", id="endpoints.test"),
        Binding("d", "remove", "Remove", tooltip="press twice to remove", id="endpoints.remove"),
        Binding("escape", "dismiss", "Close", id="endpoints.close"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.settings = Settings()
        self._remove_armed: str | None = None  # the endpoint a first "d" pointed at

    def compose(self) -> ComposeResult:
        with Vertical(id="endpoints-box") as box:
            box.border_title = "Endpoints: OpenAI-compatible servers"
            box.border_subtitle = "a add · e edit · t test · d remove · escape close"
            yield DataTable(cursor_type="row", id="endpoints")
            with VerticalScroll(id="endpoint-models"):
                yield Static(id="endpoint-result")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Name", "URL", "API key")
        self.reload()

    def reload(self, select: str | None = None) -> None:
        try:
            self.settings = self.app.context.checked_settings()
        except SettingsError as error:
            self._show_error(error)
            return
        table = self.query_one(DataTable)
        table.clear()
        for endpoint in self.settings.endpoints:
            table.add_row(
                Text(endpoint.name),
                Text(one_line(endpoint.url, 80)),
                Text(_key_summary(endpoint)),
                key=endpoint.name,
            )
        if not self.settings.endpoints:
            self._show(
                Content("No endpoints yet: press a to add one (e.g. http://gpu-box:8080/v1).")
            )
        elif select is not None:
            table.move_cursor(row=table.get_row_index(select))

    def selected(self) -> Endpoint | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.settings.endpoint(key or "")

    def action_add(self) -> None:
        self.app.push_screen(EndpointForm(None), self._saved)

    def action_edit(self) -> None:
        if (endpoint := self.selected()) is not None:
            self.app.push_screen(EndpointForm(endpoint), self._saved)

    def _saved(self, endpoint: Endpoint | None) -> None:
        if endpoint is not None:
            self.reload(select=endpoint.name)
            self.action_test()

    def action_test(self) -> None:
        if (endpoint := self.selected()) is not None:
            self._show(Content(f"testing {endpoint.name} ..."))
            self.start_test(endpoint)

    def action_remove(self) -> None:
        endpoint = self.selected()
        if endpoint is None:
            return
        if self._remove_armed != endpoint.name:
            self._remove_armed = endpoint.name
            self._show(Content.styled(f"press d again to remove {endpoint.name}", "$text-warning"))
            return
        self._remove_armed = None
        try:
            core.remove_endpoint(self.app.context, endpoint.name)
        except (core.EndpointError, SettingsError, StorageError) as error:
            self._show_error(error)
            return
        self.reload()
        self.notify(f"removed endpoint {endpoint.name}", markup=False)

    def on_data_table_row_highlighted(self) -> None:
        self._remove_armed = None


def _key_summary(endpoint: Endpoint) -> str:
    """Where the key comes from, never the key."""
    sources = []
    if endpoint.api_key_env:
        sources.append(f"${endpoint.api_key_env}")
    if endpoint.use_keyring:
        sources.append("keyring")
    return " or ".join(sources) or "none"
