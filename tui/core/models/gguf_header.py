"""GGUF headers: the one parser, for a local file or a remote one on the Hub (HTTP range requests).

Two readings share it:

- `read_local` / `read_remote`: the keys that size a model in memory (layers, embedding width,
  attention heads, KV heads, key/value widths, trained context) as a `GgufInfo`. Converters write
  `general.*` and `<arch>.*` keys before the tokenizer's large arrays, so the key/value section is
  read only that far: a remote read usually needs the first few hundred KiB, never more than
  `max_bytes` (8 MiB by default).
- `check_local`: the whole header of a local file (every key and the tensor table) as a `GgufFile`,
  so that before a model is handed to llama.cpp a user is told plainly that a file is not a GGUF, is
  truncated (a download cut short) or uses a tensor type this build does not know. Long arrays (the
  vocabulary) are skipped, not decoded: milliseconds where `gguf.GGUFReader` takes seconds.

Key names and value types come from the `gguf` package, the format's reference implementation; the
parser itself streams, because `gguf.GGUFReader` needs the whole file.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gguf import GGUF_MAGIC, GGUFValueType, Keys, LlamaFileType

from tui.core.errors import LlmtuiError

MAX_BYTES = 8 << 20
_FIRST_READ = 256 << 10
_SCALARS = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h", GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?", GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}  # fmt: skip
_SMALL_ARRAY = 64  # arrays this long or less are kept (per-layer head counts); vocabularies are not
_MAX_COUNT = 1_000_000  # more keys or tensors than this: a corrupted header, not a model


class GgufHeaderError(LlmtuiError):
    """What is wrong with a file; `kind` is "not_found", "bad_file" or "unsupported"."""

    def __init__(self, message: str, kind: str = "bad_file") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class GgufInfo:
    architecture: str
    name: str | None
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: tuple[int, ...]  # per layer (one value repeated when the file gives a single number)
    key_length: int
    value_length: int
    context_length: int | None
    file_type: str | None  # "Q4_K_M", "F16" ... from general.file_type
    sliding_window: int | None = None

    def kv_cache_bytes(self, n_ctx: int, bytes_per_value: int = 2) -> int:
        """Memory of the KV cache for a context (llama.cpp's default cache type is f16)."""
        per_token = sum(h * (self.key_length + self.value_length) for h in self.n_head_kv)
        return per_token * n_ctx * bytes_per_value


@dataclass(frozen=True)
class GgufFile:
    """A local file's whole header, checked (see `check_local`)."""

    path: Path
    version: int
    metadata: dict[str, object]  # scalars, strings and short arrays
    tensor_count: int
    file_size: int
    data_end: int  # the byte just past the last tensor's data

    @property
    def architecture(self) -> str:
        return str(self.metadata.get(Keys.General.ARCHITECTURE, ""))

    @property
    def trained_context(self) -> int | None:
        value = self.metadata.get(Keys.LLM.CONTEXT_LENGTH.format(arch=self.architecture))
        return value if isinstance(value, int) else None

    def sizing(self) -> GgufInfo | None:
        """The keys that size the model in memory; None when the header lacks them."""
        try:
            return _info(self.architecture, self.metadata)
        except GgufHeaderError:
            return None

    def string_metadata(self) -> dict[str, str]:
        """The metadata as llama.cpp reports it to Python: strings only."""
        return {k: v if isinstance(v, str) else str(v) for k, v in self.metadata.items()}


_SKIPPED = object()


@functools.cache
def _struct(fmt: str) -> struct.Struct:
    return struct.Struct(fmt)


class _Reader:
    """Sequential reads over `fetch(offset, n) -> bytes`, buffering what it fetched."""

    def __init__(self, fetch: Callable[[int, int], bytes], max_bytes: int) -> None:
        self.fetch = fetch
        self.max_bytes = max_bytes
        self.buffer = bytearray()
        self.pos = 0
        self.eof = False

    def _fill(self, n: int) -> None:
        while self.pos + n > len(self.buffer):
            if self.eof:
                raise GgufHeaderError(
                    "the file ends inside its header: truncated, or not a complete GGUF file"
                )
            if len(self.buffer) >= self.max_bytes:
                raise GgufHeaderError(
                    f"the header's model keys are not within the first {self.max_bytes >> 20} MiB"
                )
            want = min(
                max(_FIRST_READ, len(self.buffer), self.pos + n - len(self.buffer)),
                self.max_bytes - len(self.buffer),
            )
            data = self.fetch(len(self.buffer), want)
            if len(data) < want:
                self.eof = True
            self.buffer += data

    def take(self, n: int) -> bytes:
        self._fill(n)
        out = bytes(self.buffer[self.pos : self.pos + n])
        self.pos += n
        return out

    def skip(self, n: int) -> None:
        self._fill(n)
        self.pos += n

    def unpack(self, fmt: str):
        layout = _struct(fmt)
        self._fill(layout.size)
        value = layout.unpack_from(self.buffer, self.pos)[0]
        self.pos += layout.size
        return value

    def skip_strings(self, count: int) -> None:
        """Step over `count` strings without decoding them (a vocabulary: tens of thousands)."""
        length_of = _struct("<Q").unpack_from
        buffer, pos, end, limit = self.buffer, self.pos, len(self.buffer), self.max_bytes
        for _ in range(count):
            if pos + 8 > end:
                self.pos = pos
                self._fill(8)  # grows `buffer` in place
                end = len(buffer)
            (length,) = length_of(buffer, pos)
            if length > limit:
                raise GgufHeaderError("a string in the header is longer than the file could hold")
            pos += 8 + length
        self.pos = pos

    def string(self, keep: bool = True) -> str | None:
        length = self.unpack("<Q")
        if length > self.max_bytes:
            raise GgufHeaderError("a string in the header is longer than the file could hold")
        if not keep:
            self.skip(length)
            return None
        return self.take(length).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool = True):
        """The next value: `_SKIPPED` for long arrays (and anything when not `keep`)."""
        try:
            vtype = GGUFValueType(vtype)
        except ValueError:
            raise GgufHeaderError(f"unknown metadata value type {vtype}") from None
        if vtype == GGUFValueType.STRING:
            text = self.string(keep)
            return _SKIPPED if text is None else text
        if vtype != GGUFValueType.ARRAY:
            value = self.unpack(_SCALARS[vtype])
            return value if keep else _SKIPPED
        itype = self.unpack("<I")
        count = self.unpack("<Q")
        keep = keep and count <= _SMALL_ARRAY
        if not keep and itype in _SCALARS:
            self.skip(count * _struct(_SCALARS[GGUFValueType(itype)]).size)  # no decoding
            return _SKIPPED
        if not keep and itype == GGUFValueType.STRING:
            self.skip_strings(count)
            return _SKIPPED
        items = [self.value(itype, keep) for _ in range(count)]
        return items if keep else _SKIPPED


