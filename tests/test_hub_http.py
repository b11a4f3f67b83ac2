"""huggingface-hub's client over the urllib3 transport (`tui.core.models.hub_http`), against a loopback
server that answers in the ways a real one can: compressed, chunked, cut short."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest

from tui.core.models import hub_http


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict] = []

    def log_message(self, *args) -> None:
        pass

    def _send(self, body: bytes, length: int | None = None, **headers: str) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Handler.seen.append(dict(self.headers))
        if self.path == "/gzip":
            self._send(gzip.compress(b'{"ok": true}'), Content_Encoding="gzip")
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"first ", b"second"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/short":  # announces 1,000 bytes, sends 10, hangs up
            self._send(b"0123456789", length=1000)
            self.close_connection = True
        else:
            self._send(b"plain")

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(json.dumps({"got": body.decode()}).encode())


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def client():
    with httpx2.Client(transport=hub_http.Urllib3Transport()) as c:
        yield c


def test_bodies_come_back_decoded_and_whole(server, client):
    assert client.get(f"{server}/gzip").json() == {"ok": True}
    assert client.get(f"{server}/chunked").text == "first second"
    assert client.post(f"{server}/post", content=b"question").json() == {"got": "question"}
    with client.stream("GET", f"{server}/plain") as response:
        assert b"".join(response.iter_bytes()) == b"plain"


def test_a_body_cut_short_is_the_error_huggingface_hub_retries(server, client):
    with pytest.raises(httpx2.RemoteProtocolError), client.stream("GET", f"{server}/short") as r:
        r.read()


def test_connection_refused_and_read_timeout_are_httpx_errors(server, client):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here
    with pytest.raises(httpx2.ConnectError):
        client.get(f"http://127.0.0.1:{port}/")
    with socket.socket() as mute:  # accepts, never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        with pytest.raises(httpx2.ReadTimeout):
            client.get(f"http://127.0.0.1:{mute.getsockname()[1]}/", timeout=0.3)


def test_huggingface_hub_client_keeps_its_own_hooks(server):
    from huggingface_hub import get_session

    hub_http.install()
    session = get_session()
    _Handler.seen.clear()
    session.get(f"{server}/plain")
    # huggingface-hub's request hook (offline mode, request ids) still runs on every request.
    assert "x-amzn-trace-id" in {name.lower() for name in _Handler.seen[-1]}
    assert session.follow_redirects
