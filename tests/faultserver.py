"""A loopback OpenAI-compatible server that misbehaves on purpose.

The model a request names picks the behaviour, so one server covers every fault:

- `ok`: streams `pieces` then a final chunk (and a `usage` chunk when
  `stream_options.include_usage`)
- `flaky`: 429 (with a short `retry-after-ms`) on its first request, then like `ok`
- `broken`: 500 every time (its body echoes the Authorization header, as a careless server might)
- `cut`: streams two pieces, then drops the connection mid-body
- `eof`: streams two pieces, then ends the body cleanly without a final chunk or `[DONE]`
- `stall`: streams one piece, then goes silent until the server closes
- `malformed`: streams one piece, then a `data:` line that is not JSON
- `error_event`: streams one piece, then an in-stream `{"error": ...}` event

Server-wide: `api_key` (wrong or missing key: 401; `forbidden_key`: 403), `strict` (unknown request
fields get 400, as OpenAI's own API does), `delay` (seconds between chunks), `reasoning` (pieces
`ok` streams first as `reasoning_content`, as llama.cpp's server sends a model's thinking).
`requests` records each request's path, headers (lower-case names) and JSON body. `extra_models`
are listed, not served. Any other model name gets a 404.

Run as a module (`python -m tests.faultserver --port N --pieces 1000`) it serves in its own process,
so a benchmark's client does not share a GIL with it.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = ("ok", "flaky", "broken", "cut", "eof", "stall", "malformed", "error_event")
DEFAULT_PIECES = ("Hello", ", ", "remote", " world", "!")
# What OpenAI's API accepts; a strict server rejects anything else (top_k, min_p, ...).
STANDARD_FIELDS = {
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
    "max_completion_tokens", "seed", "stop", "n", "presence_penalty", "frequency_penalty",
    "response_format",
}  # fmt: skip


class FaultServer:
    def __init__(
        self,
        pieces: tuple[str, ...] | list[str] = DEFAULT_PIECES,
        *,
        api_key: str | None = None,
        forbidden_key: str | None = None,
        strict: bool = False,
        delay: float = 0.0,
        port: int = 0,
        extra_models: tuple[str, ...] = (),
        reasoning: tuple[str, ...] = (),
    ) -> None:
        self.pieces = tuple(pieces)
        self.reasoning = tuple(reasoning)
        self.models = MODELS + tuple(extra_models)  # extra ones are only listed
        self.api_key = api_key
        self.forbidden_key = forbidden_key
        self.strict = strict
        self.delay = delay
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict, dict | None]] = []
        self.release = threading.Event()  # frees stalled handlers on close
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.fault = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up (stop(), timeouts) are what this server is for


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    @property
    def fault(self) -> FaultServer:
        return self.server.fault  # type: ignore[attr-defined]

    # -- plumbing -----------------------------------------------------------------------------

    def _headers(self) -> dict:
        return {name.lower(): value for name, value in self.headers.items()}

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        self._json(
            status, {"error": {"message": message, "type": "fault", "code": status}}, headers
        )

    def _authorised(self) -> bool:
        key = self.fault.api_key
        if key is None:
            return True
        sent = self.headers.get("Authorization", "")
        if self.fault.forbidden_key and sent == f"Bearer {self.fault.forbidden_key}":
            self._error(403, "this key may not use this server")
            return False
        if sent != f"Bearer {key}":
            self._error(401, "Invalid API key")
            return False
        return True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _event(self, payload: dict | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._chunk(b"data: " + text.encode() + b"\n\n")
        if self.fault.delay:
            time.sleep(self.fault.delay)

    # -- routes -------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self.fault.requests.append((self.path, self._headers(), None))
        if self.path != "/v1/models":
            return self._error(404, f"no route {self.path}")
        if self._authorised():
            models = [{"id": m, "object": "model", "owned_by": "fault"} for m in self.fault.models]
            models[0]["max_model_len"] = 8192  # `ok` says its context, as vLLM does
            self._json(200, {"object": "list", "data": models})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.fault.requests.append((self.path, self._headers(), body))
        if self.path != "/v1/chat/completions":
            return self._error(404, f"no route {self.path}")
        if not self._authorised():
            return
        model = body.get("model", "")
        self.fault.hits[model] += 1
        if self.fault.strict and (unknown := sorted(set(body) - STANDARD_FIELDS)):
            return self._error(400, f"Unrecognized request argument supplied: {', '.join(unknown)}")
        if model not in MODELS:
            return self._error(404, f"The model `{model}` does not exist")
        if model == "flaky" and self.fault.hits[model] == 1:
            return self._error(429, "Rate limit reached", {"retry-after-ms": "20"})
        if model == "broken":
            echoed = self.headers.get("Authorization", "")
            return self._error(
                500, f"internal error (request had {echoed!r})", {"retry-after-ms": "20"}
            )
        self._stream(model, body)

    def _stream(self, model: str, body: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(delta: dict, finish: str | None = None) -> dict:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model,
                    "choices": [choice]}  # fmt: skip

        pieces = self.fault.pieces
        self._event(chunk({"role": "assistant", "content": ""}))
        if model in ("ok", "flaky"):
            for piece in self.fault.reasoning:
                self._event(chunk({"reasoning_content": piece}))
            for piece in pieces:
                self._event(chunk({"content": piece}))
            self._event(chunk({}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {
                    "prompt_tokens": 7,
                    "completion_tokens": len(pieces),
                    "total_tokens": 7 + len(pieces),
                }
                self._event({**chunk({}), "choices": [], "usage": usage})
            self._event("[DONE]")
            self._chunk(b"")  # the chunked body's terminator
            return
        shown = pieces[:2] if model in ("cut", "eof") else pieces[:1]
        for piece in shown:
            self._event(chunk({"content": piece}))
        if model == "cut":
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # mid-body: no terminating chunk
        elif model == "eof":
            self._chunk(b"")
        elif model == "stall":
            self.wfile.flush()
            self.fault.release.wait(60)
            self.close_connection = True
        elif model == "malformed":
            self._event("{not json")
            self._chunk(b"")
        elif model == "error_event":
            self._event(
                {"error": {"message": "the model crashed [bold]\x1b[2J", "type": "server_error"}}
            )
            self._chunk(b"")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, deadline_s: float = 120.0) -> list[str]:
    """Poll a starting server's `/v1/models` until it answers (its model list) or its process ends;
    an answer that is an error (401...) is raised."""
    from tui.core.engine.base import EngineError
    from tui.core.engine.remote import list_models

    end = time.monotonic() + deadline_s
    while True:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"server exited ({process.returncode}): {output[-2000:]}")
        try:
            return list_models(url, max_retries=0, timeout=5.0)
        except EngineError as error:
            if error.kind != "network" or time.monotonic() > end:
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--pieces", type=int, default=5, help="how many distinct pieces `ok` streams"
    )
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    pieces = tuple(f"t{i} " for i in range(args.pieces))
    server = FaultServer(pieces, delay=args.delay, port=args.port)
    print(server.url, flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
