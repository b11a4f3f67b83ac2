"""Presets: a named system prompt, sampling settings, prompt format and context length.

A few ship with the app (`BUILT_IN`, read-only: editing one saves a copy of your own, and they
cannot be deleted); the user's own live in one YAML file in the config folder (`AppPaths.presets_file`),
with a default preset per model:

    presets:
      - name: terse
        system_prompt: Answer in one sentence.
        temperature: 0.3
    defaults:
      smollm2-135m-instruct.q4_1: code   # a file stem, a catalogue id or URL#MODEL

A setting a preset does not name takes its default (`Sampling`'s; `context_length` and
`prompt_format` left out: the chat settings' context, the automatic prompt format). Chat, compare and
the CLI layer a preset's `values()` over the chat settings and under their own flags.

A file that cannot be read or is invalid leaves the book with the built-ins and the error
(`error`, one line naming the file and the field): the app shows it, a command that asks for a
preset ends with it, and nothing writes over the file until it is fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from tui.core.config.settings import CHAT_LIMITS, ChatSettings, Sampling, check_fields, read_yaml, write_yaml
from tui.core.engine.base import SamplingOptions, chat_options
from tui.core.engine.templates import template_choices
from tui.core.errors import LlmtuiError
from tui.core.text import one_line

NAME_LIMIT = 60


class PresetError(LlmtuiError):
    """A preset that is invalid, unknown or may not be changed: the message is for the user."""

    title = "Preset"

    def __init__(self, message: str, *, field: str = "", path: Path | None = None) -> None:
        where = ": ".join(str(part) for part in (path, field) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.field = field
        self.path = path


@dataclass(frozen=True)
class _Named:
    """A preset's name and system prompt: a base of their own, as a dataclass takes its bases'
    fields last base first, so that they come before the sampling ones (`Preset("terse")`)."""

    name: str
    system_prompt: str = ""


@dataclass(frozen=True)
class Preset(Sampling, _Named):
    prompt_format: str | None = None  # a template name (templates.py); None: automatic
    context_length: int | None = None  # None: the chat settings' context
    built_in: bool = False  # shipped with the app: never written, changed or deleted

    def to_dict(self) -> dict:
        """The preset as the file keeps it (settings at their defaults left out; the name, with
        none, always kept)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "built_in" and getattr(self, f.name) != f.default
        }

    @classmethod
    def from_dict(cls, data: Any, *, path: Path | None = None, where: str = "") -> Preset:
        """A validated user preset; PresetError naming the file (`path`) and the field."""

        def fail(name: str, message: str) -> PresetError:
            return PresetError(message, field=".".join(part for part in (where, name) if part), path=path)

        check_fields(cls, data, fail, hidden=("built_in",))
        values = {}
        for key, value in data.items():
            try:
                values[key] = _checked(key, value)
            except ValueError as error:
                raise fail(key, str(error)) from None
        return cls(**values)

    def values(self) -> dict[str, Any]:
        """The preset as chat settings (`chat_options`' and the chat settings panel's names), with
        its prompt format as `template`; a context left to the settings is not named."""
        data = {f.name: getattr(self, f.name) for f in fields(ChatSettings) if hasattr(self, f.name)}
        if self.context_length is None:
            del data["context_length"]
        return {**data, "template": self.prompt_format}

    def summary(self) -> str:
        """One line for lists: the settings that tell presets apart."""
        parts = [f"temp {self.temperature:g}", f"top_p {self.top_p:g}", f"top_k {self.top_k}",
                 f"min_p {self.min_p:g}", f"rep {self.repeat_penalty:g}",
                 f"max {self.max_tokens}"]  # fmt: skip
        seed = None if self.seed < 0 else self.seed  # a random seed is not shown
        named = {"seed": seed, "context": self.context_length, "format": self.prompt_format}
        return ", ".join(parts + [f"{label} {value}" for label, value in named.items() if value is not None])


