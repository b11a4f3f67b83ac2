"""My models: the GGUF files on this machine, the downloads in flight, and the quant picker.

- `ModelsScreen` (mode "models"): local files with size, quant (and its `llmtui quant-check`
  result, where one is kept), model and last use, the total disk use; delete (with
  confirmation), open in chat or compare; the models of each saved endpoint
  (OpenAI-compatible servers, `model @ endpoint`; one that is down says so), and the Endpoints
  screen to add, edit, test and remove them; active downloads with progress, speed, ETA, state and
  retry reason; pause/resume and cancel. An offline banner when HF_HUB_OFFLINE is set.
- `QuantPicker` (a modal, from `open_model(model_id)` or the `d` key): the model's GGUF repository,
  every quant with size, bits per weight and a fit label for this machine, the recommended one
  marked, a downloaded one's quant-check result beside its name. `get_then_open` uses it for a
  job on a model not on this machine (`c`/`m` on a catalogue row, the chat's first-chat offer):
  the picker then stays, shows the download's progress, and the job opens with the file once it
  is verified.

All Hub, disk, header and server work runs in thread workers that post messages; names from the
Hub and from servers are shown as `Text`, never as markup.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Header, Input, Label, Select, Static

from tui.core.config import endpoints
from tui.core.config.settings import Endpoint, Settings, SettingsError
from tui.core.models import fit, gguf_header, hub, library, loadable
from tui.core.models.downloads import State, Status
from tui.core.models.gguf_header import GgufHeaderError, GgufInfo
from tui.core.models.loadable import LoadVerdict
from tui.core.storage import StorageError
from tui.core.text import one_line
from tui.ui.common.errors import show_error
from tui.ui.common.keys import KeyFooter
from tui.ui.common.workers import ReportsWorkerFailures

CONTEXTS = (2048, 4096, 8192, 16384, 32768)
STALLED_AFTER = 3.0  # seconds without a byte before a download shows as stalled


def _short_path(path: Path) -> str:
    """A folder as a user writes it: the home folder as `~`."""
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def _bar(fraction: float | None, width: int = 20) -> Text:
    if fraction is None:
        return Text("─" * width, style="dim")
    full = int(fraction * width)
    return Text.assemble(("█" * full, "green"), ("░" * (width - full), "dim"), f" {fraction:4.0%}")


def _quant_checks(app):
    from tui.core.engine.quant_check import QuantCheckStore

    return QuantCheckStore(app.context.paths.data_dir)


def _quant_cell(quant: str | None, check) -> str:
    """The quant, and its `llmtui quant-check` result where there is one."""
    return f"{quant or '?'}  {check.summary}" if check is not None else quant or "?"


_DIALOG_CSS = """
    align: center middle;
    #dialog, #picker { width: 90%; max-width: 120; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2; }
    #buttons { height: auto; margin-top: 1; }
    #buttons Button { margin-right: 2; }
