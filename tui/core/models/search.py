"""Search the Hugging Face Hub for GGUF repositories of any publisher.

One `HubSearch` is one query in one order. Its results come a page at a time (`more()`) from the
iterator `HfApi.list_models` returns, which follows the Hub's `Link: rel="next"` pagination: a page
is asked for only when someone wants more results. Each result carries what a person chooses by
(author, downloads, likes, last update, gated, licence, base model) and the quantizations offered,
read from the file names with the same rules the quant picker uses (`hub.group_files`).

Everything from the Hub is untrusted: repository ids and card fields are kept as the Hub sent them
and cleaned where they are shown.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from tui.core.models import hub

if TYPE_CHECKING:
    from huggingface_hub import ModelInfo

# The orders a person can pick, and the `sort` huggingface-hub takes for each (most first).
SORTS: dict[str, str] = {"downloads": "downloads", "likes": "likes", "updated": "last_modified"}
SORT_NAMES = tuple(SORTS)
SORT_WORDS = {"downloads": "most downloaded", "likes": "most liked", "updated": "recently updated"}
PAGE_SIZE = 20
MAX_QUERY = 200  # characters; the Hub matches substrings of repository ids
# What a result row and the detail pane show: only these properties come back from the Hub.
EXPAND = ["author", "downloads", "likes", "lastModified", "gated", "tags", "siblings", "cardData"]


class HubOffline(hub.HubError):
    """The Hub cannot be reached (HF_HUB_OFFLINE, no network, connection refused)."""

    title = "The Hub is offline"


@dataclass(frozen=True)
class HubRepo:
    """One GGUF repository found on the Hub."""

    repo_id: str
    author: str
    downloads: int | None
    likes: int | None
    updated: datetime | None
    gated: bool
    quants: tuple[str, ...]  # worst to best, as the picker orders them
    files: int  # GGUF choices (a split file counts once)
    licence: str | None
    base_models: tuple[str, ...]

    @property
    def url(self) -> str:
        return hub.repo_url(self.repo_id)

    @property
    def cells(self) -> tuple[str, str, str]:
        """Downloads, likes and the day of the last update as a table shows them."""
        def count(n: int | None) -> str:
            return "?" if n is None else f"{n:,}"

        day = self.updated.strftime("%Y-%m-%d") if self.updated else "?"
        return count(self.downloads), count(self.likes), day

    def as_json(self) -> dict[str, Any]:
        updated = self.updated.isoformat() if self.updated else None
        lists = {"quants": list(self.quants), "base_models": list(self.base_models)}
        return {**asdict(self), "updated": updated, **lists, "url": self.url}


def offline_error(error: hub.HubError) -> hub.HubError:
    """A HubError that means "no Hub at all" as a HubOffline, anything else as it is."""
    if error.kind not in ("offline", "network") or isinstance(error, HubOffline):
        return error
    return HubOffline(f"The Hub is offline: {error} The catalogue still works.", error.kind,
                      retryable=error.retryable)  # fmt: skip


def check_reachable(timeout: float = 5.0) -> None:
    """HubOffline at once when the Hub (or the proxy in front of it) refuses or cannot be found.

    huggingface-hub retries a failed search request five times over about 23 seconds; one
    connection attempt first tells "no network" apart from a Hub that is slow to answer."""
    import socket
    import urllib.request
    from urllib.parse import urlsplit

    url = urlsplit(hub.endpoint())
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = via.hostname or host, via.port or 80
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise HubOffline(f"The Hub is offline: cannot connect to {hub.endpoint()} ({reason.lower()})."
                         " The catalogue still works.", "network", retryable=True) from None


def check_query(text: str) -> str:
    """The query as sent: one line, no control characters; HubError for what cannot be one."""
    query = " ".join(text.split())
    if len(query) > MAX_QUERY:
        raise hub.HubError(f"A Hub search is at most {MAX_QUERY} characters.", "bad_input")
    if any(ord(c) < 32 or ord(c) == 127 for c in query):
        raise hub.HubError("A Hub search cannot hold control characters.", "bad_input")
    return query


def _repo(info: ModelInfo) -> HubRepo:
    names = [(s.rfilename, None, None) for s in info.siblings or []]
    files, _ = hub.group_files(info.id, names)
    quants = tuple(dict.fromkeys(f.quant for f in files if f.quant))
    card = info.card_data
    licence = getattr(card, "license", None) if card is not None else None
    base = getattr(card, "base_model", None) if card is not None else None
    base_models = (base,) if isinstance(base, str) else tuple(b for b in base or () if isinstance(b, str))
    return HubRepo(
        repo_id=info.id,
        author=info.author or info.id.split("/")[0],
        downloads=info.downloads,
        likes=info.likes,
        updated=info.last_modified,
        gated=bool(info.gated),
        quants=quants,
        files=len(files),
        licence=licence if isinstance(licence, str) else None,
        base_models=base_models,
    )


class HubSearch:
    """GGUF repositories whose id holds `text`, in `sort` order, fetched a page at a time.

    Nothing is asked of the Hub until `more()`. Safe to call from a worker thread; two calls at
    once take turns."""

    def __init__(self, text: str, sort: str = "downloads", page_size: int = PAGE_SIZE) -> None:
        if sort not in SORTS:
            raise hub.HubError(f"No search order {sort!r} (known: {', '.join(SORTS)}).",
                               "bad_input")  # fmt: skip
        if page_size < 1:
            raise hub.HubError("A page holds at least one result.", "bad_input")
        self.query = check_query(text)
        self.sort = sort
        self.page_size = page_size
        self.results: list[HubRepo] = []
        self.exhausted = False
        self._lock = threading.Lock()
        self._items: Iterator[ModelInfo] | None = None

    def _iterator(self) -> Iterator[ModelInfo]:
        if self._items is None:
            try:
                hub.require_online()
            except hub.HubError as error:
                raise offline_error(error) from None
            check_reachable()
            models = hub.api().list_models(search=self.query or None, filter="gguf",
                                           sort=SORTS[self.sort], expand=EXPAND)  # fmt: skip
            self._items = iter(models)
        return self._items

    def more(self) -> list[HubRepo]:
        """The next page of results (empty once there are no more); also kept in `results`."""
        with self._lock:
            if self.exhausted:
                return []
            items = self._iterator()
            try:
                page = [_repo(info) for info in islice(items, self.page_size)]
            except Exception as error:  # noqa: BLE001 - every failure becomes a HubError
                self.exhausted = True  # the Hub's iterator ends with its error: search anew
                raise offline_error(hub.explain(error)) from None
            self.exhausted = len(page) < self.page_size
            self.results.extend(page)
            return page

    def take(self, count: int) -> list[HubRepo]:
        """Pages until `count` results are in hand (or there are no more): the first `count`."""
        while len(self.results) < count and not self.exhausted:
            self.more()
        return self.results[:count]
