"""`llmtui`: the TUI by default, sub-commands for scripting.

Each sub-command lives in its own module here (`download`, `chat`, `compare`, `serve`) and exposes
`register(subparsers)`; heavy imports happen inside the command, so `llmtui --help` stays instant.
A command is called with the parsed arguments and the `AppContext` built once here. Bad input (any
`LlmtuiError` a command lets through) ends with one clear line on stderr and exit status 2, said here
for every command; the helpers below are the other patterns the commands share.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from tui import __version__
from tui.core.errors import LlmtuiError

COMMAND_MODULES = (
    "download", "search", "chat", "compare", "serve", "votes", "history", "recommend", "quant_check",
)


class CliError(LlmtuiError):
    """Bad command-line input. It and every other `LlmtuiError` a command lets through is printed
    as one line, exit status 2."""


def error_message(error: LlmtuiError) -> str:
    """An error as the command line says it: a model that is not downloaded also names the command
    that fetches it."""
    from tui.core.engine.resolve import NotDownloaded

    if isinstance(error, NotDownloaded):
        return f"{error.message}: `llmtui download {error.name}` fetches it"
    return str(error)


def add_actions(subparsers, name: str, **options):
    """A command made of actions (`llmtui history list`): what its actions are added to."""
    parser = subparsers.add_parser(name, **options)
    return parser.add_subparsers(title="actions", metavar="ACTION", required=True)


def say_recovery(store):
    """`store`, once stderr says what its opening recovered from (a damaged file set aside)."""
    if store.recovery is not None:
        print(f"llmtui: {store.recovery.title}: {store.recovery.message}", file=sys.stderr)
    return store


def printed(args: argparse.Namespace, data: list | dict, empty: str = "", **dumps) -> bool:
    """With `--json`, print `data` as JSON (`dumps`: json.dumps's options over one-space indents
    and text as it is); else, when there is no data, the line `empty`. Whether that was the whole
    output: if not, the command prints its text."""
    if args.json:
        print(json.dumps(data, **{"ensure_ascii": False, "indent": 1, **dumps}))
    elif not data:
        print(empty)
    return args.json or not data


def build_parser(commands: bool = True) -> argparse.ArgumentParser:
    """The `llmtui` parser; without `commands`, only the top-level options (no sub-command
    module is imported: the plain start does not pay for them)."""
    parser = argparse.ArgumentParser(
        prog="llmtui",
        description="Choose and try open LLMs in the terminal: browse, download GGUF, chat, compare.",
    )
    parser.add_argument("--version", action="version", version=f"llmtui {__version__}")
    parser.add_argument(
        "--catalogue", type=Path, metavar="PATH", help="catalogue YAML to use instead of the bundled one"
    )
    parser.set_defaults(func=run_app)
    if not commands:
        return parser
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"tui.cli.{name}").register(subparsers)
    return parser


def _plain_start(argv: list[str]) -> bool:
    """Whether argv is only `--catalogue PATH` / `--version`: the top-level parser alone reads it
    exactly as the full one would. Anything else (a command, -h, an error) gets the full parser,
    so its help, usage lines and messages are unchanged."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--catalogue":
            value = next(tokens, None)
            if value is None or value.startswith("-"):
                return False
        elif not (token == "--version" or token.startswith("--catalogue=")):
            return False
    return True


def run_app(args: argparse.Namespace, context) -> int:
    catalogue = context.catalogue()
    from tui.ui.app import LlmTui

    LlmTui(catalogue, context=context).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(commands=not _plain_start(argv))
    args = parser.parse_args(argv)
    from tui.core.config.context import AppContext

    context = AppContext.load(args.catalogue)
    try:
        if args.func is not run_app:  # a command cannot go on with defaults; the app says why
            context.checked_settings()
        return args.func(args, context)
    except LlmtuiError as error:
        from tui.core.text import clean

        print(f"llmtui: error: {clean(error_message(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
