"""`llmtui chat MODEL [--prompt TEXT] [--system TEXT] [--json]`: one answer on stdout, or the chat screen.

With `--prompt` the answer streams to stdout and the command exits (`--json`: one JSON document with
the answer, the model's reasoning apart from it, the model, its prompt format and the stats); a
reasoning block is never printed with the answer. `--json-schema FILE` (or `--grammar FILE`) constrains
the answer. The conversation is kept with the chat screen's (`--no-save`: not kept). Without it the
TUI opens on the chat screen with MODEL loaded. MODEL is any spec `tui.core.engine.resolve` takes.

A catalogue model (or Hub repository) with no file on this machine is downloaded first: the
recommended file for this machine (MODEL:QUANT picks another), after asking on the terminal, or
at once with `--yes`; where nobody can be asked (stdin is not a terminal), only with `--yes`.
"""

from __future__ import annotations

import argparse
import sys

from tui.cli import CliError, printed


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "chat",
        help="chat with a model: one answer with --prompt, else the chat screen",
        description="Chat with a local GGUF (or a remote model). With --prompt, print one answer and exit.",
    )
    parser.add_argument(
        "model", metavar="MODEL", help=".gguf path, catalogue model, owner/repo[:QUANT] or URL#MODEL"
    )
    parser.add_argument("--prompt", metavar="TEXT", help="ask this and print the answer ('-': read stdin)")
    # Flags named as the chat screen's settings are passed to it (`screen_options`).
    parser.add_argument(
        "--system", dest="system_prompt", metavar="TEXT", help="system prompt (default: the chat settings')"
    )
    parser.add_argument("--json", action="store_true", help="print the answer and its stats as JSON")
    parser.add_argument(
        "--preset", metavar="NAME",
        help="a preset's system prompt and settings (flags given go over them; default: the "
        "model's default preset, if it has one)",
    )  # fmt: skip
    parser.add_argument("--template", metavar="NAME", help="prompt format (gguf, chatml, llama-2, ...)")
    constrain = parser.add_mutually_exclusive_group()
    constrain.add_argument(
        "--json-schema", metavar="FILE", help="answer JSON that matches this JSON schema (.json)"
    )
    constrain.add_argument("--grammar", metavar="FILE", help="answer text this GBNF grammar (.gbnf) allows")
    parser.add_argument("--ctx", dest="context_length", type=int, metavar="N", help="context length")
    parser.add_argument("--gpu-layers", type=int, metavar="N", help="layers to offload to the GPU (-1: all)")
    parser.add_argument("--threads", type=int, metavar="N")
    parser.add_argument("--temperature", type=float, metavar="T")
    parser.add_argument("--top-p", type=float, metavar="P")
    parser.add_argument("--top-k", type=int, metavar="K")
    parser.add_argument("--min-p", type=float, metavar="P")
    parser.add_argument("--repeat-penalty", type=float, metavar="R")
    parser.add_argument("--max-tokens", type=int, metavar="N")
    parser.add_argument("--seed", type=int, metavar="N")
    parser.add_argument(
        "--prompt-lookup", type=int, metavar="N",
        help="prompt-lookup decoding: draft up to N tokens from the conversation (0: off)",
    )  # fmt: skip
    parser.add_argument(
        "--no-save", action="store_true",
        help="with --prompt: do not keep the conversation (it is kept, as the chat screen keeps them)",
    )  # fmt: skip
    parser.add_argument(
        "--yes", "-y", action="store_true",
        help="a model that is not on this machine yet: download its recommended file without asking",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, context) -> int:
    if args.preset is not None:
        context.presets().get(args.preset)  # an unknown one: one line and exit 2, before anything
    code = _download_if_missing(args, context, context.catalogue_or_none())
    if code:
        return code
    if args.prompt is None:
        return _open_screen(args, context)
    return _answer(args, context)


