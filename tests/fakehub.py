"""A loopback Hugging Face Hub that the real `huggingface_hub` client talks to, with fault
injection.

It speaks the part of the Hub API that huggingface-hub 2.4 uses for finding and downloading GGUF
files:

- `GET /api/models?search=&author=&filter=&sort=&direction=&limit=&full=&expand=`: model search as
  the Hub answers it: every search word must appear in the id, every filter among the tags; sorted
  by downloads, likes or lastModified (most first unless `direction=1`); `expand` returns only the
  properties named (`full` all of them); pages of `limit` (else `page_size`) results with a `Link:
  <...&cursor=...>; rel="next"` header while more remain (`hub.searches`: each one's parameters)
- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}` (`?blobs=true`: siblings with
  size and LFS sha256): model info
- `GET /api/models/{repo}/tree/{rev}`: the repository tree with each file's LFS sha256
- `HEAD`/`GET /{repo}/resolve/{rev}/{file}` with `Range`, `X-Repo-Commit`, `X-Linked-Etag`,
  `X-Linked-Size`, `ETag`, `Content-Length`

Unknown repositories answer 401 `RepoNotFound` (as the Hub does), unknown files 404 `EntryNotFound`,
and a gated repository's files 401 `GatedRepo` without a granted token (403 with another token).
Files are served from disk with `sendfile`, so the server is not the bottleneck when a benchmark
measures a client.

Faults (`hub.fault(name, ...)`) apply to the next GETs of one file: drop the connection after N
bytes, stall after N bytes, or answer a status (500, 429 ...). `hub.served[name]` counts the body
bytes sent; `hub.active` the bodies being sent now and `hub.peak` the most at once (how many
connections a client really used). `hub.rate` caps each connection's speed (as a CDN caps one
connection); `hub.ranges = False` makes it ignore Range headers and send every file whole.

Run as a module (`python -m tests.fakehub --serve FILE`) for benchmarks, so that the client under
test does not share a GIL with the server."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


@dataclass
class FakeFile:
    path: Path  # the bytes served
    sha256: str  # what the Hub claims (a test can make it lie)

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, FakeFile]
    gated: bool = False
    tags: tuple[str, ...] = ("gguf",)
    downloads: int = 0
    gguf: dict | None = (
        None  # the Hub's `gguf` summary (total params, architecture, context_length)
    )
    commit: str = COMMIT
    likes: int = 0
    last_modified: str = "2024-01-01T00:00:00.000Z"
    card_data: dict | None = None  # the model card's front matter (license, base_model ...)

    def info(self, blobs: bool) -> dict:
        siblings = []
        for name, f in sorted(self.files.items()):
            entry: dict = {"rfilename": name}
            if blobs:
                entry |= {
                    "size": f.size,
                    "blobId": f.sha256[:40],
                    "lfs": {"sha256": f.sha256, "size": f.size, "pointerSize": 134},
                }
            siblings.append(entry)
        author = self.repo_id.split("/")[0]
        data = {
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": author,
            "sha": self.commit,
            "private": False,
            "gated": "manual" if self.gated else False,
            "disabled": False,
            "downloads": self.downloads,
            "likes": self.likes,
            "tags": list(self.tags),
            "library_name": "gguf" if "gguf" in self.tags else None,
            "lastModified": self.last_modified,
            "createdAt": "2024-01-01T00:00:00.000Z",
            "siblings": siblings,
        }
        if self.gguf is not None:
            data["gguf"] = self.gguf
        if self.card_data is not None:
            data["cardData"] = self.card_data
        return data

    def listed(self, full: bool, expand: list[str]) -> dict:
        """The repository as a search result: `expand`ed properties only, all with `full`, else
        the Hub's short form."""
        data = self.info(blobs=False)
        if full:
            return data | {"_id": self.commit[:24]}
        wanted = expand or ["likes", "downloads", "private", "library_name", "tags", "createdAt"]
        return {"_id": self.commit[:24], "id": self.repo_id} | {
            key: data[key] for key in wanted if key in data
        }

    def tree(self) -> list[dict]:
        return [
            {
                "type": "file",
                "path": name,
                "size": f.size,
                "oid": f.sha256[:40],
                "lfs": {"oid": f.sha256, "size": f.size, "pointerSize": 134},
            }
            for name, f in sorted(self.files.items())
        ]


