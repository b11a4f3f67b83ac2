"""`open_backend(spec)`: from what a user types (CLI argument, chat picker) to a `Backend`.

A spec is one of:

- a path to a `.gguf` file (the first part of a split model);
- `URL#MODEL` or `ENDPOINT#MODEL`: a model on an OpenAI-compatible server (see `remote.py`);
- a catalogue model id, a Hugging Face repository id (`owner/repo`), or a repository file
(`owner/repo/file.gguf`): its file in the local Hugging Face cache, the one downloaded last when
there are several; `SPEC:QUANT` (e.g. `TheBloke/Mistral-7B-Instruct-v0.2-GGUF:Q5_K_M`) picks a
quantization.

Nothing is downloaded here: a model that is not on this machine is a clear "not_found" error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tui.core.engine.base import Backend, EngineError, LoadOptions


@dataclass(frozen=True)
class LocalModel:
    path: Path
    repo_id: str | None = None
    family_hint: str | None = None  # the catalogue's prompt format, when the model is in it


def open_backend(
    spec: str,
    *,
    load: LoadOptions | None = None,
    template: str | None = None,
    settings=None,
    catalogue=None,
) -> Backend:
    """A backend for `spec`, not loaded yet (call `load()`, in a worker thread). Raises EngineError."""
    spec = spec.strip()
    if not spec:
        raise EngineError("no model given", "not_found")
    if is_remote(spec):
        from tui.core.engine.remote import open_remote

        if settings is None:
            from tui.core.paths import app_paths
            from tui.core.settings import load_settings

            settings = load_settings(app_paths().settings_file)
        return open_remote(spec, settings)
    from tui.core.engine.local import LocalBackend

    model = find_local(spec, catalogue)
    return LocalBackend(model.path, load, template, family_hint=model.family_hint)


def is_remote(spec: str) -> bool:
    """`URL#MODEL` or `ENDPOINT#MODEL` (an existing file whose name has a '#' stays a file)."""
    return "#" in spec and not Path(spec).expanduser().is_file()


def find_local(spec: str, catalogue=None) -> LocalModel:
    """The GGUF file a local spec names. Raises EngineError("not_found") with what to do instead."""
    path = Path(spec).expanduser()
    if path.is_file():
        return LocalModel(path)
    if path.is_dir():
        raise EngineError(f"{spec} is a folder, not a GGUF file", "bad_file")
    parts = spec.split("/")
    is_repo_file = len(parts) >= 3 and not spec.startswith(("/", ".", "~"))
    if spec.startswith(("/", ".", "~")) or (spec.lower().endswith(".gguf") and not is_repo_file):
        raise EngineError(f"no such file: {spec}", "not_found")

    name, _, quant = spec.partition(":")
    repos, hint = _repos_for(name, catalogue)
    wanted_file = None
    if not repos:
        if is_repo_file and name.lower().endswith(".gguf"):
            repos, wanted_file = ["/".join(parts[:2])], "/".join(name.split("/")[2:])
        elif len(name.split("/")) == 2:
            repos = [name]
        else:
            raise EngineError(
                f"{spec!r} is not a file, a catalogue model or a Hugging Face repository id",
                "not_found",
            )
    cached = _cached_ggufs(repos)
    if wanted_file is not None:
        cached = [c for c in cached if c[1] == wanted_file]
    if quant:
        from tui.core.hub import parse_quant

        cached = [c for c in cached if parse_quant(c[1]) == quant.upper()]
    if not cached:
        what = f"{name} ({quant.upper()})" if quant else name
        raise EngineError(
            f"{what} is not downloaded: run `llmtui download {name}` (looked in the Hugging Face cache for "
            f"{', '.join(repos)})",
            "not_found",
        )
    # The one downloaded last: what a user who just fetched a quant means.
    repo_id, _, file_path, _ = max(cached, key=lambda c: c[3])
    return LocalModel(file_path, repo_id, hint)


def _repos_for(name: str, catalogue) -> tuple[list[str], str | None]:
    """The GGUF repositories of a catalogue model (its `gguf.repo` and alternatives), and its format."""
    if catalogue is None:
        return [], None
    lowered = name.lower()
    for model in catalogue.models:
        if model.id.lower() == lowered or (model.gguf.repo or "").lower() == lowered:
            repos = [r for r in (model.gguf.repo, *model.gguf.alternatives) if r]
            return repos, model.prompt_format
    return [], None


def _cached_ggufs(repos: list[str]) -> list[tuple[str, str, Path, float]]:
    """(repo id, file name in the repo, path, last modified) of the complete GGUFs cached for `repos`."""
    from huggingface_hub import CacheNotFound, scan_cache_dir

    from tui.core.hub import cache_dir, group_files

    try:
        info = scan_cache_dir(cache_dir())
    except CacheNotFound:
        return []
    wanted = {r.lower() for r in repos}
    found = []
    for repo in info.repos:
        if repo.repo_type != "model" or repo.repo_id.lower() not in wanted:
            continue
        for revision in repo.revisions:
            files = {
                f.file_path.relative_to(revision.snapshot_path).as_posix(): f
                for f in revision.files
            }
            groups, _ = group_files(
                repo.repo_id, ((name, f.size_on_disk, None) for name, f in files.items())
            )
            for group in groups:
                if group.complete:
                    first = files[group.first]
                    found.append(
                        (repo.repo_id, group.first, first.file_path, first.blob_last_modified)
                    )
    return found