"""


class Confirm(ModalScreen[bool]):
    DEFAULT_CSS = "Confirm {" + _DIALOG_CSS + "}"
    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel", id="confirm.cancel")]

    def __init__(self, question: Text, yes: str = "Delete") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            with Horizontal(id="buttons"):
                yield Button(self.yes, variant="error", id="yes")
                yield Button("Cancel", id="no")

    @on(Button.Pressed)
    def _on_answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class Ask(ModalScreen[str | None]):
    """One line of input (a model or repository id, a folder)."""

    DEFAULT_CSS = "Ask {" + _DIALOG_CSS + "}"
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="ask.cancel")]

    def __init__(self, prompt: str, placeholder: str) -> None:
        super().__init__()
        self.prompt = prompt
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt, markup=False)
            yield Input(placeholder=self.placeholder, id="answer")

    @on(Input.Submitted)
    def _on_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


# -- the quant picker ----------------------------------------------------------------------------


def get_then_open(app, model_id: str, mode: str) -> None:
    """The quant picker for a model that is not on this machine; once the chosen file is downloaded
    and verified, job `mode` ("chat", "compare") opens with it. Closed or cancelled: nothing
    changes."""

    def got(path: Path | None) -> None:
        if path is not None:
            app.open_job(mode, str(path))

    app.push_screen(QuantPicker(model_id, then=mode), got)


def status_cells(s: Status) -> tuple[Text, ...]:
    """A download as My models shows it: file, progress bar, size, speed, ETA, state."""
    size = fit.human_bytes(s.total) if s.total else "?"
    state = s.state.value
    if s.state == State.RETRYING and s.retry_in is not None:
        state += f" (again in {s.retry_in:.0f}s)"
    if s.message:
        state += f": {one_line(s.message, 160)}"
    style = {"failed": "red", "retrying": "yellow", "done": "green", "paused": "dim"}.get(s.state.value, "")
    speed = f"{fit.human_bytes(s.speed)}/s" if s.speed > 0 else ""
    eta = fit.human_duration(s.eta) if s.state == State.DOWNLOADING else ""
    stalled = s.stalled_for(time.monotonic())
    if stalled >= STALLED_AFTER:  # the last speed and ETA no longer say anything
        speed, eta = f"stalled {fit.human_duration(stalled)}", ""
    return (
        Text(one_line(s.request.filename, 60)),
        _bar(s.fraction),
        Text(size),
        Text(speed),
        Text(eta),
        Text(state, style=style),
    )


# what the job does with the file, for the picker's title
_THEN = {"chat": "to chat with it", "compare": "to compare it"}


class QuantPicker(ReportsWorkerFailures, ModalScreen[Path | None]):
    """Dismissed with the verified file's path when opened with `then` (the job that waits for the
    file), else with None once the download is queued (it goes on in My models)."""

    DEFAULT_CSS = (
        "QuantPicker {"
        + _DIALOG_CSS
        + """
        #title { text-style: bold; }
        #note { color: $warning; height: auto; }
        #repos { height: auto; max-height: 8; }
        #files { height: auto; max-height: 16; }
        #context-row { height: auto; }
        #context-row Label { padding: 1 1 0 0; }
        #context { width: 20; }
        #status { color: $text-muted; height: auto; }
        #progress { height: auto; }
    }"""
    )
    BINDINGS = [
        Binding("escape", "close", "Close", id="picker.close"),
        Binding("enter", "download", "Download", id="picker.download", priority=False),
    ]

    @dataclass
    class Found(Message):
        search: hub.RepoSearch | None
        error: str | None

    @dataclass
    class Loaded(Message):
        files: hub.RepoFiles | None
        header: GgufInfo | None
        machine: fit.Machine | None
        error: str | None
        checks: dict = field(default_factory=dict)  # file name -> QuantCheckResult, for files here

    @dataclass
    class Checked(Message):
        """What the installed llama.cpp said of a repository's files (their architecture)."""

        repo_id: str
        verdict: LoadVerdict

    def __init__(self, model_id: str, then: str | None = None) -> None:
        super().__init__()
        self.model_id = model_id
        self.then = then
        self.jobs: list[str] = []  # the chosen file's downloads, once started (with `then`)
        self._theirs: set[str] = set()  # of those, downloads that were running before: kept
        self.files: hub.RepoFiles | None = None
        self.header: GgufInfo | None = None
        self.machine: fit.Machine | None = None
        self.repos: list[hub.RepoChoice] = []
        self.fits: list[fit.Fit] = []
        self.recommended: hub.QuantFile | None = None
        self.checks: dict = {}
        self.unloadable: LoadVerdict | None = None  # llama.cpp here cannot load this repository's files
        self.context = self.app.context.settings.downloads.context_length

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            title = Text.assemble("Download ", (one_line(self.model_id), "bold"))
            if self.then is not None:
                title.append(f" {_THEN[self.then]}: it is not on this machine yet")
            yield Static(title, id="title")
            yield Static("", id="note")
            yield DataTable(id="repos", cursor_type="row", zebra_stripes=True)
            yield Input(placeholder="or type any repository id (owner/name-GGUF) and press enter",
                        id="repo-input")  # fmt: skip
            with Horizontal(id="context-row"):
                yield Label("Context length")
                options = [(f"{c:,}", c) for c in sorted({*CONTEXTS, self.context})]
                yield Select(options, value=self.context, allow_blank=False, id="context")
            yield DataTable(id="files", cursor_type="row", zebra_stripes=True)
            yield Static("Looking for GGUF files…", id="status")
            yield Static("", id="progress")
            with Horizontal(id="buttons"):
                yield Button("Download", variant="primary", id="download", action="screen.download")
                yield Button("Close", id="close", action="screen.close")
                yield Button("Continue in background", id="background", action="screen.background")

    def on_mount(self) -> None:
        self.query_one("#progress").display = False
        self.query_one("#background").display = False
        repos = self.query_one("#repos", DataTable)
        repos.add_columns("Repository", "Downloads", "Found by")
        repos.display = False
        self.query_one("#files", DataTable).add_columns("", "Quant", "Size", "Bits/weight", "Fit", "File")
        if hub.offline():
            self._show_status(hub.OFFLINE_MESSAGE + " My models lists what is cached.")
            return
        self._find_repos(self.model_id)

    def _show_status(self, text: str) -> None:
        self.query_one("#status", Static).update(Text(one_line(text, 400)))

    # workers

    @work(thread=True, exclusive=True, group="picker-find", exit_on_error=False)
    def _find_repos(self, query: str) -> None:
        catalogue = self.app.catalogue
        try:
            self.post_message(self.Found(hub.find_gguf_repos(query, catalogue), None))
        except hub.HubError as error:
            self.post_message(self.Found(None, str(error)))

    @work(thread=True, exclusive=True, group="picker-files", exit_on_error=False)
    def _load_files(self, repo_id: str) -> None:
        from tui.core.models.recommend import ListingCache

        try:
            files = hub.list_files(repo_id)
        except hub.HubError as error:
            self.post_message(self.Loaded(None, None, None, str(error)))
            return
        ListingCache(self.app.context.paths.cache_dir).remember(files)  # exact sizes in Browse
        header = None
        if files.files:
            smallest = min(files.files, key=lambda f: f.size)
            with suppress(hub.HubError, GgufHeaderError):  # the fit falls back to an estimate from the size
                header = gguf_header.read_remote(repo_id, smallest.first)
        checks = _quant_checks(self.app).for_repo(repo_id, self.app.context)
        self.post_message(self.Loaded(files, header, fit.machine(), None, checks))
        # One file answers for all: a repository's quants share the model's architecture.
        complete = [f for f in files.files if f.complete]
        if complete:
            try:
                verdict = loadable.check(
                    min(complete, key=lambda f: f.size), commit=files.commit,
                    cache=loadable.VerdictCache(self.app.context.paths.cache_dir),
                )
            except (hub.HubError, GgufHeaderError):
                return  # not checked: llama.cpp says so once the file is here
            self.post_message(self.Checked(repo_id, verdict))

    # results

    @on(Found)
    def _on_found(self, message: Found) -> None:
        if message.search is None:
            self._show_status(message.error or "")
            return
        search = message.search
        note = self.query_one("#note", Static)
        note.update(Text(one_line(search.note, 400)) if search.note else "")
        self.repos = [c for c in (search.thebloke, *search.others, *search.more_thebloke) if c]
        table = self.query_one("#repos", DataTable)
        table.clear()
        for choice in self.repos:
            downloads = f"{choice.downloads:,}" if choice.downloads is not None else ""
            table.add_row(Text(one_line(choice.repo_id)), downloads, choice.source)
        table.display = len(self.repos) > 1 or search.thebloke is None
        # TheBloke's repository, or the GGUF repository asked for by id (a Hub search result).
        chosen = search.thebloke or next((c for c in search.others if c.source == "typed"), None)
        if chosen is not None:
            self._open_repo(chosen.repo_id)
        elif self.repos:
            self._show_status("Pick a repository above, or type one.")
        else:
            self._show_status("No GGUF repository found: type a repository id.")

    def _open_repo(self, repo_id: str) -> None:
        self._show_status(f"Reading {repo_id}…")
        self.query_one("#files", DataTable).clear()
        self._load_files(repo_id)

    @on(Loaded)
    def _on_loaded(self, message: Loaded) -> None:
        if message.files is None:
            self._show_status(message.error or "")
            return
        self.files, self.header, self.machine = message.files, message.header, message.machine
        self.checks = message.checks
        self.unloadable = None
        self._render_files()

    @on(Checked)
    def _on_checked(self, message: Checked) -> None:
        if self.files is not None and self.files.repo_id == message.repo_id:
            if not message.verdict.loadable:
                self.unloadable = message.verdict
                self._render_files()

    def _render_files(self) -> None:
        files = self.files
        if files is None:
            return
        table = self.query_one("#files", DataTable)
        table.clear()
        if not files.files:
            self._show_status(f"{files.repo_id} has no .gguf files.")
            return
        here = self.machine or fit.machine()
        self.fits = [fit.estimate(f.size, self.context, here, self.header) for f in files.files]
        self.recommended = None if self.unloadable else fit.recommend(files.files, self.fits)
        for i, (f, estimate) in enumerate(zip(files.files, self.fits, strict=True)):
            bits = f.bits_per_weight(files.params)
            style = {"fits": "green", "tight": "yellow", "too large": "red"}[estimate.label]
            label = "won't load" if self.unloadable else estimate.label
            name = one_line(f.name) + ("" if f.complete else " (parts missing)")
            if len(f.parts) > 1:
                name += f" ({len(f.parts)} parts)"
            check = self.checks.get(Path(f.first).name)
            if check is not None:
                name += f"  [{check.summary}]"
            table.add_row(
                "★" if f is self.recommended else "",
                f.quant or "?",
                fit.human_bytes(f.size),
                f"{bits:.2f}" if bits else "?",
                Text(label, style="red" if self.unloadable else style),
                Text(name),
                key=str(i),
            )
        if self.recommended is not None:
            table.move_cursor(row=files.files.index(self.recommended))
        table.focus()
        memory = f"{fit.human_bytes(here.ram_available)} RAM free"
        if here.gpus:
            memory += f", {fit.human_bytes(here.gpu_free)} GPU memory free"
        kv = "KV cache from the file's header" if self.header else "KV cache estimated from size"
        if self.unloadable:
            self._show_status(self.unloadable.refusal(files.repo_id))
            return
        gated = " Gated: ask for access on its Hub page; llmtui sends your Hugging Face token." * files.gated
        self._show_status(f"{files.repo_id}: {len(files.files)} files; {memory}; {kv}.{gated}")

    # user actions

    @on(Select.Changed, "#context")
    def _context_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, int):
            self.context = event.value
            self._render_files()

    @on(DataTable.RowSelected, "#repos")
    def _pick_repo(self, event: DataTable.RowSelected) -> None:
        self._open_repo(self.repos[event.cursor_row].repo_id)

    @on(Input.Submitted, "#repo-input")
    def _typed_repo(self, event: Input.Submitted) -> None:
        repo_id = event.value.strip()
        if not hub.valid_repo_id(repo_id):
            self._show_status(f"{repo_id!r} is not a repository id (owner/name).")
            return
        self._open_repo(repo_id)

    @on(DataTable.RowSelected, "#files")
    def _row_chosen(self) -> None:
        self.action_download()

    def action_background(self) -> None:
        self.notify("The download goes on in My models (3)")
        self._close_with(None)

    def action_close(self) -> None:
        """Close; a download this picker started is cancelled (its partial file goes too)."""
        service = self.app.downloads
        for job in self.jobs:
            if job not in self._theirs:
                service.cancel(job)
        self._close_with(None)

    def action_download(self) -> None:
        if self.jobs:  # following a download: enter retries one that failed
            for s in self.app.downloads.statuses():
                if s.id in self.jobs and s.state == State.FAILED:
                    self.app.downloads.manager.resume(s.id)
            return
        if self.files is None or not self.files.files:
            return
        row = self.query_one("#files", DataTable).cursor_row
        chosen = self.files.files[row]
        if not chosen.complete:
            self._show_status("Some parts of this split file are missing from the repository.")
            return
        if self.fits[row].label == "too large":
            self.notify(f"{one_line(chosen.name)} is probably too large for this machine.",
                        severity="warning", markup=False)  # fmt: skip
        service = self.app.downloads
        if self.then is None:
            service.submit(chosen)
            self.notify(f"Downloading {one_line(chosen.name)}", markup=False)
            self.dismiss(None)
            return
        running = {s.id for s in service.statuses() if not s.state.finished}
        self.jobs = service.submit(chosen)
        self._theirs = running & set(self.jobs)
        self._follow_download(chosen)

    # following the download (with `then`)

    def _follow_download(self, chosen: hub.QuantFile) -> None:
        for widget in ("#note", "#repos", "#repo-input", "#context-row", "#files", "#download"):
            self.query_one(widget).display = False
        self.query_one("#progress").display = True
        self.query_one("#background").display = True
        self.query_one("#close", Button).label = "Cancel download"
        self._show_status(
            f"{chosen.repo_id}: {chosen.name} ({fit.human_bytes(chosen.size)}); "
            f"the {self.then} opens with it once it is downloaded and verified."
        )
        self.query_one("#close", Button).focus()
        service = self.app.downloads
        service.changed.subscribe(self, self._show_progress, immediate=True)
        self._show_progress(service.statuses())

    def _show_progress(self, every: list[Status]) -> None:
        by_id = {s.id: s for s in every}
        statuses = [by_id.get(job) for job in self.jobs]
        if any(s is None or s.state == State.CANCELLED for s in statuses):
            self._close_with(None)  # cancelled elsewhere (My models)
            return
        if all(s.state == State.DONE for s in statuses):
            self._close_with(statuses[0].path)  # a split model opens by its first part
            return
        lines = [Text("  ").join(cell for cell in status_cells(s) if cell.plain) for s in statuses]
        if any(s.state == State.FAILED for s in statuses):
            lines.append(Text("Enter tries again.", style="bold"))
        self.query_one("#progress", Static).update(Text("\n").join(lines))

    def _close_with(self, path: Path | None) -> None:
        """Dismiss once: a status published meanwhile shows nothing."""
        self.app.downloads.changed.unsubscribe(self)
        self.dismiss(path)