@dataclass
class Fault:
    drop_after: int | None = None  # close the connection after this many body bytes
    stall_after: int | None = None  # go silent after this many body bytes ...
    stall_seconds: float = 3600.0  # ... for this long (or until `release()`), then close
    status: int | None = None  # answer this status instead of the file
    retry_after: str | None = None  # Retry-After header with `status`
    times: int = 1  # how many requests the fault applies to
    methods: tuple[str, ...] = ("GET",)


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    tokens: dict[str, set[str]] = field(default_factory=dict)  # token -> gated repos it may read
    served: Counter = field(default_factory=Counter)  # file name -> body bytes sent
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    api_faults: list[Fault] = field(default_factory=list)
    file_faults: dict[str, list[Fault]] = field(default_factory=dict)
    url: str = ""
    rate: float | None = None  # bytes per second per response (per connection), as a CDN caps
    ranges: bool = True  # False: Range headers are ignored and every GET sends the whole file
    page_size: int = 1000  # search results a page when the request sets no limit (as the Hub)
    searches: list[dict[str, list[str]]] = field(default_factory=list)  # query of each search
    active: int = 0  # file bodies being sent right now ...
    peak: int = 0  # ... and the most at once

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # -- set-up ------------------------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, Path],
        *,
        gated: bool = False,
        tags: tuple[str, ...] = ("gguf",),
        downloads: int = 0,
        gguf: dict | None = None,
        sha256: dict[str, str] | None = None,
        likes: int = 0,
        last_modified: str = "2024-01-01T00:00:00.000Z",
        card_data: dict | None = None,
    ) -> FakeRepo:
        """Publish files; `sha256` overrides the LFS sha the Hub claims (a lying or corrupt Hub)."""
        lies = sha256 or {}
        repo = FakeRepo(
            repo_id,
            {
                name: FakeFile(Path(p), lies.get(name) or sha256_of(Path(p)))
                for name, p in files.items()
            },
            gated=gated,
            tags=tags,
            downloads=downloads,
            gguf=gguf,
            likes=likes,
            last_modified=last_modified,
            card_data=card_data,
        )
        self.repos[repo_id] = repo
        return repo

    def grant(self, token: str, repo_id: str) -> None:
        self.tokens.setdefault(token, set()).add(repo_id)

    def fault(self, name: str, **kwargs) -> Fault:
        fault = Fault(**kwargs)
        with self._lock:
            self.file_faults.setdefault(name, []).append(fault)
        return fault

    def fail_api(self, status: int, times: int = 1) -> None:
        with self._lock:
            self.api_faults.append(Fault(status=status, times=times))

    def clear_faults(self) -> None:
        with self._lock:
            self.file_faults.clear()
            self.api_faults.clear()

    def release(self) -> None:
        """End every stall now."""
        self._release.set()

    def gets(self, name: str) -> list[str | None]:
        """The Range header of each GET of a file's resolve URL."""
        return [r for m, p, r in self.requests if m == "GET" and p.endswith("/" + name)]

    # -- server ------------------------------------------------------------------------------------

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _take_fault(self, faults: list[Fault], method: str) -> Fault | None:
        with self._lock:
            for fault in faults:
                if method in fault.methods and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hung up: not news
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    # -- plumbing ----------------------------------------------------------------------------------

    def _json(self, data, status: int = 200, headers: dict | None = None) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(
        self, status: int, code: str | None, message: str, headers: dict | None = None
    ) -> None:
        extra = dict(headers or {})
        if code:
            extra["X-Error-Code"] = code
        extra["X-Error-Message"] = message
        self._json({"error": message}, status, extra)

    def _authorized(self, repo: FakeRepo) -> str | None:
        """None when the request may read the repo, else the gated error status."""
        if not repo.gated:
            return None
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if token is None:
            return "401"
        return None if repo.repo_id in self.hub.tokens.get(token, set()) else "403"

    def _find_repo(self, parts: list[str]) -> tuple[FakeRepo | None, list[str]]:
        for n in (2, 1):
            repo = self.hub.repos.get("/".join(parts[:n]))
            if repo is not None:
                return repo, parts[n:]
        return None, parts[2:]

    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def _route(self) -> None:
        hub = self.hub
        split = urlsplit(self.path)
        path = unquote(split.path)
        with hub._lock:
            hub.requests.append((self.command, path, self.headers.get("Range")))
        if path.startswith("/api/"):
            fault = hub._take_fault(hub.api_faults, self.command)
            if fault is not None:
                return self._error(fault.status, None, f"injected {fault.status}", _retry(fault))
            return self._api(path[len("/api/") :], parse_qs(split.query))
        parts = path.strip("/").split("/")
        if "resolve" not in parts:
            return self._error(404, None, "not found")
        at = parts.index("resolve")
        repo = hub.repos.get("/".join(parts[:at]))
        if repo is None:
            return self._error(401, "RepoNotFound", "Repository not found")
        denied = self._authorized(repo)
        if denied:
            return self._error(
                int(denied),
                "GatedRepo",
                f"Access to model {repo.repo_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in.",
            )
        name = "/".join(parts[at + 2 :])
        f = repo.files.get(name)
        if f is None:
            return self._error(
                404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": repo.commit}
            )
        fault = hub._take_fault(hub.file_faults.get(name, []), self.command)
        if fault is not None and fault.status is not None:
            return self._error(fault.status, None, f"injected {fault.status}", _retry(fault))
        self._send_file(repo, name, f, fault)

    def _api(self, path: str, query: dict[str, list[str]]) -> None:
        if path == "models":
            return self._search(query)
        parts = path.split("/")
        if parts[0] != "models":
            return self._error(404, None, "not found")
        repo, rest = self._find_repo(parts[1:])
        if repo is None:
            return self._error(401, "RepoNotFound", "Repository not found")
        if not rest or rest[0] == "revision":
            return self._json(repo.info(blobs=bool(query.get("blobs"))))
        if rest[0] == "tree":
            return self._json(repo.tree())
        return self._error(404, None, "not found")

    def _search(self, query: dict[str, list[str]]) -> None:
        with self.hub._lock:
            self.hub.searches.append(query)

        def one(name: str, default: str | None = None) -> str | None:
            return (query.get(name) or [default])[0]

        words = [w.lower() for w in " ".join(query.get("search", [])).split()]
        author = one("author")
        filters = set(query.get("filter", []))
        found = [
            r
            for r in self.hub.repos.values()
            if all(w in r.repo_id.lower() for w in words)
            and (author is None or r.repo_id.split("/")[0].lower() == author.lower())
            and filters <= set(r.tags)
        ]
        order = {"downloads": lambda r: r.downloads, "likes": lambda r: r.likes,
                 "lastModified": lambda r: r.last_modified}  # fmt: skip
        sort = one("sort", "downloads")
        if sort not in order:
            return self._error(400, None, f"Invalid sort {sort}")
        found.sort(key=order[sort], reverse=one("direction", "-1") != "1")
        size = min(int(one("limit") or self.hub.page_size), 1000)
        start = int(one("cursor", "0"))
        page = found[start : start + size]
        headers = {}
        if start + size < len(found):
            rest = [(k, v) for k, values in query.items() if k != "cursor" for v in values]
            rest.append(("cursor", str(start + size)))
            headers["Link"] = f'<{self.hub.url}/api/models?{urlencode(rest)}>; rel="next"'
        full = one("full", "false") in ("true", "True", "1")
        expand = query.get("expand", [])
        return self._json([r.listed(full, expand) for r in page], headers=headers)

    def _send_file(self, repo: FakeRepo, name: str, f: FakeFile, fault: Fault | None) -> None:
        size = f.size
        start, end = 0, size - 1
        status = 200
        ranged = self.headers.get("Range") if self.hub.ranges else None
        if ranged and self.command == "GET":
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", ranged.strip())
            if m is None or (m[1] and int(m[1]) >= size):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(m[1]) if m[1] else size - int(m[2])
            end = min(int(m[2]), size - 1) if m[1] and m[2] else size - 1
            status = 206
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        if self.hub.ranges:
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{f.sha256}"')
        self.send_header("X-Linked-Etag", f'"{f.sha256}"')
        self.send_header("X-Linked-Size", str(size))
        self.send_header("X-Repo-Commit", repo.commit)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        with self.hub._lock:
            self.hub.active += 1
            self.hub.peak = max(self.hub.peak, self.hub.active)
        try:
            self._send_body(name, f, start, length, fault)
        finally:
            with self.hub._lock:
                self.hub.active -= 1

    def _send_body(self, name: str, f: FakeFile, start: int, length: int, fault) -> None:
        limit = length
        if fault is not None:
            cut = fault.drop_after if fault.drop_after is not None else fault.stall_after
            limit = min(length, cut or 0)
        sent = 0
        try:
            began = time.monotonic()
            with f.path.open("rb") as src:
                while sent < limit:
                    if self.hub.rate:  # pace to the link speed
                        time.sleep(max(0.0, began + sent / self.hub.rate - time.monotonic()))
                    n = self.connection.sendfile(src, start + sent, min(limit - sent, 1 << 20))
                    if n == 0:
                        break
                    sent += n
                    with self.hub._lock:
                        self.hub.served[name] += n
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if fault is not None and sent < length:
            if fault.stall_after is not None:
                self.hub._release.wait(fault.stall_seconds)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _retry(fault: Fault) -> dict:
    return {"Retry-After": fault.retry_after} if fault.retry_after else {}


@pytest.fixture
def fake_hub(monkeypatch):
    """A running FakeHub, with HF_ENDPOINT pointing at it."""
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    try:
        yield hub
    finally:
        hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve GGUF files as a loopback Hub.")
    parser.add_argument("--serve", type=Path, action="append", required=True, metavar="FILE")
    parser.add_argument("--repo", default="bench/bench-GGUF")
    parser.add_argument(
        "--rate", type=float, metavar="MB/S", help="pace each response to this speed"
    )
    args = parser.parse_args()
    hub = FakeHub(rate=args.rate * 1e6 if args.rate else None)
    hub.add_repo(args.repo, {p.name: p for p in args.serve})
    hub.start()
    print(hub.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        hub.stop()


if __name__ == "__main__":
    main()
