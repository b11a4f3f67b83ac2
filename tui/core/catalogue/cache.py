"""The validated catalogue as JSON in the cache folder, read back while its sources are unchanged.

Data, not code: unlike pickle, a cache file cannot run anything. Dataclasses, tuples, dicts and paths
are tagged objects; every other value is a JSON scalar.
"""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from tui.core.catalogue import schema
from tui.core.catalogue.schema import Catalogue
from tui.core.storage import StorageError, write_atomic

# Every object of the schema, by name: a cache file names the class of each object it holds.
_CACHED_TYPES = {
    name: cls for name, cls in vars(schema).items() if isinstance(cls, type) and is_dataclass(cls)
}


def _to_json(value: Any) -> Any:
    if is_dataclass(value):
        return {
            "$": type(value).__name__,
            **{f.name: _to_json(getattr(value, f.name)) for f in fields(value) if f.init},
        }
    if isinstance(value, tuple):
        return {"$": "tuple", "items": [_to_json(item) for item in value]}
    if isinstance(value, dict):  # keys are catalogue strings: kept out of JSON object keys
        return {"$": "dict", "items": [[key, _to_json(item)] for key, item in value.items()]}
    if isinstance(value, Path):
        return {"$": "path", "value": str(value)}
    return value


def _from_json(obj: dict[str, Any]) -> Any:
    tag = obj.pop("$", None)
    if tag is None:
        return obj
    if tag == "tuple":
        return tuple(obj["items"])
    if tag == "dict":
        return dict(obj["items"])
    if tag == "path":
        return Path(obj["value"])
    return _CACHED_TYPES[tag](**obj)


class CatalogueCache:
    """``catalogue.json`` in the cache folder, valid for the files' paths, sizes and mtimes."""

    def __init__(self, folder: Path, path: Path, overlay_path: Path | None) -> None:
        self.file = folder / "catalogue.json"
        try:
            # The code that builds and reads the objects is a source too: a new llmtui rebuilds the cache.
            code = [Path(schema.__file__), Path(__file__).with_name("loader.py"), Path(__file__)]
            sources = code + [path] + ([overlay_path] if overlay_path else [])
            self.key = [
                [str(source), str(source.resolve()), stat.st_size, stat.st_mtime_ns]
                for source in sources
                for stat in [source.stat()]
            ]
        except OSError:  # a missing file: loading reports it
            self.key = None

    def read(self) -> Catalogue | None:
        if self.key is None:
            return None
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"), object_hook=_from_json)
            catalogue = data["catalogue"] if data["key"] == self.key else None
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError):
            return None  # absent, unreadable or from another version: load the YAML
        return catalogue if isinstance(catalogue, Catalogue) else None

    def write(self, catalogue: Catalogue) -> None:
        if self.key is None:
            return
        text = json.dumps({"key": self.key, "catalogue": _to_json(catalogue)}, ensure_ascii=False)
        try:
            write_atomic(self.file, text)  # a concurrent start reads the old file or the new one
        except StorageError:
            pass  # no cache this time; the next start loads the YAML again
