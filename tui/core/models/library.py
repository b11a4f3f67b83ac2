"""The GGUF files on this machine: the Hugging Face cache, llmtui's own models folder
(`AppPaths.models_dir`) and the folders the user adds. The caller hands in the app's paths.

The cache is read with huggingface-hub's `scan_cache_dir` (only verified, finished files live in its
snapshots; partial downloads never do). A split model (`-00001-of-00003.gguf`) is one entry whose
path is its first part. "Last used" lives in a small JSON file in the data folder; chat calls
`mark_used`. Deleting removes the snapshot links and every blob no other snapshot still points to,
so the disk space really comes back."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tui.core.config.paths import AppPaths
from tui.core.models import hub
from tui.core.storage import StorageError, read_json_object, write_atomic

_LOCK = threading.Lock()


@dataclass(frozen=True)
class LocalModel:
    path: Path  # what to open (a split's first part)
    parts: tuple[Path, ...]
    name: str
    size: int
    quant: str | None
    source: Literal["cache", "folder"]
    repo_id: str | None = None  # the Hub repository, for cached files
    last_used: float | None = None

    @property
    def label(self) -> str:
        return f"{self.repo_id}/{self.name}" if self.repo_id else str(self.path)


@dataclass(frozen=True)
class Library:
    models: tuple[LocalModel, ...]

    @property
    def total_size(self) -> int:
        return sum(m.size for m in self.models)


def _usage_file(paths: AppPaths) -> Path:
    return paths.data_dir / "last_used.json"


def _key(path: Path) -> str:
    return str(Path(path).resolve())


def _read_usage(paths: AppPaths) -> dict[str, float]:
    usage = read_json_object(_usage_file(paths))
    return {k: v for k, v in usage.items() if isinstance(v, (int, float))}


def _write_usage(paths: AppPaths, data: dict[str, float]) -> None:
    write_atomic(_usage_file(paths), json.dumps(data, indent=0))


def mark_used(paths: AppPaths, path: Path | str, when: float | None = None) -> None:
    """Record that a model file was opened (chat calls this)."""
    with _LOCK:
        data = _read_usage(paths)
        data[_key(Path(path))] = time.time() if when is None else when
        try:
            _write_usage(paths, data)
        except StorageError:
            pass  # only the order My models lists files in: a full disk must not stop a chat


def _group(files: Iterable[tuple[Path, int]]) -> list[tuple[str, list[tuple[Path, int]]]]:
    """(display name, parts) with split parts grouped by folder and common name."""
    groups: dict[tuple[Path, str], list[tuple[int, Path, int]]] = {}
    for path, size in files:
        m = hub.SPLIT_PART.match(path.name)
        name, index = (m["base"] + ".gguf", int(m["i"])) if m else (path.name, 0)
        groups.setdefault((path.parent, name), []).append((index, path, size))
    return [
        (name, [(p, s) for _, p, s in sorted(parts, key=lambda r: r[0])])
        for (_, name), parts in groups.items()
    ]


def _cache_models(cache: Path, usage: dict[str, float]) -> list[LocalModel]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache)
    except CacheNotFound:
        return []
    models = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        seen: set[Path] = set()
        files = []
        for revision in sorted(repo.revisions, key=lambda r: -r.last_modified):
            for f in revision.files:
                if f.file_name.lower().endswith(".gguf") and f.blob_path not in seen:
                    seen.add(f.blob_path)
                    files.append((f.file_path, f.size_on_disk))
        for name, parts in _group(files):
            models.append(_model(name, parts, "cache", usage, repo.repo_id))
    return models


def _folder_models(folders: Iterable[str], usage: dict[str, float]) -> list[LocalModel]:
    found: list[tuple[Path, int]] = []
    seen: set[Path] = set()
    for folder in folders:
        root = Path(folder).expanduser()
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for filename in filenames:
                path = Path(dirpath) / filename
                if filename.lower().endswith(".gguf") and path.resolve() not in seen:
                    seen.add(path.resolve())
                    try:
                        found.append((path, path.stat().st_size))
                    except OSError:
                        continue
    return [_model(name, parts, "folder", usage) for name, parts in _group(found)]


def _model(name, parts, source, usage, repo_id=None) -> LocalModel:
    used = [usage.get(_key(p)) for p, _ in parts]
    return LocalModel(
        path=parts[0][0],
        parts=tuple(p for p, _ in parts),
        name=name,
        size=sum(s for _, s in parts),
        quant=hub.parse_quant(name),
        source=source,
        repo_id=repo_id,
        last_used=max((u for u in used if u is not None), default=None),
    )


def scan(paths: AppPaths, model_dirs: Iterable[str] = (), cache: Path | None = None) -> Library:
    """Every GGUF here (the Hugging Face cache, llmtui's own models folder, `model_dirs`), most
    recently used first, then by name. Never touches the network."""
    usage = _read_usage(paths)
    folders = (str(paths.models_dir), *model_dirs)
    models = _cache_models(cache or hub.cache_dir(), usage) + _folder_models(folders, usage)
    models.sort(key=lambda m: (-(m.last_used or 0), m.label.lower()))
    return Library(tuple(models))


def delete(paths: AppPaths, model: LocalModel, cache: Path | None = None) -> int:
    """Delete a model's files; returns the bytes freed on disk."""
    freed = 0
    if model.source == "folder":
        for part in model.parts:
            freed += part.stat().st_size
            part.unlink()
    else:
        freed = _delete_cached(model, (cache or hub.cache_dir()).resolve())
    with _LOCK:
        usage = _read_usage(paths)
        if any(usage.pop(_key(p), None) is not None for p in model.parts):
            _write_usage(paths, usage)
    return freed


def _delete_cached(model: LocalModel, cache: Path) -> int:
    freed = 0
    for pointer in model.parts:
        snapshot_root = next(p for p in pointer.parents if p.name == "snapshots")
        repo_folder = snapshot_root.parent
        if not repo_folder.resolve().is_relative_to(cache):
            raise ValueError(f"{pointer} is not in the Hugging Face cache")
        blob = pointer.resolve()
        pointer.unlink()
        still_used = any(
            p.is_symlink() and p.resolve() == blob for p in snapshot_root.rglob("*") if p != pointer
        )
        if not still_used and blob.exists() and blob.is_relative_to(repo_folder.resolve()):
            freed += blob.stat().st_size
            blob.unlink()
        _prune(pointer.parent, snapshot_root)
        if not any(snapshot_root.iterdir()):
            shutil.rmtree(repo_folder)  # nothing left of this repository: refs and all
    return freed


def _prune(folder: Path, stop: Path) -> None:
    while folder != stop and folder.exists() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