def _checked(name: str, value: Any) -> Any:
    """`value` for the preset field `name`; ValueError saying what is expected."""
    if name == "name":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("a preset needs a name")
        if one_line(value, NAME_LIMIT) != value:
            raise ValueError(
                f"one line of at most {NAME_LIMIT} characters, without control characters, "
                "runs of spaces or spaces at its ends"
            )
        return value
    if name == "system_prompt":
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {value!r}")
        return value
    if name == "prompt_format":
        formats = [n for _, n in template_choices()]
        if value is not None and value not in formats:
            raise ValueError(f"unknown prompt format {value!r} (known: {', '.join(formats)})")
        return value
    if name == "context_length" and value is None:
        return None
    low, high = CHAT_LIMITS[name]
    integral = isinstance(low, int)
    kind = "a whole number" if integral else "a number"
    number_types = (int,) if integral else (int, float)
    if isinstance(value, bool) or not isinstance(value, number_types) or not low <= value <= high:
        raise ValueError(f"expected {kind} from {low:g} to {high:g}, got {value!r}")
    return value if integral else float(value)


# Published starting points: llama.cpp's defaults (balanced); low temperature with min_p
# (Nguyen et al., "Min P Sampling", 2024) for precise answers and code; a high temperature kept
# coherent by min_p 0.1, with top_k/top_p off, for creative writing.
BUILT_IN: tuple[Preset, ...] = (
    Preset(
        "precise",
        system_prompt="Answer accurately and concisely. When you are not sure, say so.",
        temperature=0.2, top_p=0.9, top_k=20, min_p=0.1, built_in=True,
    ),
    Preset("balanced", built_in=True),
    Preset(
        "creative",
        temperature=1.1, top_p=1.0, top_k=0, min_p=0.1, repeat_penalty=1.05, max_tokens=1024,
        built_in=True,
    ),
    Preset(
        "code",
        system_prompt=(
            "You are a careful programming assistant. Answer with correct, complete code in "
            "fenced blocks that name their language, then explain it briefly."
        ),
        # Code repeats names and brackets on purpose: a repeat penalty would bend it.
        temperature=0.2, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.0, max_tokens=1024,
        built_in=True,
    ),
)  # fmt: skip


def model_key(spec: str) -> str:
    """What a default preset is kept under: a GGUF file's stem (wherever the file is), else the
    catalogue id or URL#MODEL; case does not matter."""
    if spec.lower().endswith(".gguf"):
        spec = Path(spec).name[: -len(".gguf")]
    return spec.strip().lower()


def copy_name(name: str, taken: set[str]) -> str:
    """A free name for a copy of `name`: "name copy", "name copy 2", ..."""
    base = f"{name[: NAME_LIMIT - len(' copy 99')]} copy"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base} {number}", number + 1
    return candidate


def sampling_overrides(preset: Preset, shared: SamplingOptions) -> dict[str, Any]:
    """The sampling settings in which `preset` differs from `shared`: a compared model's own
    (a comparison shares its system prompt, prompt format and context). A random seed is left
    to the comparison's, which is recorded so that a re-run gives the same answers."""
    own = chat_options(ChatSettings(), preset.values())[1].to_dict()
    theirs = shared.to_dict()
    return {k: v for k, v in own.items() if v != theirs[k] and not (k == "seed" and v is None)}