def _key_values(
    reader: _Reader,
    values: dict[str, object],
    enough: Callable[[str, dict[str, object]], bool] | None = None,
) -> tuple[int, int]:
    """(version, tensor count); the keys go into `values` as read, until `enough` says so."""
    if reader.unpack("<I") != GGUF_MAGIC:
        raise GgufHeaderError("not a GGUF file (wrong magic number)")
    version = reader.unpack("<I")
    if version not in (2, 3):
        raise GgufHeaderError(
            f"GGUF version {version} is not supported (llama.cpp reads versions 2 and 3)",
            "unsupported",
        )
    tensor_count = reader.unpack("<Q")
    kv_count = reader.unpack("<Q")
    if tensor_count > _MAX_COUNT or kv_count > _MAX_COUNT:
        raise GgufHeaderError("the GGUF header is corrupted (implausible counts)")
    for _ in range(kv_count):
        key = reader.string()
        value = reader.value(reader.unpack("<I"))
        if value is not _SKIPPED:
            values[key] = value
        if enough is not None and enough(key, values):
            break
    return version, tensor_count


_SIZING = (
    Keys.LLM.BLOCK_COUNT, Keys.LLM.CONTEXT_LENGTH, Keys.LLM.EMBEDDING_LENGTH,
    Keys.Attention.HEAD_COUNT, Keys.Attention.HEAD_COUNT_KV, Keys.Attention.KEY_LENGTH,
    Keys.Attention.VALUE_LENGTH, Keys.Attention.SLIDING_WINDOW,
)  # fmt: skip
_REQUIRED = (Keys.LLM.BLOCK_COUNT, Keys.LLM.EMBEDDING_LENGTH, Keys.Attention.HEAD_COUNT)


def _architecture(values: dict[str, object]) -> str | None:
    arch = values.get(Keys.General.ARCHITECTURE)
    return arch if isinstance(arch, str) else None


def _has_required(arch: str, values: dict[str, object]) -> bool:
    return all(k.format(arch=arch) in values for k in _REQUIRED)


def _sizing_read(key: str, values: dict[str, object]) -> bool:
    """Whether the sizing keys are read (converters write them before the tokenizer's arrays)."""
    arch = _architecture(values)
    if arch is None:
        return False
    if all(k.format(arch=arch) in values for k in _SIZING):
        return True
    return key.startswith("tokenizer.") and _has_required(arch, values)


