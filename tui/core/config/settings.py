"""The user's settings: one YAML file in the config folder, validated on load.

Sections belong to the jobs: `downloads`, `chat`, `model_dirs`, `endpoints`, `keymap`. A setting the
file does not name keeps its default; an unknown or mistyped one is a `SettingsError` naming the field.
API keys are never stored here: an endpoint names the environment variable (or keyring entry) to read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from tui.core.errors import LlmtuiError
from tui.core.storage import write_atomic


class SettingsError(LlmtuiError):
    title = "Settings not applied"  # the app goes on with the defaults

    def __init__(self, path: Path, field_name: str, message: str) -> None:
        super().__init__(f"{path}: {field_name}: {message}")
        self.path = path
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class DownloadSettings:
    concurrency: int = 2  # files downloading at once; the rest wait in the queue
    # connections per file, where the server honours byte ranges (one CDN connection is often
    # capped far below the link; 8, as aria2c -x8, fills most links without crowding a server)
    connections: int = 8
    stall_seconds: float = 30.0  # no bytes for this long: the connection is dropped and retried
    retries: int = 6
    context_length: int = 4096  # the context the fit label sizes the KV cache for


def _number(default: float, low: float, high: float, label: str) -> Any:
    """A number setting: its default, the values it may take (for forms and presets) and its label."""
    return field(default=default, metadata={"limits": (low, high), "label": label})


@dataclass(frozen=True)
class Sampling:
    """How answers are sampled, declared once: the chat settings and presets hold these settings,
    `SamplingOptions` passes them to a backend, and the forms show them in this order."""

    temperature: float = _number(0.7, 0.0, 5.0, "Temperature")
    top_p: float = _number(0.95, 0.0, 1.0, "Top p")
    top_k: int = _number(40, 0, 1000, "Top k")  # 0: off
    min_p: float = _number(0.05, 0.0, 1.0, "Min p")
    repeat_penalty: float = _number(1.1, 0.5, 3.0, "Repeat penalty")
    max_tokens: int = _number(512, 0, 1_000_000, "Max tokens (0: up to the context)")
    seed: int = _number(-1, -1, 2**31 - 1, "Seed (-1: random)")


@dataclass(frozen=True)
class ChatSettings(Sampling):
    system_prompt: str = ""
    context_length: int = 4096
    gpu_layers: int = 0
    threads: int = 0  # 0: llama.cpp's default
    context_policy: str = "drop_oldest"  # or "stop"
    # Prompt-lookup decoding: tokens drafted per step from the conversation (0: off; see
    # bench/README.md, "Prompt lookup", for when it pays).
    prompt_lookup: int = 0

    def layered(self, *layers: Mapping[str, Any] | None) -> dict[str, Any]:
        """These settings by name, plus `template` (the prompt format, None: automatic), with each
        layer over those before it (a preset's `values()`, flags); None in a layer is not given."""
        values = {**asdict(self), "template": None}
        for layer in layers:
            values.update((k, v) for k, v in (layer or {}).items() if v is not None)
        return values


# The values a chat setting may take: (minimum, maximum), for forms and presets.
CHAT_LIMITS: dict[str, tuple[float, float]] = {
    **{f.name: f.metadata["limits"] for f in fields(Sampling)},
    "context_length": (256, 1_048_576),
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    api_key_env: str = ""  # environment variable holding the key
    use_keyring: bool = False  # read the key from the OS keyring (service "llmtui", user = name)


@dataclass(frozen=True)
class Settings:
    model_dirs: tuple[str, ...] = ()
    downloads: DownloadSettings = field(default_factory=DownloadSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    endpoints: tuple[Endpoint, ...] = ()
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys

    def endpoint(self, name: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.name == name), None)

    def to_dict(self) -> dict:
        return _plain(asdict(self))


def load_settings(path: Path) -> Settings:
    if not path.exists():
        return Settings()
    data = read_yaml(path, lambda where, message: SettingsError(path, where or "(file)", message))
    return _build(Settings, data, path, "")


def save_settings(settings: Settings, path: Path) -> None:
    """Write the settings file whole (StorageError when it cannot be: the old file stays)."""
    write_yaml(path, settings.to_dict())


def read_yaml(path: Path, error: Callable[[str, str], Exception]) -> Any:
    """The YAML in the file `path` ({} when empty); `error(where, message)` is raised when it cannot
    be read or parsed (`where`: "line N", or "" for the whole file)."""
    import yaml  # here, not at the top: with no such file start-up never pays for PyYAML

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as failure:
        raise error("", f"cannot read: {failure}") from None
    except yaml.YAMLError as failure:
        mark = getattr(failure, "problem_mark", None)
        problem = getattr(failure, "problem", None) or failure
        raise error(f"line {mark.line + 1}" if mark else "", f"not valid YAML: {problem}") from None


def write_yaml(path: Path, data: Any) -> None:
    """Write `data` as the YAML file `path`, in the order given (StorageError: the old file stays)."""
    import yaml

    write_atomic(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def check_fields(
    cls: type, data: Any, error: Callable[[str, str], Exception], hidden: tuple[str, ...] = ()
) -> None:
    """Raise `error(key, message)` unless `data` is a mapping of the dataclass `cls`' fields (but
    `hidden`) naming every one without a default (`key` "": the mapping itself)."""
    if not isinstance(data, dict):
        raise error("", f"expected a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)} - set(hidden)
    for key in data:
        if key not in known:
            raise error(str(key), f"unknown setting (known: {', '.join(sorted(known))})")
    for f in fields(cls):
        if f.name not in data and f.default is MISSING and f.default_factory is MISSING:
            raise error(f.name, "missing (required)")


def _build(cls: type, data: Any, path: Path, prefix: str) -> Any:
    check_fields(cls, data, lambda key, message: SettingsError(path, prefix + key or "(top level)", message))
    hints = get_type_hints(cls)
    return cls(**{key: _convert(hints[key], value, path, f"{prefix}{key}") for key, value in data.items()})


def _convert(hint: Any, value: Any, path: Path, name: str) -> Any:
    origin = get_origin(hint)
    if is_dataclass(hint):
        return _build(hint, value, path, f"{name}.")
    if origin is tuple:
        (item,) = get_args(hint)[:1]
        if not isinstance(value, list):
            raise SettingsError(path, name, f"expected a list, got {type(value).__name__}")
        return tuple(_convert(item, v, path, f"{name}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise SettingsError(path, name, "expected a mapping of strings")
        return dict(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise SettingsError(path, name, f"expected {hint.__name__}, got {value!r}")
    return value
