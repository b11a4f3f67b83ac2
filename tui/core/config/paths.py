"""Where llmtui keeps its configuration, data and caches.

platformdirs gives each OS its usual places; LLMTUI_CONFIG_DIR / LLMTUI_DATA_DIR / LLMTUI_CACHE_DIR
override them (tests point them at temporary folders). Downloaded models are not kept here: they
live in the standard Hugging Face cache (HF_HOME / HF_HUB_CACHE), so `hf` and other tools see the
same files. GGUF files that come from elsewhere can go into `models_dir`, which the library always
scans (`make run` puts the test model there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "llmtui"


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.yaml"

    @property
    def presets_file(self) -> Path:
        """The user's chat presets and each model's default one."""
        return self.config_dir / "presets.yaml"

    @property
    def user_catalogue(self) -> Path:
        """The user's own models, merged on top of the catalogue."""
        return self.config_dir / "models.yaml"

    @property
    def database(self) -> Path:
        """Conversations and comparisons."""
        return self.data_dir / "llmtui.sqlite3"

    @property
    def models_dir(self) -> Path:
        """GGUF files not from the Hub, found like those in the user's model folders."""
        return self.data_dir / "models"

    @property
    def downloads_dir(self) -> Path:
        """Resumable partial downloads and the download journal."""
        return self.data_dir / "downloads"


def app_paths() -> AppPaths:
    import platformdirs

    def pick(env: str, default: str) -> Path:
        value = os.environ.get(env)
        return Path(value).expanduser() if value else Path(default)

    return AppPaths(
        config_dir=pick("LLMTUI_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME)),
        data_dir=pick("LLMTUI_DATA_DIR", platformdirs.user_data_dir(APP_NAME)),
        cache_dir=pick("LLMTUI_CACHE_DIR", platformdirs.user_cache_dir(APP_NAME)),
    )
