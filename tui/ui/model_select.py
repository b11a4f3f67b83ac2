"""A Select of the models llmtui can open: the GGUF files on this machine (My models), then the
models of each saved server. It fills itself in the background when asked (`rescan`); a server that
is down is left out (My models says why). Its values are model specs, as `llmtui chat` takes them."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widgets import Select

from tui.core.text import one_line


class ModelSelect(Select[str]):
    class Scanned(Message):
        def __init__(self, where: str, models: list[tuple[str, str]]) -> None:
            super().__init__()
            self.where = where  # "local" or "remote"
            self.models = models  # (label, spec)

    def __init__(self, prompt: str = "pick a model", **kwargs) -> None:
        super().__init__([], prompt=prompt, **kwargs)
        self._found: dict[str, list[tuple[str, str]]] = {"local": [], "remote": []}
        self._waiting: set[str] = set()

    @property
    def models(self) -> list[tuple[str, str]]:
        """(label, spec) of each model offered: this machine's first, then the servers'."""
        return [*self._found["local"], *self._found["remote"]]

    def rescan(self) -> None:
        """Look again (files downloaded and servers added since are offered)."""
        self._waiting = {"local", "remote"}
        self._scan_library()
        self._scan_remote()

    @work(thread=True, exclusive=True, group="library", exit_on_error=False)
    def _scan_library(self) -> None:
        from tui.core.models.library import scan

        library = scan(self.app.context.settings.model_dirs)
        self.post_message(self.Scanned("local", [(m.label, str(m.path)) for m in library.models]))

    @work(thread=True, exclusive=True, group="remote", exit_on_error=False)
    def _scan_remote(self) -> None:
        from tui.core.config.endpoints import remote_models, remote_spec

        found = remote_models(self.app.context.settings)
        self.post_message(
            self.Scanned("remote", [(f"{m} @ {e.name}", remote_spec(e, m)) for e, m in found])
        )

    @property
    def scanned(self) -> bool:
        """Both looks (this machine, the servers) have answered since the last `rescan`."""
        return not self._waiting

    @on(Scanned)
    def _scanned(self, event: Scanned) -> None:
        # Not stopped: the screen around may say something once both looks have answered.
        self._waiting.discard(event.where)
        self._found[event.where] = event.models
        # Text, not Content: Select's type-to-search reads only str and Text prompts. Labels are
        # file and server names: untrusted, so never markup.
        self.set_options((Text(one_line(label, 70)), spec) for label, spec in self.models)
