"""Will it load here? Asked of the installed llama.cpp before any weights are fetched.

The file's header (key/values and tensor table, never tensor data) is read from the Hub with Range
requests and written into a sparse file as long as the real one, so llama.cpp's "tensor data within
the file's bounds" check passes; llama.cpp then loads its vocabulary only, in a child process (a bad
file can abort the process that loads it: docs/dependencies.md). Whether it knows the architecture
and the GGUF version is llama.cpp's own answer, with its log line as the reason, not a list kept
here. Verdicts are cached per file (repository, name, sha256 or commit) and llama.cpp version.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core.storage import StorageError, read_json_object, write_atomic

if TYPE_CHECKING:
    from tui.core.models.hub import QuantFile

PROBE_TIMEOUT = 120  # seconds: a vocabulary load takes well under one
_REASON_WORDS = ("error", "unknown", "unsupported", "invalid", "failed", "version")
_GGML_LOG_LEVEL_ERROR = 4
_PREAMBLE = "error loading model: "
_FUNCTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*: ")


@dataclass(frozen=True)
class LoadVerdict:
    loadable: bool
    architecture: str | None
    gguf_version: int
    llama_cpp_version: str
    reason: str = ""  # llama.cpp's words when it refused
    fetched: int = 0  # header bytes read from the Hub for this answer (0: from the cache)

    def refusal(self, name: str) -> str:
        """One line: what cannot be loaded, by which llama.cpp, and why."""
        arch = f"architecture {self.architecture!r}" if self.architecture else "its format"
        because = f" ({self.reason})" if self.reason else ""
        return (
            f"{name}: llama.cpp {self.llama_cpp_version} cannot load {arch} "
            f"(GGUF v{self.gguf_version}){because}"
        )


def llama_cpp_version() -> str:
    """The installed llama-cpp-python's version, without loading the library."""
    from importlib import metadata

    try:
        return metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return "(not installed)"


class VerdictCache:
    """`loadable.json` in the cache folder: verdicts by file and llama.cpp version."""

    def __init__(self, folder: Path) -> None:
        self.file = folder / "loadable.json"

    @staticmethod
    def key(file: QuantFile, commit: str | None, version: str) -> str:
        identity = file.parts[0].sha256 or commit or ""
        return json.dumps([file.repo_id, file.name, identity, version])

    def get(self, key: str) -> LoadVerdict | None:
        found = read_json_object(self.file).get(key)
        try:
            return LoadVerdict(**{**found, "fetched": 0}) if isinstance(found, dict) else None
        except TypeError:  # written by another version
            return None

    def put(self, key: str, verdict: LoadVerdict) -> None:
        data = read_json_object(self.file)
        data[key] = asdict(verdict)
        try:
            write_atomic(self.file, json.dumps(data, ensure_ascii=False))
        except StorageError:
            pass  # only a cache: asked again next time


def check(
    file: QuantFile,
    revision: str | None = None,
    *,
    commit: str | None = None,
    cache: VerdictCache | None = None,
) -> LoadVerdict:
    """Whether the installed llama.cpp can load `file` (HubError / GgufHeaderError when its header
    cannot be read, or its size is unknown)."""
    # Imported here: the child process that runs this module needs only llama_cpp (the header
    # parser's `gguf` would add a third of a second to every check).
    from tui.core.models.gguf_header import GgufHeaderError, read_remote_header

    version = llama_cpp_version()
    key = VerdictCache.key(file, commit, version)
    if cache is not None and (known := cache.get(key)) is not None:
        return known
    # The header is in the first part; llama.cpp opens a split's other parts next to it, so each
    # part gets its header. Byte splits are one file cut in pieces: the header is in the first.
    parts = [file.parts[0]] if file.joined else list(file.parts)
    if any(part.size <= 0 for part in file.parts):  # the sparse copy must be as long as the file
        raise GgufHeaderError(f"{file.name}: the Hub did not say how large it is")
    with tempfile.TemporaryDirectory(prefix="llmtui-loadable-") as folder:
        headers = [read_remote_header(file.repo_id, p.filename, revision) for p in parts]
        paths = []
        for part, header in zip(parts, headers, strict=True):
            name = file.name if file.joined else part.filename
            size = file.size if file.joined else part.size
            paths.append(Path(folder) / Path(name).name)
            with paths[-1].open("wb") as out:
                out.write(header.data)
                out.truncate(max(size, len(header.data)))  # sparse: no data blocks written
        loadable, reason = _ask_llama_cpp(paths[0])
    first = headers[0]
    fetched = sum(len(h.data) for h in headers)
    verdict = LoadVerdict(loadable, first.architecture, first.version, version, reason, fetched)
    if cache is not None:
        cache.put(key, verdict)
    return verdict


def _ask_llama_cpp(path: Path) -> tuple[bool, str]:
    """(loaded, llama.cpp's reason when not) for a vocabulary-only load in a child process."""
    env = {**os.environ, "GGML_NO_BACKTRACE": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tui.core.models.loadable", str(path)],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"llama.cpp did not finish reading the header in {PROBE_TIMEOUT}s"
    answer = done.stdout.strip().splitlines()
    if done.returncode == 0 and answer:
        result = json.loads(answer[-1])
        return bool(result["loaded"]), str(result["reason"])
    # The load aborted the process: its last telling line says why.
    return False, _reason(done.stderr.splitlines()) or f"llama.cpp ended with status {done.returncode}"


def _reason(lines: list[str]) -> str:
    """llama.cpp's reason: the first of its error lines (the cause; later ones say that loading
    failed), without the function name ("gguf_init_from_reader: ...") or the loader's preamble
    ("error loading model: ...")."""
    for line in lines:
        line = line.strip()
        if line.startswith("llama_model_loader: - ") or not any(
            word in line.lower() for word in _REASON_WORDS
        ):
            continue  # the metadata dump ("- kv 17: tokenizer.ggml.unknown_token_id ...")
        line = line.split(_PREAMBLE, 1)[1] if _PREAMBLE in line else line
        return _FUNCTION.sub("", line, count=1)
    return ""


def _probe(path: str) -> None:
    """In the child: load only the vocabulary, print {"loaded", "reason"} as one JSON line."""
    import llama_cpp

    errors: list[str] = []

    @llama_cpp.llama_log_callback
    def keep(level, text, user_data):
        line = text.decode("utf-8", "replace")
        if level == _GGML_LOG_LEVEL_ERROR:
            errors.append(line)
        sys.stderr.write(line)  # if the load aborts this process, the parent reads it there

    llama_cpp.llama_log_set(keep, None)
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(path.encode(), params)
    if model:
        llama_cpp.llama_model_free(model)
    reason = "" if model else _reason(errors) or "llama.cpp refused the file"
    print(json.dumps({"loaded": bool(model), "reason": reason}))


if __name__ == "__main__":
    _probe(sys.argv[1])
