"""`llmtui serve MODEL` and `llmtui endpoints ...`: sharing models between machines.

`serve` runs llama-cpp-python's OpenAI-compatible server on a local GGUF so another llmtui (or any
OpenAI client) can use it as `http://HOST:PORT/v1#ALIAS`. MODEL is what `llmtui chat` takes for a
local model: a path, or a catalogue model or repository (`owner/repo[:QUANT]`) in the HF cache. It
listens on loopback unless `--host` says otherwise; another address is an explicit choice and gets
a warning (and `--api-key-env` to require a key). OpenAI's `response_format` is honoured, both
`json_object` and `json_schema` (the second rewritten to the form that server takes), and a model's
reasoning comes apart from its answer as `reasoning_content`, as llama.cpp's server sends it.

`endpoints` manages the servers this llmtui uses: list, add, remove, test.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import sys
from collections import defaultdict
from pathlib import Path

from tui.cli import CliError, add_actions, error_message

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080  # llama.cpp's llama-server uses it too
REASONING_FORMATS = ("none", "deepseek")  # llama-server's --reasoning-format names
NOT_REWRITTEN = (ValueError, TypeError, KeyError, AttributeError)  # a body not of the form rewritten


def register(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a local GGUF model over the OpenAI API (for another llmtui or any client)",
        description="Run llama-cpp-python's OpenAI-compatible server on a GGUF file.",
    )
    serve.add_argument(
        "model", metavar="MODEL", help=".gguf path, or a downloaded catalogue model or owner/repo[:QUANT]"
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; "
        "0.0.0.0 makes the model reachable from the network)",
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    serve.add_argument("--alias", metavar="NAME", help="model name clients use (default: file name)")
    serve.add_argument("--ctx", type=int, default=4096, metavar="N", help="context length (default 4096)")
    serve.add_argument(
        "--api-key-env", metavar="VAR", help="require the API key held in this environment variable"
    )
    serve.add_argument(
        "--template",
        metavar="NAME",
        help="prompt format (gguf, chatml, llama-2, ...); default: as `llmtui chat` chooses",
    )
    serve.add_argument(
        "--reasoning-format",
        choices=REASONING_FORMATS,
        default="deepseek",
        help="deepseek (default, as llama.cpp's server): a model's reasoning goes apart from the "
        "answer, as reasoning_content; none: left in the content",
    )
    serve.set_defaults(func=run_serve)

    actions = add_actions(
        subparsers,
        "endpoints",
        help="list, add, remove or test OpenAI-compatible servers (endpoints)",
        description="Servers whose models chat and compare can use as ENDPOINT#MODEL.",
    )
    actions.add_parser("list", help="the saved endpoints").set_defaults(func=run_list)
    add = actions.add_parser("add", help="save an endpoint, then test it")
    add.add_argument("name", help="a short name, e.g. gpu-box")
    add.add_argument("url", help="base URL, e.g. http://gpu-box:8080/v1")
    key = add.add_mutually_exclusive_group()
    key.add_argument("--key-env", metavar="VAR", default="", help="environment variable with the API key")
    key.add_argument(
        "--keyring", action="store_true", help="ask for the API key now and keep it in the OS keyring"
    )
    add.add_argument("--no-test", action="store_true", help="do not contact the server")
    add.set_defaults(func=run_add)
    remove = actions.add_parser("remove", help="forget an endpoint")
    remove.add_argument("name")
    remove.set_defaults(func=run_remove)
    test = actions.add_parser("test", help="connect and list the endpoint's models")
    test.add_argument("name")
    test.set_defaults(func=run_test)


# -- serve -----------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def run_serve(args: argparse.Namespace, context) -> int:
    path, chat_format, opened = _model_file(args, context)
    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port}: expected 1-65535")
    if not is_loopback(args.host):  # said first: it matters even when something else fails
        guard = "anyone who can reach it can use it (--api-key-env VAR requires a key)"
        if args.api_key_env:
            guard = "clients need the API key"
        print(f"llmtui: warning: listening on {args.host}, not just this machine: {guard}", file=sys.stderr)
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        raise CliError(f"--api-key-env {args.api_key_env}: that environment variable is not set")
    _check_port_free(args.host, args.port)
    alias = args.alias or path.name.removesuffix(".gguf")

    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    server = ServerSettings(host=args.host, port=args.port, api_key=api_key)
    model = ModelSettings(
        model=str(path), model_alias=alias, n_ctx=args.ctx, chat_format=chat_format, verbose=False
    )
    try:
        app = create_app(server_settings=server, model_settings=[model])  # loads the model
    except ValueError as error:  # llama.cpp's "Failed to load model from file"
        raise CliError(f"cannot serve {path.name}: {error}") from None
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {alias} at http://{shown}:{args.port}/v1 (ctrl+c stops)", flush=True)
    print(f"use it as: http://{shown}:{args.port}/v1#{alias}", flush=True)
    app = ChatCompletionsAsOpenAI(app, opened if args.reasoning_format == "deepseek" else None)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


class ChatCompletionsAsOpenAI:
    """ASGI, around llama-cpp-python's server app (checked on 0.3.36), for `POST
    /v1/chat/completions` alone; every other request passes as it came.

    Requests: OpenAI's `response_format` {"type": "json_schema", "json_schema": {"schema": S}} as
    that server takes the same constraint, {"type": "json_object", "schema": S}; it refuses the
    first form (422) and turns the second into a grammar.

    Responses, unless `reasoning_opened` is None: each choice's reasoning split out of its content
    into `reasoning_content`, as llama.cpp's server does (`--reasoning-format deepseek`; see
    `ReasoningApart`). `reasoning_opened`: the open marker the prompt format ends with, or "".
    """

    def __init__(self, app, reasoning_opened: str | None = "") -> None:
        self.app = app
        self.reasoning_opened = reasoning_opened

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await self.app(scope, receive, send)
            return
        chunks, message = [], {"more_body": True}
        while message.get("more_body"):
            message = await receive()
            chunks.append(message.get("body", b""))
        body = _json_object_form(b"".join(chunks))
        request = iter([{"type": "http.request", "body": body, "more_body": False}])

        async def replay():
            return next(request, None) or await receive()  # after the body: a disconnect, as it comes

        headers = _with_length(scope["headers"], body)
        if self.reasoning_opened is not None:
            send = ReasoningApart(send, self.reasoning_opened)
        await self.app({**scope, "headers": headers}, replay, send)


class ReasoningApart:
    """The `send` of one chat completion's response, with the reasoning apart from the answer.

    A JSON answer is held whole: each choice's `message.content` becomes `content` (the answer) and
    `reasoning_content` (absent when there is none). A stream (`data: {...}` events, each ended by a
    blank line; one may be cut across body chunks) goes through one `ReasoningSplitter` per choice:
    each `delta.content` becomes `delta.reasoning_content` and/or `delta.content`; an event left
    with an empty delta is dropped, and the text a splitter holds is sent before that choice's
    `finish_reason` event (or `[DONE]`), as llama.cpp's server sends its last parts. Other
    responses, events and bytes pass untouched.
    """

    def __init__(self, send, opened: str) -> None:
        from tui.core.chat.reasoning import ReasoningSplitter

        self.send = send
        self.opened = opened
        self.kind = ""  # "json", "sse", or "" (passed as it comes)
        self.start: dict = {}  # a JSON answer's response start, sent with the rewritten body
        self.held = b""  # a JSON answer so far, or the start of an event not ended yet
        self.splitters = defaultdict(lambda: ReasoningSplitter(opened))  # by choice index
        self.frame: dict = {}  # the last chunk: id, model... for the parts sent before [DONE]

    async def __call__(self, message) -> None:
        if message["type"] == "http.response.start":
            headers = dict(message.get("headers", []))
            media = headers.get(b"content-type", b"").split(b";")[0].strip()
            kinds = {b"application/json": "json", b"text/event-stream": "sse"}
            self.kind = kinds.get(media, "") if message["status"] == 200 else ""
            if self.kind == "json":
                self.start = message
                return
        elif message["type"] == "http.response.body" and self.kind:
            self.held += message.get("body", b"")
            more = message.get("more_body", False)
            if self.kind == "json":
                if more:
                    return
                body = _answer_apart(self.held, self.opened)
                headers = _with_length(self.start.get("headers", []), body)
                await self.send({**self.start, "headers": headers})
                message = {"type": "http.response.body", "body": body}
            else:
                ended, blank, self.held = self.held.rpartition(b"\n\n")
                events = ended.split(b"\n\n") if blank else []
                body = b"".join(self._event(event) for event in events)
                if not more:
                    body, self.held = body + self.held, b""  # an unended tail: as it came
                message = {**message, "body": body}
        await self.send(message)

    def _event(self, event: bytes) -> bytes:
        """One SSE event (its blank line cut off) as it goes out: itself, rewritten, or nothing."""
        ended = event + b"\n\n"
        if not event.startswith(b"data: ") or b"\n" in event:
            return ended
        if event == b"data: [DONE]":  # what a stream without a finish_reason left held
            held = [choice for index in list(self.splitters) for choice in self._finish(index, [])]
            return self._chunk(self.frame, held) + ended
        try:
            chunk = json.loads(event.removeprefix(b"data: "))
            choices = chunk["choices"]
            contents = [(c.get("delta") or {}).get("content") for c in choices]
            finishing = [c.get("finish_reason") is not None for c in choices]
        except NOT_REWRITTEN:
            return ended
        if not any(finishing) and not any(isinstance(c, str) for c in contents):
            return ended
        self.frame = chunk
        before, kept = [], []
        for choice, content, finishes in zip(choices, contents, finishing, strict=True):
            index, delta = choice.get("index", 0), choice.get("delta") or {}
            parts = []
            if isinstance(content, str):
                parts = self.splitters[index].feed(delta.pop("content"))
            if finishes:  # its last parts go before its finish_reason, as llama.cpp sends them
                before += self._finish(index, parts)
                kept.append(choice)
                continue
            delta.update(_delta(parts))
            if delta or not isinstance(content, str):
                kept.append(choice)  # else nothing certain yet: llama.cpp sends no event either
        return self._chunk(chunk, before) + self._chunk(chunk, kept)

    def _finish(self, index: int, parts: list) -> list[dict]:
        """The choice that sends `parts` and what choice `index`'s splitter still held, which then
        ends (none when there is no text to send)."""
        if index in self.splitters:
            parts = parts + self.splitters.pop(index).finish()
        return [{"index": index, "delta": _delta(parts), "finish_reason": None}] if parts else []

    @staticmethod
    def _chunk(frame: dict, choices: list) -> bytes:
        if not choices:
            return b""
        return b"data: " + json.dumps({**frame, "choices": choices}).encode() + b"\n\n"


def _delta(parts) -> dict:
    """A stream's delta for a splitter's TokenEvents: `reasoning_content` and `content`, each if any."""
    reasoning = "".join(p.text for p in parts if p.reasoning)
    answer = "".join(p.text for p in parts if not p.reasoning)
    return {key: text for key, text in (("reasoning_content", reasoning), ("content", answer)) if text}


def _answer_apart(body: bytes, opened: str) -> bytes:
    """A chat completion (JSON) with each choice's reasoning apart; any other body as it came."""
    from tui.core.chat.reasoning import split_reasoning

    try:
        answer = json.loads(body)
        messages = [choice["message"] for choice in answer["choices"]]
        contents = [message.get("content") for message in messages]
    except NOT_REWRITTEN:
        return body
    split = False
    for message, content in zip(messages, contents, strict=True):
        if isinstance(content, str):
            reasoning, message["content"] = split_reasoning(content, opened)
            if reasoning:
                message["reasoning_content"], split = reasoning, True
    return json.dumps(answer).encode() if split else body


def _with_length(headers, body: bytes) -> list:
    """`headers` with the content-length of `body` (a rewritten one)."""
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    return [*kept, (b"content-length", str(len(body)).encode())]


def _json_object_form(body: bytes) -> bytes:
    try:
        request = json.loads(body)
        response_format = request["response_format"]
        if response_format["type"] != "json_schema":
            return body
        schema = (response_format.get("json_schema") or {}).get("schema")
    except NOT_REWRITTEN:
        return body  # the server answers it as it would
    request["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
    return json.dumps(request).encode()


def _model_file(args: argparse.Namespace, context) -> tuple[Path, str | None, str]:
    """The GGUF file MODEL names, the chat format to serve it in and the reasoning marker that format's
    prompt opens ("" when none), as `llmtui chat` finds them; CliError (exit 2) otherwise. The format
    is the GGUF's own template (llama-cpp-python applies it itself: None), or a known format,
    registered with llama-cpp-python under an `llmtui-` name and rendered by our templates."""
    from tui.core.engine.base import EngineError
    from tui.core.engine.resolve import is_remote, local_format
    from tui.core.engine.templates import GGUF, TemplateError

    if is_remote(args.model):
        raise CliError(f"cannot serve {args.model}: it is a remote model; serve a local GGUF")
    # A catalogue id needs the catalogue; a path does not, so a broken catalogue only matters then.
    catalogue = context.catalogue_or_none()
    try:
        path, template = local_format(args.model, catalogue, context, args.template)
    except EngineError as error:
        raise CliError(f"cannot serve {args.model}: {error_message(error)}") from None
    except TemplateError as error:
        raise CliError(f"--template {args.template}: {error}") from None
    if template.is_guess:
        print(f"llmtui: prompt format guessed ({template.name}): {template.reason}; "
              "--template NAME chooses another", file=sys.stderr)  # fmt: skip
    if template.name == GGUF:
        return path, None, template.opened_reasoning()
    from llama_cpp import llama_chat_format

    def format_prompt(messages, **_settings) -> llama_chat_format.ChatFormatterResponse:
        # Known formats leave the BOS token to the tokenizer (added when the model wants one).
        return llama_chat_format.ChatFormatterResponse(
            prompt=template.render(messages), stop=list(template.stop), added_special=False
        )

    name = f"llmtui-{template.name}"
    llama_chat_format.LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(
        name, llama_chat_format.chat_formatter_to_chat_completion_handler(format_prompt), True
    )
    return path, name, template.opened_reasoning()


def _check_port_free(host: str, port: int) -> None:
    """Fail before the model loads, with a clear line, rather than after with uvicorn's log."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise CliError(f"--host {host}: not an address of this machine") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise CliError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


# -- endpoints -------------------------------------------------------------------------------------


def run_list(args: argparse.Namespace, context) -> int:
    from tui.core.engine.remote import key_source
    from tui.core.text import one_line

    settings = context.settings
    if not settings.endpoints:
        print("no endpoints saved (add one: llmtui endpoints add NAME URL)")
        return 0
    for endpoint in settings.endpoints:
        print(f"{endpoint.name}\t{one_line(endpoint.url)}\t{key_source(endpoint)}")
    return 0


def run_add(args: argparse.Namespace, context) -> int:
    from tui.core.config import endpoints
    from tui.core.config.settings import Endpoint

    endpoint = Endpoint(name=args.name, url=args.url, api_key_env=args.key_env, use_keyring=args.keyring)
    endpoint = endpoints.validated(endpoint)
    if context.settings.endpoint(endpoint.name) is not None:  # before a keyring entry is overwritten
        raise CliError(f"an endpoint named {endpoint.name!r} already exists")
    if args.keyring:
        import getpass

        key = getpass.getpass(f"API key for {endpoint.name} (not shown): ")
        if not key:
            raise CliError("no key given")
        endpoints.store_key(endpoint.name, key)
    endpoints.add_endpoint(context, endpoint)
    print(f"saved endpoint {endpoint.name} ({endpoint.url})")
    if args.no_test:
        return 0
    return _print_models(endpoint)


def run_remove(args: argparse.Namespace, context) -> int:
    from tui.core.config import endpoints

    endpoints.remove_endpoint(context, args.name)
    print(f"removed endpoint {args.name}")
    return 0


def run_test(args: argparse.Namespace, context) -> int:
    settings = context.settings
    endpoint = settings.endpoint(args.name)
    if endpoint is None:
        known = ", ".join(e.name for e in settings.endpoints) or "none saved"
        raise CliError(f"no endpoint named {args.name!r} (endpoints: {known})")
    return _print_models(endpoint)


def _print_models(endpoint) -> int:
    """Connect and print the models, one a line as ENDPOINT#MODEL; exit 1 when the server fails."""
    from tui.core.config import endpoints
    from tui.core.engine.base import EngineError
    from tui.core.text import clean, one_line

    try:
        models = endpoints.test_endpoint(endpoint)
    except EngineError as error:
        print(f"llmtui: {endpoint.name}: {clean(error.message)}", file=sys.stderr)
        return 1
    print(f"{endpoint.name}: {len(models)} model(s)")
    for model in models:
        print(one_line(endpoints.remote_spec(endpoint, model), 300))
    return 0
