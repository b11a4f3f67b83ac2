"""Check a local GGUF file before loading it: its whole header in pure Python, fast and safe on any file.

Before a model is handed to llama.cpp (in a worker process) this tells a user plainly what is wrong
with a file that is not a GGUF, is truncated or uses a tensor type this build cannot know, and gives
what the memory estimate (`tui.core.fit`) cannot see. `gguf.GGUFReader` would do it too, but it
decodes every array (2.3 s for SmolLM2's 49k-token vocabulary); this skips them (milliseconds).
Unlike `tui.core.gguf_header` (which reads only the sizing keys, of local or remote files), it reads
every key and the tensor table, so it can tell a truncated download from a good file.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"GGUF"
# GGUFValueType -> struct format of the fixed-size types (8: string, 9: array).
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_SMALL_ARRAY = (
    64  # arrays up to this long are kept (e.g. per-layer head counts); vocabularies are skipped
)


class GgufError(Exception):
    def __init__(self, message: str, kind: str = "bad_file") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class GgufHeader:
    path: Path
    version: int
    metadata: dict[str, object]  # scalars, strings and short arrays
    tensor_count: int
    file_size: int
    data_end: int  # the byte just past the last tensor's data

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def trained_context(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    def string_metadata(self) -> dict[str, str]:
        """The metadata as llama.cpp reports it to Python: strings only."""
        return {k: v if isinstance(v, str) else str(v) for k, v in self.metadata.items()}


def read_header(path: Path) -> GgufHeader:
    """Parse the header; GgufError (kind "not_found", "bad_file" or "unsupported") says what is wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except FileNotFoundError:
        raise GgufError(f"no such file: {path}", "not_found") from None
    except IsADirectoryError:
        raise GgufError(f"{path} is a folder, not a GGUF file", "bad_file") from None
    except OSError as error:
        raise GgufError(f"cannot read {path}: {error.strerror or error}", "bad_file") from None
    with handle:
        if size < 24:
            raise GgufError(f"{path.name} is not a GGUF file ({size} bytes)")
        if handle.read(4) != MAGIC:
            raise GgufError(f"{path.name} is not a GGUF file (it does not start with 'GGUF')")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            try:
                return _parse(path, view, size)
            except (struct.error, IndexError, UnicodeDecodeError, OverflowError, MemoryError):
                raise GgufError(
                    f"{path.name} is truncated or corrupted (its header ends early)"
                ) from None


def _parse(path: Path, buf: mmap.mmap, size: int) -> GgufHeader:
    import gguf

    version, tensor_count, kv_count = struct.unpack_from("<IQQ", buf, 4)
    if version not in (2, 3):
        raise GgufError(f"{path.name}: GGUF version {version} is not supported", "unsupported")
    if tensor_count > 1_000_000 or kv_count > 1_000_000:
        raise GgufError(f"{path.name} is corrupted (implausible header counts)")
    pos = 24
    metadata: dict[str, object] = {}
    for _ in range(kv_count):
        key, pos = _string(buf, pos)
        (vtype,) = struct.unpack_from("<I", buf, pos)
        value, pos = _value(buf, pos + 4, vtype)
        if value is not _SKIPPED:
            metadata[key] = value
    tensor_end = 0
    for _ in range(tensor_count):
        name, pos = _string(buf, pos)
        (n_dims,) = struct.unpack_from("<I", buf, pos)
        dims = struct.unpack_from(f"<{n_dims}Q", buf, pos + 4)
        pos += 4 + 8 * n_dims
        ggml_type, offset = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ggml_type)]
        except (ValueError, KeyError):
            raise GgufError(
                f"{path.name}: tensor {name!r} has type {ggml_type}, unknown to this version",
                "unsupported",
            ) from None
        count = 1
        for dim in dims:
            count *= dim
        tensor_end = max(tensor_end, offset + count // block * type_size)
    alignment = int(metadata.get("general.alignment", 32) or 32)
    data_start = -(-pos // alignment) * alignment
    header = GgufHeader(path, version, metadata, tensor_count, size, data_start + tensor_end)
    if header.data_end > size:
        missing = header.data_end - size
        raise GgufError(
            f"{path.name} is truncated: {_mib(missing)} of tensor data missing "
            f"({_mib(size)} of {_mib(header.data_end)}); download it again"
        )
    return header


_SKIPPED = object()


def _string(buf: mmap.mmap, pos: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<Q", buf, pos)
    end = pos + 8 + length
    if end > len(buf):
        raise IndexError("string past the end")
    return buf[pos + 8 : end].decode("utf-8"), end


def _value(buf: mmap.mmap, pos: int, vtype: int) -> tuple[object, int]:
    if vtype in _SCALARS:
        fmt = "<" + _SCALARS[vtype]
        return struct.unpack_from(fmt, buf, pos)[0], pos + struct.calcsize(fmt)
    if vtype == 8:
        return _string(buf, pos)
    if vtype == 9:
        item_type, count = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        if item_type in _SCALARS:
            width = struct.calcsize("<" + _SCALARS[item_type])
            end = pos + width * count
            if end > len(buf):
                raise IndexError("array past the end")
            if count > _SMALL_ARRAY:
                return _SKIPPED, end
            return list(struct.unpack_from(f"<{count}{_SCALARS[item_type]}", buf, pos)), end
        if item_type == 8:
            items = []
            for _ in range(count):
                (length,) = struct.unpack_from("<Q", buf, pos)
                if count <= _SMALL_ARRAY:
                    items.append(buf[pos + 8 : pos + 8 + length].decode("utf-8"))
                pos += 8 + length
            if pos > len(buf):
                raise IndexError("array past the end")
            return (items if count <= _SMALL_ARRAY else _SKIPPED), pos
        raise GgufError(f"unsupported nested array type {item_type}")
    raise GgufError(f"unknown metadata value type {vtype}")


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"
