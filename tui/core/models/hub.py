"""The Hugging Face Hub: find the GGUF repository of a model and list its quantization files.

Everything goes through huggingface-hub's `HfApi` (no hand-written HTTP). The Hub's own conventions
keep their meaning: `HF_TOKEN` or the token saved by `hf auth login` is sent (the library finds it),
`HF_ENDPOINT` picks a mirror, `HF_HUB_OFFLINE` means no network at all, `HF_HUB_CACHE`/`HF_HOME`
place the cache. huggingface-hub reads those variables once, when it is imported; this module reads
them when it is called, so a process that changes its environment (the tests do) still gets what it
asked for.

File names and repository ids come from the network: they are untrusted. `safe_filename` is the one
rule for which names may ever become a path on this machine."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tui.core.errors import LlmtuiError

if TYPE_CHECKING:
    from huggingface_hub import HfApi

THEBLOKE = "TheBloke"
_TRUE = {"1", "ON", "YES", "TRUE"}

# -- the environment, read at call time ------------------------------------------------------------


def endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline() -> bool:
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return constants.HF_HUB_OFFLINE or (value or "").upper() in _TRUE


def cache_dir() -> Path:
    """The Hugging Face hub cache (HF_HUB_CACHE, else HF_HOME/hub, else the library's default)."""
    from huggingface_hub import constants

    if value := os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(value).expanduser()
    if value := os.environ.get("HF_HOME"):
        return Path(value).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


OFFLINE_MESSAGE = "Offline mode (HF_HUB_OFFLINE) is on: only files already downloaded are available."


def require_online() -> None:
    if offline():
        raise HubError(OFFLINE_MESSAGE, "offline")


def api() -> HfApi:
    from huggingface_hub import HfApi

    from tui.core.models import hub_http

    hub_http.install()
    return HfApi(endpoint=endpoint(), library_name="llmtui")


def repo_url(repo_id: str) -> str:
    return f"{endpoint()}/{repo_id}"


# -- errors ----------------------------------------------------------------------------------------

ErrorKind = Literal[
    "gated", "not_found", "no_gguf", "auth", "forbidden", "rate_limited", "server", "network",
    "offline", "bad_input", "disk",
]  # fmt: skip


class HubError(LlmtuiError):
    """A Hub failure explained for a person: what happened and what to do about it."""

    def __init__(
        self,
        message: str,
        kind: ErrorKind,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after


def explain(error: BaseException, repo_id: str | None = None, filename: str | None = None) -> HubError:
    """Turn a huggingface-hub / network exception into a HubError with a clear message."""
    import httpx2
    from huggingface_hub import errors

    if isinstance(error, HubError):
        return error
    what = repo_id or "this repository"
    if isinstance(error, errors.OfflineModeIsEnabled):
        return HubError(OFFLINE_MESSAGE, "offline")
    if isinstance(error, errors.GatedRepoError):
        return HubError(
            f"{what} is gated: open {repo_url(repo_id or '')} , log in and accept its terms to get "
            "access, then run `hf auth login` (or set HF_TOKEN) so llmtui can use your token.",
            "gated",
        )
    if isinstance(error, errors.RepositoryNotFoundError):
        return HubError(
            f"Repository {what} was not found on {endpoint()}. Check the id; if it is private, run "
            "`hf auth login` (or set HF_TOKEN) with an account that can read it.",
            "not_found",
        )
    if isinstance(error, errors.RevisionNotFoundError):
        return HubError(f"{what} has no such revision.", "not_found")
    if isinstance(error, errors.RemoteEntryNotFoundError):
        return HubError(f"{what} has no file named {filename or '(unknown)'}.", "not_found")
    if isinstance(error, errors.HfHubHTTPError) and error.response is not None:
        status = error.response.status_code
        retry_after = _retry_after(error.response.headers.get("Retry-After"))
        if status == 401:
            return HubError("The Hub rejected your token: run `hf auth login` again or fix HF_TOKEN.", "auth")
        if status == 403:
            return HubError(
                f"Access to {what} is forbidden for your token: check its permissions "
                "(fine-grained tokens need read access to this repository), "
                "or log in again with `hf auth login`.",
                "forbidden",
            )
        if status == 429:
            return HubError(
                "The Hub is limiting the rate of requests (429 Too Many Requests): wait a little "
                "and try again; logged-in users (`hf auth login`) get a higher limit.",
                "rate_limited",
                retryable=True,
                retry_after=retry_after,
            )
        if status >= 500 or status == 408:
            return HubError(
                f"The Hub answered {status} (a server error): try again in a moment.",
                "server",
                retryable=True,
                retry_after=retry_after,
            )
        return HubError(f"The Hub answered {status} for {what}.", "server")
    if isinstance(error, httpx2.ConnectError):
        return HubError(
            f"Cannot connect to {endpoint()} ({_reason(error)}): check the network connection"
            " (and HF_ENDPOINT if you use a mirror).",
            "network",
            retryable=True,
        )
    if isinstance(error, httpx2.TimeoutException):
        return HubError(f"{endpoint()} stopped answering (timed out).", "network", retryable=True)
    if isinstance(error, (httpx2.NetworkError, httpx2.RemoteProtocolError)):
        return HubError(f"The connection to {endpoint()} broke: {_reason(error)}.", "network", retryable=True)
    return HubError(f"Unexpected error talking to the Hub: {_reason(error)}", "server")


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


# -- names -----------------------------------------------------------------------------------------

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}$")


def valid_repo_id(repo_id: str) -> bool:
    return bool(_REPO_ID.fullmatch(repo_id)) and ".." not in repo_id and "--" not in repo_id


def safe_filename(name: str) -> bool:
    """Whether a file name from the Hub may become a path in the cache: relative, no `..`, no
    drive letters, backslashes or control characters."""
    if not name or len(name) > 512 or name.startswith(("/", "\\")) or "\\" in name or ":" in name:
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


# -- quantizations ---------------------------------------------------------------------------------

# Nominal bits per weight of llama.cpp's file types (mixes: as llama.cpp's quantize tool prints).
BITS_PER_WEIGHT: dict[str, float] = {
    "IQ1_S": 1.56, "IQ1_M": 1.75, "IQ2_XXS": 2.06, "IQ2_XS": 2.31, "IQ2_S": 2.5, "IQ2_M": 2.7,
    "Q2_K": 2.63, "Q2_K_S": 2.6, "IQ3_XXS": 3.06, "IQ3_XS": 3.3, "IQ3_S": 3.44, "IQ3_M": 3.66,
    "Q3_K_S": 3.5, "Q3_K_M": 3.91, "Q3_K_L": 4.27, "IQ4_XS": 4.25, "IQ4_NL": 4.5,
    "Q4_0": 4.5, "Q4_1": 5.0, "Q4_K_S": 4.58, "Q4_K_M": 4.89, "Q5_0": 5.5, "Q5_1": 6.0,
    "Q5_K_S": 5.54, "Q5_K_M": 5.7, "Q6_K": 6.56, "Q8_0": 8.5,
    "BF16": 16.0, "F16": 16.0, "F32": 32.0,
}  # fmt: skip

_QUANT = re.compile(
    r"(?:^|[-._])(?P<q>I?Q[1-8](?:_(?:K|[0-9]|XXS|XS|NL|S|M|L|XL))*|BF16|F16|FP16|F32|TQ[12]_0|MXFP4)"
    r"(?=$|[-._])",
    re.IGNORECASE,
)
# Part i of a model split in n files (llama.cpp opens the first, and finds the others next to it).
SPLIT_PART = re.compile(r"^(?P<base>.+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.gguf$", re.IGNORECASE)
# TheBloke's older splits (`NAME.gguf-split-a`, `-split-b` ...): one GGUF cut into byte ranges,
# which llama.cpp cannot open; llmtui joins them once all have arrived (`downloads`).
_BYTE_SPLIT = re.compile(r"^(?P<name>.+\.gguf)-split-(?P<letter>[a-z])$", re.IGNORECASE)


def joined_name(filename: str) -> str | None:
    """`NAME.gguf` for a byte-split part `NAME.gguf-split-X`, else None."""
    m = _BYTE_SPLIT.match(filename)
    return m["name"] if m else None


def parse_quant(filename: str) -> str | None:
    """The quantization named in a GGUF file name (Q4_K_M, IQ3_XXS, F16 ...), or None."""
    stem = filename.rsplit("/", 1)[-1]
    stem = re.sub(r"(-\d{5}-of-\d{5})?\.gguf$", "", stem, flags=re.IGNORECASE)
    found = [m["q"].upper() for m in _QUANT.finditer(stem)]
    if not found:
        return None
    quant = found[-1]
    return "F16" if quant == "FP16" else quant


def quant_rank(quant: str | None) -> float:
    """Quality order: more bits per weight is better; unknown sorts first."""
    return BITS_PER_WEIGHT.get(quant or "", 0.0)


@dataclass(frozen=True)
class GgufPart:
    filename: str
    size: int
    sha256: str | None


@dataclass(frozen=True)
class QuantFile:
    """One choice in the quant picker: a .gguf file, or all the parts of a split one."""

    repo_id: str
    name: str  # the file name, or the split's common name ("model-Q8_0.gguf")
    parts: tuple[GgufPart, ...]
    quant: str | None
    expected_parts: int = 1
    joined: bool = False  # byte-split parts, joined into `name` after the download

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def complete(self) -> bool:
        return len(self.parts) == self.expected_parts

    @property
    def first(self) -> str:
        """The file the GGUF header is in (and, but for byte splits, the one to open: llama.cpp
        finds a split's other parts next to its first one)."""
        return self.parts[0].filename

    @property
    def nominal_bits(self) -> float | None:
        return BITS_PER_WEIGHT.get(self.quant or "")

    def bits_per_weight(self, params: int | None) -> float | None:
        """From the size when the parameter count is known, else the quant's nominal figure."""
        if params:
            return self.size * 8 / params
        return self.nominal_bits


@dataclass(frozen=True)
class RepoFiles:
    repo_id: str
    commit: str | None
    gated: bool
    files: tuple[QuantFile, ...]
    params: int | None = None  # total parameters, when the Hub knows them
    architecture: str | None = None
    context_length: int | None = None
    skipped: tuple[str, ...] = ()  # names refused as unsafe

    def find(self, quant: str | None = None, filename: str | None = None) -> QuantFile:
        """The file for `--quant Q4_K_M` or `--file NAME`; HubError naming the choices otherwise."""
        for f in self.files:
            if filename is not None and filename in (f.name, *(p.filename for p in f.parts)):
                return f
            if quant is not None and f.quant == quant.upper():
                return f
        choices = ", ".join(sorted({f.quant for f in self.files if f.quant})) or "none"
        wanted = f"file {filename}" if filename is not None else f"quant {quant}"
        raise HubError(
            f"{self.repo_id} has no {wanted}. Quants available: {choices}.",
            "bad_input",
        )


def group_files(
    repo_id: str, siblings: Iterable[tuple[str, int | None, str | None]]
) -> tuple[tuple[QuantFile, ...], tuple[str, ...]]:
    """Group (name, size, sha256) rows into picker entries; unsafe names are set aside."""
    singles: list[QuantFile] = []
    splits: dict[str, list[tuple[int, int, GgufPart]]] = {}
    byte_splits: dict[str, list[tuple[int, GgufPart]]] = {}
    skipped: list[str] = []
    for name, size, sha in siblings:
        byte_split = _BYTE_SPLIT.match(name)
        if not name.lower().endswith(".gguf") and byte_split is None:
            continue
        if not safe_filename(name):
            skipped.append(name)
            continue
        part = GgufPart(name, size or 0, sha)
        m = SPLIT_PART.match(name)
        if m:
            splits.setdefault(m["base"] + ".gguf", []).append((int(m["i"]), int(m["n"]), part))
        elif byte_split:
            letter = ord(byte_split["letter"].lower()) - ord("a") + 1
            byte_splits.setdefault(byte_split["name"], []).append((letter, part))
        else:
            singles.append(QuantFile(repo_id, name, (part,), parse_quant(name)))
    for name, rows in splits.items():
        rows.sort(key=lambda r: r[0])
        parts = tuple(r[2] for r in rows)
        singles.append(QuantFile(repo_id, name, parts, parse_quant(name), rows[0][1]))
    for name, letters in byte_splits.items():
        letters.sort(key=lambda r: r[0])
        parts = tuple(r[1] for r in letters)  # complete when a, b, ... have no gap
        singles.append(QuantFile(repo_id, name, parts, parse_quant(name), letters[-1][0], True))
    singles.sort(key=lambda f: (quant_rank(f.quant), f.size, f.name))
    return tuple(singles), tuple(skipped)


def list_files(repo_id: str, revision: str | None = None) -> RepoFiles:
    """Every .gguf of a repository with size, LFS sha256 and quant (one model_info call)."""
    if not valid_repo_id(repo_id):
        raise HubError(f"{repo_id!r} is not a repository id (expected owner/name).", "bad_input")
    require_online()
    try:
        info = api().model_info(repo_id, revision=revision, files_metadata=True)
    except Exception as error:  # noqa: BLE001 - every failure becomes a HubError with advice
        raise explain(error, repo_id) from None
    rows = [
        (s.rfilename, s.lfs.size if s.lfs else s.size, s.lfs.sha256 if s.lfs else None)
        for s in info.siblings or []
    ]
    files, skipped = group_files(repo_id, rows)
    gguf: dict[str, Any] = info.gguf or {}

    def known(key: str, kind: type = int) -> Any:
        return gguf.get(key) if isinstance(gguf.get(key), kind) else None

    return RepoFiles(
        repo_id=repo_id,
        commit=info.sha,
        gated=bool(info.gated),
        files=files,
        params=known("total"),
        architecture=known("architecture", str),
        context_length=known("context_length"),
        skipped=skipped,
    )


# -- finding the repository ------------------------------------------------------------------------


@dataclass(frozen=True)
class RepoChoice:
    repo_id: str
    source: Literal["catalogue", "search", "typed"]
    downloads: int | None = None

    @property
    def publisher(self) -> str:
        return self.repo_id.split("/")[0]


@dataclass(frozen=True)
class RepoSearch:
    """Where a model's GGUF files are: TheBloke's repository, or why not and what else there is."""

    query: str
    thebloke: RepoChoice | None
    others: tuple[RepoChoice, ...] = ()
    note: str | None = None  # shown when TheBloke has nothing (the catalogue's reason, if any)
    more_thebloke: tuple[RepoChoice, ...] = field(default=())

    @property
    def best(self) -> RepoChoice | None:
        return self.thebloke or (self.others[0] if self.others else None)


def _search(name: str, author: str | None, limit: int) -> list[tuple[str, int | None]]:
    try:
        models = api().list_models(search=name, author=author, filter="gguf", sort="downloads", limit=limit)
        return [(m.id, m.downloads) for m in models]
    except Exception as error:  # noqa: BLE001
        raise explain(error) from None


def _model_name(model_id: str) -> str:
    return model_id.rsplit("/", 1)[-1]


def find_gguf_repos(query: str, catalogue: Any | None = None, limit: int = 20) -> RepoSearch:
    """TheBloke's GGUF repository for a model: the catalogue's mapping first, then a Hub search.

    `query` is a catalogue model id, any Hub model id, or a GGUF repository id typed by the user.
    `catalogue` is a `tui.core.catalogue.Catalogue` (anything with `.model(id)` returning an object
    with `.gguf.repo/.reason/.alternatives`).
    """
    query = query.strip()
    if not valid_repo_id(query) and not re.fullmatch(r"[A-Za-z0-9_.\-]{1,96}", query):
        raise HubError(f"{query!r} is not a model or repository id.", "bad_input")
    require_online()
    model = catalogue.model(query) if catalogue is not None else None
    ref = getattr(model, "gguf", None)
    if ref is not None and ref.repo:
        return RepoSearch(query, RepoChoice(ref.repo, "catalogue"))
    name = _model_name(query)
    alternatives = tuple(RepoChoice(r, "catalogue") for r in getattr(ref, "alternatives", ()) or ())
    if ref is None and query.upper().endswith("GGUF") and "/" in query:
        # A GGUF repository typed by the user: use it as it is.
        typed = RepoChoice(query, "typed")
        return RepoSearch(
            query,
            typed if typed.publisher == THEBLOKE else None,
            () if typed.publisher == THEBLOKE else (typed,),
        )
    thebloke: RepoChoice | None = None
    more: tuple[RepoChoice, ...] = ()
    if ref is None:  # the catalogue says nothing: ask the Hub
        found = [RepoChoice(r, "search", d) for r, d in _search(name, THEBLOKE, limit)]
        exact = f"{THEBLOKE}/{name}-GGUF".lower()
        found.sort(key=lambda c: (c.repo_id.lower() != exact, -(c.downloads or 0)))
        thebloke = found[0] if found else None
        more = tuple(found[1:])
    if thebloke is not None:
        return RepoSearch(query, thebloke, alternatives, more_thebloke=more)
    others = [
        RepoChoice(r, "search", d) for r, d in _search(name, None, limit) if r.split("/")[0] != THEBLOKE
    ]
    seen = {c.repo_id for c in alternatives}
    reason = getattr(ref, "reason", None)
    note = f"TheBloke published no GGUF for {query}." + (f" {reason}" if reason else "")
    return RepoSearch(
        query,
        None,
        alternatives + tuple(c for c in others if c.repo_id not in seen),
        note=note,
    )
