"""`llmtui serve MODEL` and `llmtui endpoints ...`: sharing models between machines.

`serve` runs llama-cpp-python's OpenAI-compatible server on a local GGUF so another llmtui (or any
OpenAI client) can use it as `http://HOST:PORT/v1#ALIAS`. MODEL is what `llmtui chat` takes for a
local model: a path, or a catalogue model or repository (`owner/repo[:QUANT]`) in the HF cache. It
listens on loopback unless `--host` says otherwise; another address is an explicit choice and gets
a warning (and `--api-key-env` to require a key). OpenAI's `response_format` is honoured, both
`json_object` and `json_schema` (the second rewritten to the form that server takes).

`endpoints` manages the servers this llmtui uses: list, add, remove, test.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from pathlib import Path

from tui.cli import CliError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080  # llama.cpp's llama-server uses it too


def register(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a local GGUF model over the OpenAI API (for another llmtui or any client)",
        description="Run llama-cpp-python's OpenAI-compatible server on a GGUF file.",
    )
    serve.add_argument(
        "model",
        metavar="MODEL",
        help=".gguf path, or a downloaded catalogue model or owner/repo[:QUANT]",
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; "
        "0.0.0.0 makes the model reachable from the network)",
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    serve.add_argument(
        "--alias", metavar="NAME", help="model name clients use (default: file name)"
    )
    serve.add_argument(
        "--ctx", type=int, default=4096, metavar="N", help="context length (default 4096)"
    )
    serve.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="require the API key held in this environment variable",
    )
    serve.add_argument(
        "--template",
        metavar="NAME",
        help="prompt format (gguf, chatml, llama-2, ...); default: as `llmtui chat` chooses",
    )
    serve.set_defaults(func=run_serve)

    endpoints = subparsers.add_parser(
        "endpoints",
        help="list, add, remove or test OpenAI-compatible servers (endpoints)",
        description="Servers whose models chat and compare can use as ENDPOINT#MODEL.",
    )
    actions = endpoints.add_subparsers(title="actions", metavar="ACTION", required=True)
    actions.add_parser("list", help="the saved endpoints").set_defaults(func=run_list)
    add = actions.add_parser("add", help="save an endpoint, then test it")
    add.add_argument("name", help="a short name, e.g. gpu-box")
    add.add_argument("url", help="base URL, e.g. http://gpu-box:8080/v1")
    key = add.add_mutually_exclusive_group()
    key.add_argument(
        "--key-env", metavar="VAR", default="", help="environment variable with the API key"
    )
    key.add_argument(
        "--keyring",
        action="store_true",
        help="ask for the API key now and keep it in the OS keyring",
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
    path, chat_format = _model_file(args, context)
    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port}: expected 1-65535")
    if not is_loopback(args.host):  # said first: it matters even when something else fails
        guard = (
            "clients need the API key" if args.api_key_env else "anyone who can reach it can use it"
        )
        print(
            f"llmtui: warning: listening on {args.host}, not just this machine: {guard}"
            + ("" if args.api_key_env else " (--api-key-env VAR requires a key)"),
            file=sys.stderr,
        )
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise CliError(
                f"--api-key-env {args.api_key_env}: that environment variable is not set"
            )
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
    uvicorn.run(OpenAIResponseFormat(app), host=args.host, port=args.port, log_level="warning")
    return 0


class OpenAIResponseFormat:
    """ASGI: OpenAI's `response_format` {"type": "json_schema", "json_schema": {"schema": S}} as
    llama-cpp-python's server (checked on 0.3.36) takes the same constraint, {"type": "json_object",
    "schema": S}; it refuses the first form (422) and turns the second into a grammar. Every other
    request passes as it came."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await self.app(scope, receive, send)
            return
        chunks, message = [], {"more_body": True}
        while message.get("more_body"):
            message = await receive()
            chunks.append(message.get("body", b""))
        body = _json_object_form(b"".join(chunks))
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: a disconnect, as it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app({**scope, "headers": headers}, replay, send)


def _json_object_form(body: bytes) -> bytes:
    import json

    try:
        request = json.loads(body)
        response_format = request["response_format"]
        if response_format["type"] != "json_schema":
            return body
        schema = (response_format.get("json_schema") or {}).get("schema")
    except (ValueError, TypeError, KeyError, AttributeError):
        return body  # not a request this rewrites: the server answers it as it would
    request["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
    return json.dumps(request).encode()


def _model_file(args: argparse.Namespace, context) -> tuple[Path, str | None]:
    """The GGUF file MODEL names, checked to be one, and the chat format to serve it with;
    CliError (exit 2) otherwise."""
    from tui.cli import engine_message
    from tui.core.catalogue import CatalogueError
    from tui.core.engine.base import EngineError
    from tui.core.engine.resolve import find_local, is_remote
    from tui.core.models.gguf_header import GgufHeaderError, check_local

    if is_remote(args.model):
        raise CliError(f"cannot serve {args.model}: it is a remote model; serve a local GGUF")
    # A catalogue id needs the catalogue; a path does not, so a broken catalogue only matters then.
    try:
        catalogue = context.catalogue()
    except CatalogueError:
        catalogue = None
    try:
        model = find_local(args.model, catalogue, context.settings.model_dirs)
        header = check_local(model.path)
    except EngineError as error:
        raise CliError(f"cannot serve {args.model}: {engine_message(error)}") from None
    except GgufHeaderError as error:
        raise CliError(f"cannot serve {args.model}: {error}") from None
    return model.path, _chat_format(header, model.family_hint, args.template)


def _chat_format(header, family_hint: str | None, choice: str | None) -> str | None:
    """The server answers in the prompt format `llmtui chat` would use for this file: the GGUF's
    own template (llama-cpp-python applies it itself: None), or a known format, registered with
    llama-cpp-python under an `llmtui-` name and rendered by our templates."""
    from tui.core.engine.templates import GGUF, TemplateError, choose_template

    strings = {k: v for k, v in header.metadata.items() if isinstance(v, str)}
    try:
        template = choose_template(strings, header.path.name, choice, family_hint)
    except TemplateError as error:
        raise CliError(f"--template {choice}: {error}") from None
    if template.is_guess:
        print(f"llmtui: prompt format guessed ({template.name}): {template.reason}; "
              "--template NAME chooses another", file=sys.stderr)  # fmt: skip
    if template.name == GGUF:
        return None
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
    return name


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

    endpoint = Endpoint(
        name=args.name, url=args.url, api_key_env=args.key_env, use_keyring=args.keyring
    )
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
