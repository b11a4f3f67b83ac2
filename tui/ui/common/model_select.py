"""Pickers of the models llmtui can open: the GGUF files on this machine (My models), then the models
of each saved server. They fill themselves in the background when asked (`rescan`); a server that is
down is left out (My models says why). Their values are model specs, as `llmtui chat` takes them.

- `ModelSelect`: a Select (compare's "add", chat's open-model dialog).
- `ModelOffer`: a list for a first chat: those models, then the catalogue's smallest chat models that
  are not here yet, to download.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widgets import OptionList, Select
from textual.widgets.option_list import Option

from tui.core.text import one_line
from tui.ui.common.workers import ReportsWorkerFailures

OFFERED_DOWNLOADS = 3  # the catalogue's smallest chat models a first chat offers


class _ModelScan(ReportsWorkerFailures):
    """The background look at this machine and the saved servers, shared by both pickers."""

    class Scanned(Message):
        def __init__(
            self, where: str, models: list[tuple[str, str]], repos: frozenset[str] = frozenset()
        ) -> None:
            super().__init__()
            self.where = where  # "local" or "remote"
            self.models = models  # (label, spec)
            self.repos = repos  # the Hub repositories of the local files

    def _init_scan(self) -> None:
        self._found: dict[str, list[tuple[str, str]]] = {"local": [], "remote": []}
        self._waiting: set[str] = set()
        self.repos_here: frozenset[str] = frozenset()

    @property
    def models(self) -> list[tuple[str, str]]:
        """(label, spec) of each model offered: this machine's first, then the servers'."""
        return [*self._found["local"], *self._found["remote"]]

    @property
    def scanned(self) -> bool:
        """Both looks (this machine, the servers) have answered since the last `rescan`."""
        return not self._waiting

    def rescan(self) -> None:
        """Look again (files downloaded and servers added since are offered)."""
        self._waiting = {"local", "remote"}
        self._scan_library()
        self._scan_remote()

    @work(thread=True, exclusive=True, group="library", exit_on_error=False)
    def _scan_library(self) -> None:
        from tui.core.models.library import scan

        library = scan(self.app.context.paths, self.app.context.settings.model_dirs)
        models = [(m.label, str(m.path)) for m in library.models]
        repos = frozenset(m.repo_id.lower() for m in library.models if m.repo_id)
        self.post_message(self.Scanned("local", models, repos))

    @work(thread=True, exclusive=True, group="remote", exit_on_error=False)
    def _scan_remote(self) -> None:
        from tui.core.config.endpoints import remote_models, remote_spec

        found = remote_models(self.app.context.settings)
        self.post_message(
            self.Scanned("remote", [(f"{m} @ {e.name}", remote_spec(e, m)) for e, m in found])
        )

    def worker_failed(self, worker) -> None:
        """A look that failed (already shown) found nothing: the picker stops waiting for it."""
        self.post_message(self.Scanned("local" if worker.group == "library" else "remote", []))

    def _take_scan(self, event: Scanned) -> None:
        # Not stopped: the screen around may say something once both looks have answered.
        self._waiting.discard(event.where)
        self._found[event.where] = event.models
        if event.where == "local":
            self.repos_here = event.repos
        self._show_models()

    def _show_models(self) -> None:
        raise NotImplementedError


class ModelSelect(_ModelScan, Select[str]):
    def __init__(self, prompt: str = "pick a model", **kwargs) -> None:
        super().__init__([], prompt=prompt, **kwargs)
        self._init_scan()

    @on(_ModelScan.Scanned)
    def _scanned(self, event: _ModelScan.Scanned) -> None:
        self._take_scan(event)

    def _show_models(self) -> None:
        # Text, not Content: Select's type-to-search reads only str and Text prompts. Labels are
        # file and server names: untrusted, so never markup.
        self.set_options((Text(one_line(label, 70)), spec) for label, spec in self.models)


class ModelOffer(_ModelScan, OptionList):
    """The models on this machine and on saved servers first, then the catalogue's smallest chat
    models not here yet, as downloads. Choosing one posts `Chosen`."""

    class Chosen(Message):
        def __init__(self, spec: str | None = None, download: str | None = None) -> None:
            super().__init__()
            self.spec = spec  # a model to open
            self.download = download  # or a catalogue model to download first

    def __init__(self, catalogue=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._init_scan()
        self.catalogue = catalogue
        self.border_title = "Start a chat with"
        self._values: dict[str, tuple[str | None, str | None]] = {}  # option id -> (spec, download)

    @on(_ModelScan.Scanned)
    def _scanned(self, event: _ModelScan.Scanned) -> None:
        self._take_scan(event)

    def downloads(self) -> list:
        """The catalogue models offered for download (none of their files is here)."""
        from tui.core.catalogue.browse import smallest_chat_models

        if self.catalogue is None:
            return []
        return smallest_chat_models(self.catalogue, OFFERED_DOWNLOADS, exclude=self.repos_here)

    def _show_models(self) -> None:
        from tui.core.catalogue.browse import format_size

        highlighted = self.highlighted
        options: list[Option | None] = []
        self._values = {}
        if self.models:
            options.append(Option(Text("On this machine and your servers", style="bold"),
                                  disabled=True))  # fmt: skip
        for i, (label, spec) in enumerate(self.models):
            options.append(Option(Text(one_line(label, 100)), id=f"open-{i}"))
            self._values[f"open-{i}"] = (spec, None)
        offered = self.downloads()
        if offered:
            if options:
                options.append(None)
            options.append(Option(Text("Download from the catalogue (the smallest chat models)",
                                       style="bold"), disabled=True))  # fmt: skip
        for model in offered:
            option_id = f"download-{model.id}"
            options.append(Option(Text.assemble(
                one_line(model.name, 60), "  ", (format_size(model.params_b), "dim"),
                ("  download", "dim"),
            ), id=option_id))  # fmt: skip
            self._values[option_id] = (None, model.id)
        self.set_options(options)
        if self.option_count:
            first = next((i for i in range(self.option_count)
                          if not self.get_option_at_index(i).disabled), None)  # fmt: skip
            self.highlighted = highlighted if highlighted is not None else first

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        spec, download = self._values[event.option_id or ""]
        self.post_message(self.Chosen(spec, download))