def _download_if_missing(args: argparse.Namespace, context, catalogue) -> int:
    """Download MODEL's file when it names a model that is not on this machine; the exit status of a
    download that failed, else 0."""
    from tui.cli.download import fetch, pick_file
    from tui.core.engine.base import EngineError
    from tui.core.engine.resolve import NotDownloaded, find_local, is_remote
    from tui.core.models import hub

    if is_remote(args.model):
        return 0
    try:
        find_local(args.model, catalogue, context)
        return 0
    except NotDownloaded as error:
        missing = error
    except EngineError:
        return 0  # not a model to download: opening it says what is wrong
    if not args.yes and not sys.stdin.isatty():
        raise CliError(f"{missing.message}; pass --yes to download it first")
    if hub.offline():
        raise CliError(f"{missing.message}; {hub.OFFLINE_MESSAGE}")
    print(f"llmtui: {missing.message}", file=sys.stderr)
    _, _, quant = args.model.partition(":")
    chosen = pick_file(missing.name, context, quant=quant or None, yes=args.yes)
    if chosen is None:
        return 1
    code, _ = fetch(chosen, context)
    return code


def screen_options(args: argparse.Namespace) -> dict:
    """The flags given on the command line that are the chat screen's settings (the chat settings,
    and `template`), by name."""
    from dataclasses import fields

    from tui.core.config.settings import ChatSettings

    settings = {"template", *(field.name for field in fields(ChatSettings))}
    return {name: value for name, value in vars(args).items() if name in settings and value is not None}


def _answer(args: argparse.Namespace, context) -> int:
    from tui.core.chat.session import Answered, ChatSession
    from tui.core.chat.store import ConversationStore
    from tui.core.text import clean

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    session = ChatSession(context, catalogue=context.catalogue_or_none(),
                          preset=args.preset, overrides=screen_options(args))  # fmt: skip
    # A broken schema or grammar is one line before anything is loaded or opened.
    session.set_response_format(args.json_schema or args.grammar)
    # Kept as the chat screen keeps conversations (it lists them), unless --no-save.
    store = session.store = None if args.no_save else ConversationStore(context.paths.database)
    # Model text on a terminal is cleaned (an answer must not drive the terminal); piped, it is exact.
    show = clean if sys.stdout.isatty() else str
    try:
        info = session.load(args.model)
        for event in session.answer([], question=prompt):
            if isinstance(event, Answered):
                ended = event
            elif not args.json and not event.reasoning:  # the answer alone
                sys.stdout.write(show(event.text))
                sys.stdout.flush()
    except KeyboardInterrupt:
        session.stop()
        raise
    finally:
        session.close()
        if store is not None:
            store.close()
    if ended.error is not None:
        raise ended.error  # one line, exit 2, as every other error
    document = {
        "model": args.model,
        "model_name": info.name,
        "template": info.template_name,
        "template_source": info.template_source,
        "template_is_guess": info.template_is_guess,
        "answer": ended.text,
        "reasoning": ended.reasoning or None,
        "reasoning_seconds": ended.reasoning_seconds,
        "stats": ended.stats.to_dict(),
    }
    if printed(args, document, indent=None):
        return 0
    if not ended.text.endswith("\n"):
        sys.stdout.write("\n")
    if info.template_is_guess:
        reason = info.template_reason
        print(f"llmtui: prompt format guessed ({info.template_name}): {reason}", file=sys.stderr)
    return 0


def _open_screen(args: argparse.Namespace, context) -> int:
    from tui.core.engine.structured import load_response_format
    from tui.ui.app import LlmTui

    chosen = args.json_schema or args.grammar
    if chosen:
        load_response_format(chosen)  # a broken file is one line here, before the screen opens
    job = ("chat", args.model, {"options": screen_options(args), "preset": args.preset,
                                "response_format": chosen})  # fmt: skip
    LlmTui(context.catalogue(), context=context, first_job=job).run()
    return 0
