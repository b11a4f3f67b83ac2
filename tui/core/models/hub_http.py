"""huggingface-hub's HTTP client, with urllib3 carrying the bytes.

huggingface-hub does every request through one `httpx2.Client` (headers, tokens, redirects,
offline mode, retries and `http_get`'s resume all stay its own), and lets an application choose
how that client is built (`set_client_factory`, meant for proxies and certificates). We build the
same client with a different transport: urllib3's connection pool instead of httpcore2.

Why: httpcore2 hands each received piece through h11, which copies every byte three more times
(into its buffer, two slices, then `bytes()`); on a fast link that is most of a download's CPU,
more than curl spends on the whole download (bench/README.md, "Downloads"). urllib3's `read1`
receives straight into the bytes object it returns: one copy, as in curl. A receive returns what
has arrived (up to `READ_SIZE`), so a slow link still hands over small pieces at once and a stall
still trips the read timeout.

The transport returns the body undecoded (`decode_content=False`): httpx2 decodes
Content-Encoding itself. Proxies from the environment keep httpx2's own transports (the client
mounts them whatever the default transport is). urllib3's errors become the httpx2 errors that
huggingface-hub and `downloads._classify` sort into retryable and not.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import httpx2
import urllib3
from urllib3 import exceptions as u3

READ_SIZE = 1 << 20  # the most one receive takes from the socket
# Connections kept per host: every connection of the downloads in flight (settings: downloads
# concurrency x connections); urllib3 would close and warn about the ones above it.
POOL_SIZE = 64


class Urllib3Transport(httpx2.BaseTransport):
    def __init__(self) -> None:
        self._pool = urllib3.PoolManager(
            ssl_context=httpx2.create_ssl_context(), maxsize=POOL_SIZE, retries=False
        )

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = request.extensions.get("timeout", {})
        headers = urllib3.HTTPHeaderDict()
        for name, value in request.headers.multi_items():
            headers.add(name, value)
        with _mapped_errors():
            response = self._pool.urlopen(
                request.method,
                str(request.url),
                body=request.read() or None,
                headers=headers,
                redirect=False,  # httpx2 follows redirects (and drops the token across hosts)
                retries=False,  # huggingface-hub retries, and so do we
                preload_content=False,
                decode_content=False,
                timeout=urllib3.Timeout(connect=timeout.get("connect"), read=timeout.get("read")),
            )
        return httpx2.Response(
            status_code=response.status,
            headers=list(response.headers.iteritems()),
            stream=_Body(response),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def close(self) -> None:
        self._pool.clear()


class _Body(httpx2.SyncByteStream):
    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self._read_all = False

    def __iter__(self) -> Iterator[bytes]:
        with _mapped_errors():
            while piece := self._response.read1(READ_SIZE, decode_content=False):
                yield piece
        self._read_all = True

    def close(self) -> None:
        if not self._read_all:  # left mid-body (a stop, a split piece): the rest must not be
            self._response.close()  # read as the next answer on this connection
        self._response.release_conn()


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except u3.NewConnectionError as error:  # first: urllib3 makes it a kind of connect timeout
        raise httpx2.ConnectError(str(error)) from error
    except u3.ConnectTimeoutError as error:
        raise httpx2.ConnectTimeout(str(error)) from error
    except u3.ReadTimeoutError as error:
        raise httpx2.ReadTimeout(str(error)) from error
    except u3.ProtocolError as error:  # the peer closed mid-body, or sent fewer bytes than announced
        raise httpx2.RemoteProtocolError(str(error)) from error
    except (u3.SSLError, u3.ProxyError) as error:
        raise httpx2.ConnectError(str(error)) from error
    except u3.HTTPError as error:
        raise httpx2.TransportError(str(error)) from error


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Make huggingface-hub build its client with this transport (its own settings kept); once.
    Callers on other threads wait until it is done: replacing the factory closes the old client."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from huggingface_hub import get_session, set_client_factory

        base = get_session()  # the client huggingface-hub would use: keep its hooks and settings
        hooks, redirects, timeout = base.event_hooks, base.follow_redirects, base.timeout

        def factory() -> httpx2.Client:
            return httpx2.Client(
                event_hooks=hooks,
                follow_redirects=redirects,
                timeout=timeout,
                transport=Urllib3Transport(),
            )

        set_client_factory(factory)
        _installed = True