def parse(fetch: Callable[[int, int], bytes], max_bytes: int = MAX_BYTES) -> GgufInfo:
    """The sizing keys of a GGUF read through `fetch(offset, n)`."""
    reader = _Reader(fetch, max_bytes)
    values: dict[str, object] = {}
    try:
        _key_values(reader, values, _sizing_read)
    except GgufHeaderError:
        # A cut (or a byte limit) after the model's keys still sizes the model.
        arch = _architecture(values)
        if arch is None or not _has_required(arch, values):
            raise
    except (struct.error, ValueError) as error:
        raise GgufHeaderError(f"the GGUF header is malformed ({error})") from None
    arch = _architecture(values)
    if arch is None:
        raise GgufHeaderError("the GGUF header names no architecture")
    return _info(arch, values)


def _info(arch: str, values: dict[str, object]) -> GgufInfo:
    def get(key: str, kind: type | tuple[type, ...] = int):
        """The value of `key` (`{arch}` filled in) when it is a `kind`, else None."""
        value = values.get(key.format(arch=arch))
        return value if isinstance(value, kind) else None

    def need(key: str) -> int:
        value = get(key)
        if value is None or value <= 0:
            raise GgufHeaderError(f"the GGUF header has no {key.format(arch=arch)}")
        return value

    n_layer = need(Keys.LLM.BLOCK_COUNT)
    n_embd = need(Keys.LLM.EMBEDDING_LENGTH)
    heads = get(Keys.Attention.HEAD_COUNT, (int, list))
    if isinstance(heads, list):  # per-layer head counts (OpenELM and kin)
        heads = max(heads) if heads else None
    if not isinstance(heads, int) or heads <= 0:
        raise GgufHeaderError(f"the GGUF header has no {arch}.attention.head_count")
    kv = get(Keys.Attention.HEAD_COUNT_KV, (int, list))
    n_head_kv = tuple(kv) if isinstance(kv, list) else (heads if kv is None else kv,) * n_layer
    key_length = get(Keys.Attention.KEY_LENGTH)
    value_length = get(Keys.Attention.VALUE_LENGTH)
    head_dim = n_embd // heads
    try:  # an unknown or missing file type is no file type
        ftype = LlamaFileType(values.get(Keys.General.FILE_TYPE)).name
    except ValueError:
        ftype = None
    return GgufInfo(
        architecture=arch,
        name=get(Keys.General.NAME, str),
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=heads,
        n_head_kv=n_head_kv,
        key_length=head_dim if key_length is None else key_length,
        value_length=head_dim if value_length is None else value_length,
        context_length=get(Keys.LLM.CONTEXT_LENGTH),
        file_type=ftype and ftype.removeprefix("MOSTLY_").removeprefix("ALL_"),
        sliding_window=get(Keys.Attention.SLIDING_WINDOW),
    )


def _file_fetch(handle) -> Callable[[int, int], bytes]:
    def fetch(offset: int, n: int) -> bytes:
        handle.seek(offset)
        return handle.read(n)

    return fetch


def read_local(path: Path, max_bytes: int = MAX_BYTES) -> GgufInfo:
    with Path(path).open("rb") as f:
        return parse(_file_fetch(f), max_bytes)