class PresetBook:
    """The built-in presets and the user's, and a default preset per model; changes are written
    to the file at once (StorageError when they cannot be: the book is left as it was)."""

    def __init__(
        self,
        path: Path,
        user: tuple[Preset, ...] = (),
        defaults: Mapping[str, str] | None = None,
        error: PresetError | None = None,
    ) -> None:
        self.path = path
        self.error = error  # the file's error: built-ins only, and nothing is written
        self._user = list(user)
        self._defaults = dict(defaults or {})

    @classmethod
    def load(cls, path: Path) -> PresetBook:
        """The book in `path` (none there: the built-ins alone); never raises (see `error`)."""
        try:
            user, defaults = _read(path)
        except PresetError as error:
            return cls(path, error=error)
        return cls(path, user, defaults)

    # -- reading ------------------------------------------------------------------------------

    def presets(self) -> list[Preset]:
        """The built-ins first, then the user's in the order they were made."""
        return [*BUILT_IN, *self._user]

    def names(self) -> list[str]:
        return [p.name for p in self.presets()]

    def find(self, name: str) -> Preset | None:
        return next((p for p in self.presets() if p.name == name), None)

    def get(self, name: str) -> Preset:
        """The preset called `name`; PresetError naming the known ones (or the file's error,
        while the file is bad and `name` is not built in: it may be one of the user's)."""
        preset = self.find(name)
        if preset is not None:
            return preset
        if self.error is not None:
            raise self.error
        raise PresetError(f"no preset named {name!r} (presets: {', '.join(self.names())})")

    def default_for(self, spec: str) -> Preset | None:
        """The default preset of a model (a path, catalogue id or URL#MODEL), if it has one."""
        name = self._defaults.get(model_key(spec))
        return None if name is None else self.find(name)

    def defaults(self) -> dict[str, str]:
        """Model key -> preset name."""
        return dict(self._defaults)

    # -- changing -----------------------------------------------------------------------------

    def create(self, preset: Preset) -> Preset:
        preset = self._valid(preset)
        self._refuse_taken(preset.name)
        return self._save([*self._user, preset], self._defaults, preset)

    def edit(self, name: str, changed: Preset) -> Preset:
        """Save `changed` in place of the preset `name`. A built-in stays as it is: the changes
        become a preset of your own (named as a copy when they keep the built-in's name)."""
        original = self.get(name)
        changed = self._valid(changed)
        if original.built_in:
            if changed.name == name:
                changed = replace(changed, name=copy_name(name, set(self.names())))
            return self.create(changed)
        if changed.name != name:
            self._refuse_taken(changed.name)
        user = [changed if p.name == name else p for p in self._user]
        defaults = {model: changed.name if n == name else n for model, n in self._defaults.items()}
        return self._save(user, defaults, changed)

    def duplicate(self, name: str) -> Preset:
        original = self.get(name)
        copy = replace(original, name=copy_name(name, set(self.names())), built_in=False)
        return self.create(copy)

    def rename(self, name: str, new_name: str) -> Preset:
        original = self._own(name, "renamed")
        return self.edit(name, replace(original, name=new_name))

    def delete(self, name: str) -> None:
        self._own(name, "deleted")
        user = [p for p in self._user if p.name != name]
        defaults = {model: n for model, n in self._defaults.items() if n != name}
        self._save(user, defaults, None)

    def set_default(self, spec: str, name: str | None) -> None:
        """Make `name` the default preset of a model (None: no default)."""
        defaults = {k: v for k, v in self._defaults.items() if k != model_key(spec)}
        if name is not None:
            defaults[model_key(spec)] = self.get(name).name
        self._save(self._user, defaults, None)

    def _own(self, name: str, doing: str) -> Preset:
        preset = self.get(name)
        if preset.built_in:
            raise PresetError(f"{name!r} is built in and cannot be {doing}: duplicate it to make your own")
        return preset

    def _valid(self, preset: Preset) -> Preset:
        """`preset` checked as the file would check it, as a user preset."""
        return Preset.from_dict(replace(preset, built_in=False).to_dict())

    def _refuse_taken(self, name: str) -> None:
        if self.find(name) is not None:
            raise PresetError(f"a preset named {name!r} already exists", field="name")

    def _save(self, user: list[Preset], defaults: dict[str, str], result):
        if self.error is not None:
            raise self.error  # never write over a file the user has to fix first
        write_yaml(self.path, {"presets": [p.to_dict() for p in user], "defaults": defaults})
        self._user, self._defaults = user, defaults
        return result


def _read(path: Path) -> tuple[tuple[Preset, ...], dict[str, str]]:
    if not path.exists():
        return (), {}
    data = read_yaml(path, lambda where, message: PresetError(message, field=where, path=path))
    if not isinstance(data, dict) or not set(data) <= {"presets", "defaults"}:
        raise PresetError("expected a mapping with `presets:` and `defaults:`", path=path)
    items = data.get("presets") or []
    if not isinstance(items, list):
        raise PresetError("expected a list", field="presets", path=path)
    presets: list[Preset] = []
    for index, item in enumerate(items):
        preset = Preset.from_dict(item, path=path, where=f"presets[{index}]")
        if preset.name in {p.name for p in (*BUILT_IN, *presets)}:
            raise PresetError(
                f"the name {preset.name!r} is taken (built in, or twice in the file)",
                field=f"presets[{index}].name", path=path,
            )  # fmt: skip
        presets.append(preset)
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in defaults.items()
    ):
        raise PresetError("expected a mapping of model -> preset name", field="defaults", path=path)
    return tuple(presets), {model_key(k): v for k, v in defaults.items()}
