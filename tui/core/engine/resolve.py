"""`open_backend(spec)`: from what a user types (CLI argument, chat picker) to a `Backend`.

A spec is one of:

- a path to a `.gguf` file (the first part of a split model);
- `URL#MODEL` or `ENDPOINT#MODEL`: a model on an OpenAI-compatible server (see `remote.py`);
- a catalogue model id, a Hugging Face repository id (`owner/repo`), a repository file
(`owner/repo/file.gguf`) or a file name (`file.gguf`): its file on this machine as
`tui.core.models.library` finds them (the Hugging Face cache and the user's model folders; a folder
file belongs to a repository when its name starts with the repository's model name), the one used or
downloaded last when there are several; `SPEC:QUANT` (e.g. `TheBloke/Mistral-7B-Instruct-v0.2-GGUF:Q5_K_M`)
picks a quantization.

Nothing is downloaded here: a model that is not on this machine is a clear "not_found" error,
`NotDownloaded`, which names what to download (the app offers the download, the CLI names the
command).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core.engine.base import Backend, EngineError, LoadOptions
from tui.core.models.library import scan

if TYPE_CHECKING:
    from tui.core.catalogue import Catalogue
    from tui.core.config.context import AppContext
    from tui.core.engine.templates import ChatTemplate


@dataclass(frozen=True)
class LocalModel:
    path: Path
    family_hint: str | None = None  # the catalogue's prompt format, when the model is in it


class NotDownloaded(EngineError):
    """A catalogue model or Hub repository with no file on this machine; `name` is what to fetch."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message, "not_found")
        self.name = name


def open_backend(
    spec: str,
    context: AppContext,
    *,
    load: LoadOptions | None = None,
    template: str | None = None,
    catalogue: Catalogue | None = None,
) -> Backend:
    """A backend for `spec`, not loaded yet (call `load()`, in a worker thread). Raises EngineError.

    `context`: the endpoints a remote spec may name, the model folders a local one is looked in."""
    spec = spec.strip()
    if not spec:
        raise EngineError("no model given", "not_found")
    if is_remote(spec):
        from tui.core.engine.remote import open_remote

        return open_remote(spec, context.settings)
    from tui.core.engine.local import LocalBackend

    model = find_local(spec, catalogue, context)
    return LocalBackend(model.path, load, template, family_hint=model.family_hint)


def is_remote(spec: str) -> bool:
    """Whether a model spec is remote, the one definition: `URL#MODEL` or `ENDPOINT#MODEL`. An
    existing file whose name has a '#' stays a file; an unknown endpoint or an empty model is still
    remote, so opening it says what is wrong with it."""
    return "#" in spec and not Path(spec).expanduser().is_file()


def find_local(
    spec: str, catalogue: Catalogue | None = None, context: AppContext | None = None
) -> LocalModel:
    """The GGUF file a local spec names. Raises EngineError("not_found") with what to do instead.

    `context`: where to look (its paths and the user's model folders) besides the Hugging Face
    cache; None: `spec` must be a file."""
    path = Path(spec).expanduser()
    if path.is_file():
        return LocalModel(path)
    if path.is_dir():
        raise EngineError(f"{spec} is a folder, not a GGUF file", "bad_file")
    if context is None or spec.startswith(("/", ".", "~")):
        raise EngineError(f"no such file: {spec}", "not_found")

    name, _, quant = spec.partition(":")
    parts = name.split("/")
    repos, hint = _repos_for(name, catalogue)
    if not repos and len(parts) >= 3 and name.lower().endswith(".gguf"):
        repos = ["/".join(parts[:2])]  # owner/repo/file.gguf
    elif not repos and len(parts) == 2:
        repos = [name]
    elif not repos and not (len(parts) == 1 and name.lower().endswith(".gguf")):
        raise EngineError(
            f"{spec!r} is not a file, a catalogue model or a Hugging Face repository id", "not_found"
        )
    model_dirs = context.settings.model_dirs
    found = list(scan(context.paths, model_dirs).models)
    if repos:
        wanted = {r.lower() for r in repos}
        stems = tuple(model_stem(r) for r in repos)
        found = [
            m
            for m in found
            if (m.repo_id or "").lower() in wanted
            or (m.source == "folder" and m.name.lower().startswith(stems))
        ]
    if name.lower().endswith(".gguf"):
        # owner/repo/sub/file.gguf: that path in the repository; file.gguf: a file of that name
        tail = "/" + ("/".join(parts[2:]) if len(parts) >= 3 else name).lower()
        found = [m for m in found if m.path.as_posix().lower().endswith(tail)]
    if quant:
        found = [m for m in found if m.quant == quant.upper()]
    if not found:
        folders = " and your model folders" if model_dirs else ""
        if not repos:
            raise EngineError(f"no file named {name} in the Hugging Face cache{folders}", "not_found")
        what = f"{name} ({quant.upper()})" if quant else name
        raise NotDownloaded(
            f"{what} is not downloaded (looked in the Hugging Face cache for {', '.join(repos)}{folders})",
            name,
        )
    # The one used last, else downloaded last: what a user who just fetched a quant means.
    chosen = max(found, key=lambda m: (m.last_used or 0, _mtime(m.path)))
    return LocalModel(chosen.path, hint)


def local_format(
    spec: str, catalogue: Catalogue | None, context: AppContext, choice: str | None = None
) -> tuple[Path, ChatTemplate]:
    """The GGUF file a local spec names, its header checked as `LocalBackend` checks it, and the
    prompt format a `LocalBackend` answers it in (`choose_template` with the catalogue's hint, as the
    worker calls it). EngineError for a model that cannot be used; TemplateError for a `choice` it
    cannot take."""
    from tui.core.engine.templates import choose_template
    from tui.core.models.gguf_header import GgufHeaderError, check_local

    model = find_local(spec, catalogue, context)
    try:
        header = check_local(model.path)
    except GgufHeaderError as error:
        raise EngineError(str(error), error.kind) from None
    return model.path, choose_template(header.string_metadata(), model.path.name, choice, model.family_hint)


def model_stem(repo_id: str) -> str:
    """`TheBloke/Mistral-7B-Instruct-v0.2-GGUF` -> `mistral-7b-instruct-v0.2`: its files' prefix."""
    stem = repo_id.split("/")[-1].lower()
    return stem.removesuffix("-gguf").removesuffix("_gguf").removesuffix(".gguf")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _repos_for(name: str, catalogue: Catalogue | None) -> tuple[list[str], str | None]:
    """The GGUF repositories of a catalogue model (its `gguf.repo` and alternatives), and its format."""
    if catalogue is None:
        return [], None
    lowered = name.lower()
    for model in catalogue.models:
        if model.id.lower() == lowered or (model.gguf.repo or "").lower() == lowered:
            repos = [r for r in (model.gguf.repo, *model.gguf.alternatives) if r]
            return repos, model.prompt_format
    return [], None