def _tensor_table(reader: _Reader, tensor_count: int, check_types: bool = True) -> int:
    """Read the tensor infos; the end of the last tensor's data, from the start of the data
    (0 without `check_types`: types the `gguf` package does not know are then let through)."""
    import gguf

    tensor_end = 0
    for _ in range(tensor_count):
        name = reader.string()
        n_dims = reader.unpack("<I")
        if n_dims > 8:
            raise GgufHeaderError(f"tensor {name!r} has {n_dims} dimensions: corrupted")
        dims = [reader.unpack("<Q") for _ in range(n_dims)]
        ggml_type = reader.unpack("<I")
        offset = reader.unpack("<Q")
        if not check_types:
            continue
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ggml_type)]
        except (ValueError, KeyError):
            raise GgufHeaderError(
                f"tensor {name!r} has type {ggml_type}, unknown to this version",
                "unsupported",
            ) from None
        count = 1
        for dim in dims:
            count *= dim
        tensor_end = max(tensor_end, offset + count // block * type_size)
    return tensor_end


def _data_start(header_end: int, metadata: dict[str, object]) -> int:
    """Where tensor data begins: the header's end, aligned."""
    alignment = metadata.get(Keys.General.ALIGNMENT, 32)
    alignment = alignment if isinstance(alignment, int) and alignment > 0 else 32
    return -(-header_end // alignment) * alignment


def check_local(path: Path) -> GgufFile:
    """Read and check a local file's whole header; GgufHeaderError says plainly what is wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except FileNotFoundError:
        raise GgufHeaderError(f"no such file: {path}", "not_found") from None
    except IsADirectoryError:
        raise GgufHeaderError(f"{path} is a folder, not a GGUF file") from None
    except OSError as error:
        raise GgufHeaderError(f"cannot read {path}: {error.strerror or error}") from None
    with handle, _naming(path.name):
        reader = _Reader(_file_fetch(handle), max(size, 1))
        metadata: dict[str, object] = {}
        version, tensor_count = _key_values(reader, metadata)
        tensor_end = _tensor_table(reader, tensor_count)
    data_end = _data_start(reader.pos, metadata) + tensor_end
    if data_end > size:
        raise GgufHeaderError(
            f"{path.name} is truncated: {_mib(data_end - size)} of tensor data missing "
            f"({_mib(size)} of {_mib(data_end)}); download it again"
        )
    return GgufFile(path, version, metadata, tensor_count, size, data_end)


@contextmanager
def _naming(name: str) -> Iterator[None]:
    """A header that cannot be read, as a GgufHeaderError that names the file."""
    try:
        yield
    except GgufHeaderError as error:
        raise GgufHeaderError(f"{name}: {error}", error.kind) from None
    except (struct.error, UnicodeDecodeError, OverflowError, MemoryError):
        raise GgufHeaderError(f"{name}: the GGUF header is corrupted") from None


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


@dataclass(frozen=True)
class RemoteHeader:
    """The first bytes of a remote file, through the end of its tensor table: enough for
    llama.cpp to read the file's metadata without any tensor data."""

    version: int
    architecture: str | None  # None when the version is one this parser does not read
    data: bytes  # every byte fetched (the header, and what the last read brought past it)
    header_end: int  # where tensor data begins


def _remote_fetch(repo_id: str, filename: str, revision: str | None) -> Callable[[int, int], bytes]:
    """`fetch(offset, n)` over a file on the Hub: Range requests through huggingface-hub's session."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    from tui.core.models import hub, hub_http

    if not hub.safe_filename(filename):
        raise hub.HubError(f"refusing the unsafe file name {filename!r}", "bad_input")
    hub.require_online()
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=hub.endpoint())
    headers = build_hf_headers(library_name="llmtui")
    hub_http.install()
    session = get_session()

    def fetch(offset: int, n: int) -> bytes:
        range_headers = {**headers, "Range": f"bytes={offset}-{offset + n - 1}"}
        try:
            with session.stream("GET", url, headers=range_headers, timeout=20) as response:
                if response.status_code >= 400:
                    response.read()
                    hf_raise_for_status(response)
                # A server that ignores Range sends the whole file: read only as far as needed.
                skip = offset if response.status_code == 200 else 0
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) >= skip + n:
                        break
        except Exception as error:  # noqa: BLE001 - explained for the user
            raise hub.explain(error, repo_id, filename) from None
        return bytes(data[skip : skip + n])

    return fetch


def read_remote(
    repo_id: str, filename: str, revision: str | None = None, max_bytes: int = MAX_BYTES
) -> GgufInfo:
    """A file's header on the Hub, read with Range requests through huggingface-hub's session."""
    return parse(_remote_fetch(repo_id, filename, revision), max_bytes)


def read_remote_header(
    repo_id: str, filename: str, revision: str | None = None, max_bytes: int = 64 << 20
) -> RemoteHeader:
    """A remote file's whole header (key/values and tensor table), never its tensor data. A
    version this parser does not read comes back with the bytes read so far, for llama.cpp to
    judge."""
    reader = _Reader(_remote_fetch(repo_id, filename, revision), max_bytes)
    with _naming(filename):
        if reader.unpack("<I") != GGUF_MAGIC:
            raise GgufHeaderError(f"{filename} is not a GGUF file (wrong magic number)")
        version = reader.unpack("<I")
        if version not in (2, 3):
            return RemoteHeader(version, None, bytes(reader.buffer), len(reader.buffer))
        reader.pos = 0
        metadata: dict[str, object] = {}
        _, tensor_count = _key_values(reader, metadata)
        _tensor_table(reader, tensor_count, check_types=False)
    header_end = _data_start(reader.pos, metadata)
    return RemoteHeader(version, _architecture(metadata), bytes(reader.buffer), header_end)