@dataclass(frozen=True)
class RemoteRow:
    """One line of "On servers": a model of an endpoint, or the endpoint itself when it has none."""

    endpoint: Endpoint
    model: str | None  # None: the endpoint is down (`error` says why) or offers no models
    error: str = ""

    @property
    def state(self) -> str:
        if self.error:
            return f"down: {self.error}"
        return "ready" if self.model else "no models"

    @property
    def spec(self) -> str:
        return endpoints.remote_spec(self.endpoint, self.model or "")

    @property
    def label(self) -> str:
        """`model @ endpoint`, as chat and compare label it once it runs."""
        return f"{self.model or '—'} @ {self.endpoint.name}"


# -- My models -----------------------------------------------------------------------------------


class ModelsScreen(ReportsWorkerFailures, Screen):
    CSS_PATH = "models.tcss"
    BINDINGS = [
        Binding("d", "download", "Download…", id="models.download", tooltip="Find and download a GGUF"),
        # priority: a focused table would take enter for itself (and hide it from the footer)
        Binding("enter", "open_chat", "Chat", id="models.chat", tooltip="Chat with the model", priority=True),
        Binding("m", "open_compare", "Compare", id="models.compare", tooltip="Add the model to compare"),
        Binding("delete,x", "delete", "Delete", id="models.delete", tooltip="Delete the file"),
        Binding("p", "pause", "Pause/resume", id="models.pause", tooltip="Pause or resume a download"),
        Binding("c", "cancel", "Cancel dl", id="models.cancel", tooltip="Cancel a download"),
        Binding(
            "a",
            "add_folder",
            "Add folder",
            id="models.add_folder",
            tooltip="Also list GGUF files from a folder",
        ),
        Binding(
            "e",
            "endpoints",
            "Endpoints…",
            id="models.endpoints",
            tooltip="Add, edit, test or remove OpenAI-compatible servers",
        ),
        Binding(
            "r", "refresh", "Refresh", id="models.refresh", tooltip="Scan the disk and ask the servers again"
        ),
    ]

    @dataclass
    class Scanned(Message):
        library: library.Library
        checks: dict = field(default_factory=dict)  # path -> QuantCheckResult

    @dataclass
    class RemoteScanned(Message):
        generation: int
        rows: list[RemoteRow]

    def __init__(self) -> None:
        super().__init__()
        self.library = library.Library(())
        self.download_ids: list[str] = []
        self._done_seen: set[str] = set()
        self.remote_rows: list[RemoteRow] = []
        self._remote_generation = 0  # a refresh's answer replaces only an older one's
        self._endpoints_asked: tuple[Endpoint, ...] | None = None  # the endpoints last asked

    def compose(self) -> ComposeResult:
        yield Header()
        banner = Static(Text(hub.OFFLINE_MESSAGE + " Showing cached files only."), id="offline")
        banner.display = hub.offline()
        yield banner
        yield Static("Downloads", classes="section", id="downloads-title")
        yield DataTable(id="downloads", cursor_type="row")
        yield Static("On this machine", classes="section", id="library-title")
        yield DataTable(id="library", cursor_type="row", zebra_stripes=True)
        yield Static("On servers", classes="section", id="remote-title")
        yield DataTable(id="remote", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        downloads = self.query_one("#downloads", DataTable)
        downloads.add_columns("File", "Progress", "Size", "Speed", "ETA", "State")
        self.query_one("#library", DataTable).add_columns("Model", "File", "Quant", "Size", "Last used")
        self.query_one("#remote", DataTable).add_columns("Model", "Server", "State")
        self.app.downloads.changed.subscribe(self, self._render_downloads, immediate=True)
        self._render_downloads(self.app.downloads.statuses())
        self.action_refresh()

    def open_model(self, model_id: str) -> None:
        self.app.push_screen(QuantPicker(model_id))

    # downloads

    def _render_downloads(self, statuses: list[Status]) -> None:
        statuses = [s for s in statuses if s.state != State.CANCELLED]
        table = self.query_one("#downloads", DataTable)
        ids = [s.id for s in statuses]
        if ids != self.download_ids:
            table.clear()
            for s in statuses:
                table.add_row(*status_cells(s), key=s.id)
            self.download_ids = ids
        else:
            for s in statuses:
                for column, value in zip(table.columns, status_cells(s), strict=True):
                    table.update_cell(s.id, column, value)
        table.display = bool(statuses)
        self.query_one("#downloads-title").display = bool(statuses)
        done = {s.id for s in statuses if s.state == State.DONE}
        if done - self._done_seen:
            self._done_seen |= done
            self._scan_library()

    def _at_cursor(self, table_id: str, rows: Sequence):
        """The one of `rows` (what table `table_id` shows) under its cursor; None when empty."""
        cursor = self.query_one(table_id, DataTable).cursor_row
        return rows[min(cursor, len(rows) - 1)] if rows else None

    def _selected_download(self) -> str | None:
        return self._at_cursor("#downloads", self.download_ids)

    def action_pause(self) -> None:
        if (job := self._selected_download()) is not None:
            self.app.downloads.pause_or_resume(job)

    def action_cancel(self) -> None:
        if (job := self._selected_download()) is not None:
            self.app.downloads.cancel(job)

    def action_download(self) -> None:
        def chosen(answer: str | None) -> None:
            if answer:
                self.open_model(answer)

        self.app.push_screen(
            Ask("Model or repository id", "e.g. microsoft/phi-2 or TheBloke/phi-2-GGUF"), chosen
        )

    # the library

    def action_refresh(self) -> None:
        self._scan_library()
        self.refresh_remote()

    @work(thread=True, exclusive=True, group="library-scan", exit_on_error=False)
    def _scan_library(self) -> None:
        self.post_message(self._scanned())

    def _scanned(self) -> Scanned:
        """The files here and their quant checks (reads the disk: from a worker)."""
        found = library.scan(self.app.context.paths, self.app.context.settings.model_dirs)
        checks = _quant_checks(self.app).for_files(m.path for m in found.models)
        return self.Scanned(found, checks)

    @on(Scanned)
    def _on_scanned(self, message: Scanned) -> None:
        self.library = message.library
        table = self.query_one("#library", DataTable)
        table.clear()
        for i, m in enumerate(self.library.models):
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.last_used)) if m.last_used else "never"
            table.add_row(
                Text(one_line(m.repo_id or _short_path(m.path.parent), 60)),
                Text(one_line(m.name, 80)),
                _quant_cell(m.quant, message.checks.get(m.path)),
                fit.human_bytes(m.size),
                used,
                key=str(i),
            )
        total = fit.human_bytes(self.library.total_size)
        count = len(self.library.models)
        title = f"On this machine: {count} file{'' if count == 1 else 's'}, {total}"
        self.query_one("#library-title", Static).update(Text(title))

    def _selected_model(self) -> library.LocalModel | None:
        return self._at_cursor("#library", self.library.models)

    def _remote_focused(self) -> bool:
        return self.focused is self.query_one("#remote", DataTable)

    def _selected_remote(self) -> RemoteRow | None:
        return self._at_cursor("#remote", self.remote_rows)

    def _selected_spec(self) -> str | None:
        """What chat and compare open for the highlighted row: a file's path or `ENDPOINT#MODEL`."""
        if not self._remote_focused():
            model = self._selected_model()
            return None if model is None else str(model.path)
        row = self._selected_remote()
        if row is None:
            return None
        if row.model is None:  # the endpoint's own row: down, or no models
            self.notify(
                f"{row.endpoint.name}: {row.state}",
                title="No model here",
                severity="warning",
                markup=False,
            )
            return None
        return row.spec

    def action_open_chat(self) -> None:
        if (spec := self._selected_spec()) is not None:
            self.app.open_job("chat", spec)

    def action_open_compare(self) -> None:
        if (spec := self._selected_spec()) is not None:
            self.app.open_job("compare", spec)

    def action_delete(self) -> None:
        if self._remote_focused():
            self.notify("A server's models are removed on that server", severity="warning")
            return
        model = self._selected_model()
        if model is None:
            return
        question = Text.assemble(
            "Delete ", (one_line(model.label, 200), "bold"), f" ({fit.human_bytes(model.size)})?\n",
            "The file is removed from disk."
            if model.source == "cache"
            else "The file is removed from its folder.",
        )  # fmt: skip

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete_files(model)

        self.app.push_screen(Confirm(question), answered)

    @work(thread=True, exclusive=True, group="library-delete", exit_on_error=False)
    def _delete_files(self, model: library.LocalModel) -> None:
        try:
            freed = library.delete(self.app.context.paths, model)
        except OSError as error:  # notify is thread-safe
            self.notify(one_line(str(error)), severity="error", markup=False)
        else:
            self.notify(f"Deleted {one_line(model.name)}: {fit.human_bytes(freed)} freed", markup=False)
        self.post_message(self._scanned())

    def action_add_folder(self) -> None:
        def chosen(answer: str | None) -> None:
            if not answer:
                return
            folder = Path(answer).expanduser()
            if not folder.is_dir():
                self.notify(f"{one_line(answer)} is not a folder", severity="error", markup=False)
                return
            context = self.app.context
            if str(folder) not in context.settings.model_dirs:
                dirs = (*context.settings.model_dirs, str(folder))
                try:
                    context.save_settings(replace(context.settings, model_dirs=dirs))
                except (SettingsError, StorageError) as error:  # a bad file, a full disk
                    show_error(self, error)
                    return
            self.action_refresh()

        self.app.push_screen(Ask("Folder with GGUF files", "~/models"), chosen)

    # the servers (endpoints)

    def on_screen_resume(self) -> None:
        # Back from the Endpoints screen (or endpoints changed elsewhere): list what is saved now.
        if self.app.context.settings.endpoints != self._endpoints_asked:
            self.refresh_remote()

    def refresh_remote(self) -> None:
        """Ask each saved endpoint for its models."""
        settings = self.app.context.settings
        self._endpoints_asked = settings.endpoints
        self._remote_generation += 1
        title = self.query_one("#remote-title", Static)
        table = self.query_one("#remote", DataTable)
        if not settings.endpoints:
            self.remote_rows = []
            table.clear()
            table.display = False
            title.update(
                Text("On servers: none yet. Press e to add an OpenAI-compatible endpoint.")
            )
            return
        count = len(settings.endpoints)
        title.update(Text(f"On servers: asking {count} endpoint{'s' * (count > 1)}…"))
        self._scan_remote(settings.endpoints, self._remote_generation)

    @work(thread=True, group="remote-scan", exit_on_error=False)
    def _scan_remote(self, saved: tuple[Endpoint, ...], generation: int) -> None:
        failures: dict[str, str] = {}

        def failed(endpoint: Endpoint, error: Exception) -> None:
            failures[endpoint.name] = getattr(error, "message", None) or str(error)

        found = endpoints.remote_models(Settings(endpoints=saved), failed)
        rows: list[RemoteRow] = []
        for endpoint in saved:
            models = [m for e, m in found if e.name == endpoint.name]
            if endpoint.name in failures or not models:
                rows.append(RemoteRow(endpoint, None, failures.get(endpoint.name, "")))
            rows.extend(RemoteRow(endpoint, m) for m in models)
        self.post_message(self.RemoteScanned(generation, rows))

    @on(RemoteScanned)
    def _on_remote_scanned(self, message: RemoteScanned) -> None:
        if message.generation != self._remote_generation:
            return  # an older answer, from before the endpoints changed
        self.remote_rows = message.rows
        table = self.query_one("#remote", DataTable)
        table.clear()
        for i, row in enumerate(self.remote_rows):
            style = "red" if row.error else "" if row.model else "dim"
            table.add_row(
                Text(one_line(row.label, 80)),
                Text(one_line(row.endpoint.url, 60)),
                Text(one_line(row.state, 200), style=style),
                key=str(i),
            )
        table.display = True
        models = sum(1 for r in self.remote_rows if r.model is not None)
        down = [r.endpoint.name for r in self.remote_rows if r.error]
        title = f"On servers: {models} model{'s' * (models != 1)}"
        if down:
            title += f"; down: {', '.join(down)}"
        self.query_one("#remote-title", Static).update(Text(title))

    def action_endpoints(self) -> None:
        from tui.ui.endpoints.screen import EndpointsScreen

        self.app.push_screen(EndpointsScreen())  # the list follows when this screen resumes
