"""The app context: built once at start by the app or a CLI command, and handed down.

It holds the paths, the settings (read from the settings file here and nowhere else), the
catalogue and the chat presets (each loaded on first use) and makes the download manager. A bad
settings file has one policy: the context keeps the defaults and the error (`settings_error`); the
app shows it, a CLI command ends with it (`checked_settings`). Changes are written through
`save_settings`, which refuses while the file is bad, so a broken file is never overwritten with
defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core.config.paths import AppPaths, app_paths
from tui.core.config.settings import Settings, SettingsError, load_settings, save_settings

if TYPE_CHECKING:
    from tui.core.catalogue import Catalogue
    from tui.core.chat.presets import PresetBook
    from tui.core.models.downloads import DownloadManager


@dataclass
class AppContext:
    paths: AppPaths
    settings: Settings
    settings_error: SettingsError | None = None
    catalogue_path: Path | None = None  # None: the bundled catalogue
    _catalogue: Catalogue | None = field(default=None, repr=False)
    _presets: PresetBook | None = field(default=None, repr=False)

    @classmethod
    def load(cls, catalogue_path: Path | None = None, paths: AppPaths | None = None) -> AppContext:
        paths = paths or app_paths()
        try:
            return cls(paths, load_settings(paths.settings_file), None, catalogue_path)
        except SettingsError as error:
            return cls(paths, Settings(), error, catalogue_path)

    def checked_settings(self) -> Settings:
        """The settings; the file's SettingsError when it is bad (where defaults will not do)."""
        if self.settings_error is not None:
            raise self.settings_error
        return self.settings

    def save_settings(self, settings: Settings) -> Settings:
        """Write `settings` and use them from now on; the SettingsError while the file is bad."""
        self.checked_settings()
        save_settings(settings, self.paths.settings_file)
        self.settings = settings
        return settings

    def catalogue(self) -> Catalogue:
        """The catalogue, with the user's own models merged on top; CatalogueError when bad."""
        if self._catalogue is None:
            from tui.core.catalogue import load_catalogue

            overlay = self.paths.user_catalogue
            self._catalogue = load_catalogue(
                self.catalogue_path,
                overlay=overlay if overlay.exists() else None,
                cache_dir=self.paths.cache_dir,
            )
        return self._catalogue

    def catalogue_or_none(self) -> Catalogue | None:
        """The catalogue, or None when it cannot be read: it maps model ids, and a command given a
        file path goes on without it."""
        from tui.core.catalogue import CatalogueError

        try:
            return self.catalogue()
        except CatalogueError:
            return None

    def presets(self) -> PresetBook:
        """The chat presets (read on first use): a bad file leaves the built-ins and its error
        (`PresetBook.error`), which a command that asks for a preset ends with."""
        if self._presets is None:
            from tui.core.chat.presets import PresetBook

            self._presets = PresetBook.load(self.paths.presets_file)
        return self._presets

    def download_manager(self, **options) -> DownloadManager:
        """A download manager as the settings say (`options`: DownloadManager's, e.g. on_event)."""
        from tui.core.models.downloads import DownloadManager

        d = self.settings.downloads
        options = {"concurrency": d.concurrency, "connections": d.connections,
                   "stall_seconds": d.stall_seconds, "retries": d.retries, **options}
        return DownloadManager(work_dir=self.paths.downloads_dir, **options)
