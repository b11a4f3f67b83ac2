"""Read the header of a GGUF file — a local one, or a remote one on the Hub with HTTP range
requests.

Only the key/value section is parsed, and only as far as the keys that size a model in memory
(layers, embedding width, attention heads, KV heads, key/value widths, trained context). Converters
write `general.*` and `<arch>.*` keys before the tokenizer's large arrays, so a remote read usually
needs the first few hundred KiB; it never reads more than `max_bytes` (8 MiB by default).

Key names and value types come from the `gguf` package, the format's reference implementation; the
parser itself is a streaming one, because `gguf.GGUFReader` needs the whole file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gguf import GGUF_MAGIC, GGUFValueType, Keys, LlamaFileType

MAX_BYTES = 8 << 20
_FIRST_READ = 256 << 10
_SCALARS = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h", GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?", GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}  # fmt: skip


class GgufHeaderError(Exception):
    pass


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


class _Reader:
    """Sequential reads over `fetch(offset, n) -> bytes`, buffering what it fetched."""

    def __init__(self, fetch: Callable[[int, int], bytes], max_bytes: int) -> None:
        self.fetch = fetch
        self.max_bytes = max_bytes
        self.buffer = bytearray()
        self.pos = 0
        self.eof = False

    def take(self, n: int) -> bytes:
        while self.pos + n > len(self.buffer):
            if self.eof:
                raise GgufHeaderError("the file ends inside its header: not a complete GGUF file")
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
        out = bytes(self.buffer[self.pos : self.pos + n])
        self.pos += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = self.unpack("<Q")
        if length > self.max_bytes:
            raise GgufHeaderError("a string in the header is longer than the file could hold")
        return self.take(length).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool):
        vtype = GGUFValueType(vtype)
        if vtype == GGUFValueType.STRING:
            return self.string()
        if vtype == GGUFValueType.ARRAY:
            itype = GGUFValueType(self.unpack("<I"))
            count = self.unpack("<Q")
            if not keep and itype in _SCALARS:
                self.take(count * struct.calcsize(_SCALARS[itype]))  # skip without decoding
                return None
            items = [self.value(itype, keep) for _ in range(count)]
            return items if keep else None
        return self.unpack(_SCALARS[vtype])


def parse(fetch: Callable[[int, int], bytes], max_bytes: int = MAX_BYTES) -> GgufInfo:
    reader = _Reader(fetch, max_bytes)
    values: dict[str, object] = {}
    arch: str | None = None
    try:
        if reader.unpack("<I") != GGUF_MAGIC:
            raise GgufHeaderError("not a GGUF file (wrong magic number)")
        version = reader.unpack("<I")
        if version < 2:
            raise GgufHeaderError(
                f"GGUF version {version} is too old (llama.cpp reads version 2 and later)"
            )
        reader.unpack("<Q")  # tensor count
        kv_count = reader.unpack("<Q")
        wanted: set[str] = set()
        for _ in range(kv_count):
            key = reader.string()
            vtype = reader.unpack("<I")
            keep = key in wanted or key in (
                Keys.General.ARCHITECTURE,
                Keys.General.NAME,
                Keys.General.FILE_TYPE,
            )
            value = reader.value(vtype, keep)
            if keep:
                values[key] = value
            if key == Keys.General.ARCHITECTURE and isinstance(value, str):
                arch = value
                wanted = {
                    k.format(arch=arch)
                    for k in (
                        Keys.LLM.BLOCK_COUNT, Keys.LLM.CONTEXT_LENGTH,
                        Keys.LLM.EMBEDDING_LENGTH, Keys.Attention.HEAD_COUNT,
                        Keys.Attention.HEAD_COUNT_KV, Keys.Attention.KEY_LENGTH,
                        Keys.Attention.VALUE_LENGTH, Keys.Attention.SLIDING_WINDOW,
                    )
                }  # fmt: skip
            if wanted and (
                wanted <= values.keys()
                or (key.startswith("tokenizer.") and _has_required(arch, values))
            ):
                break  # converters write the model's keys before the tokenizer's large arrays
    except GgufHeaderError:
        if arch is None or not _has_required(arch, values):
            raise
    except (struct.error, ValueError) as error:
        raise GgufHeaderError(f"the GGUF header is malformed ({error})") from None
    if arch is None:
        raise GgufHeaderError("the GGUF header names no architecture")
    return _info(arch, values)


_REQUIRED = (Keys.LLM.BLOCK_COUNT, Keys.LLM.EMBEDDING_LENGTH, Keys.Attention.HEAD_COUNT)


def _has_required(arch: str, values: dict[str, object]) -> bool:
    return all(k.format(arch=arch) in values for k in _REQUIRED)


def _info(arch: str, values: dict[str, object]) -> GgufInfo:
    def get(key: str):
        return values.get(key.format(arch=arch))

    def need(key: str) -> int:
        value = get(key)
        if not isinstance(value, int) or value <= 0:
            raise GgufHeaderError(f"the GGUF header has no {key.format(arch=arch)}")
        return value

    n_layer = need(Keys.LLM.BLOCK_COUNT)
    n_embd = need(Keys.LLM.EMBEDDING_LENGTH)
    heads = get(Keys.Attention.HEAD_COUNT)
    if isinstance(heads, list):  # per-layer head counts (OpenELM and kin)
        heads = max(heads) if heads else None
    if not isinstance(heads, int) or heads <= 0:
        raise GgufHeaderError(f"the GGUF header has no {arch}.attention.head_count")
    kv = get(Keys.Attention.HEAD_COUNT_KV)
    n_head_kv = (
        tuple(kv) if isinstance(kv, list) else (kv if isinstance(kv, int) else heads,) * n_layer
    )
    key_length = get(Keys.Attention.KEY_LENGTH)
    value_length = get(Keys.Attention.VALUE_LENGTH)
    head_dim = n_embd // heads
    file_type = values.get(Keys.General.FILE_TYPE)
    try:
        ftype = (
            LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
            if file_type is not None
            else None
        )
    except ValueError:
        ftype = None
    context = get(Keys.LLM.CONTEXT_LENGTH)
    window = get(Keys.Attention.SLIDING_WINDOW)
    name = values.get(Keys.General.NAME)
    return GgufInfo(
        architecture=arch,
        name=name if isinstance(name, str) else None,
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=heads,
        n_head_kv=n_head_kv,
        key_length=key_length if isinstance(key_length, int) else head_dim,
        value_length=value_length if isinstance(value_length, int) else head_dim,
        context_length=context if isinstance(context, int) else None,
        file_type=ftype,
        sliding_window=window if isinstance(window, int) else None,
    )


def read_local(path: Path, max_bytes: int = MAX_BYTES) -> GgufInfo:
    with Path(path).open("rb") as f:

        def fetch(offset: int, n: int) -> bytes:
            f.seek(offset)
            return f.read(n)

        return parse(fetch, max_bytes)


def read_remote(
    repo_id: str, filename: str, revision: str | None = None, max_bytes: int = MAX_BYTES
) -> GgufInfo:
    """A file's header on the Hub, read with Range requests through huggingface-hub's session."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    from tui.core import hub

    if not hub.safe_filename(filename):
        raise hub.HubError(f"refusing the unsafe file name {filename!r}", "bad_input")
    hub.require_online()
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=hub.endpoint())
    headers = build_hf_headers(library_name="llmtui")
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

    return parse(fetch, max_bytes)
