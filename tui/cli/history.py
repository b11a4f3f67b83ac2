"""`llmtui history list | search TEXT | show ID | export ID`: the saved conversations from a terminal.

`show` prints the branch a conversation shows (or, with `--at`, the branch through a message a
search found) as plain text, cleaned of terminal escapes; `export` writes the same branch as the
app's Markdown or JSON export, to stdout or a file. An id that is not there is one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from tui.cli import CliError, add_actions, printed, say_recovery

ROLES = {"system": "System", "user": "You", "assistant": "Assistant"}


def register(subparsers) -> None:
    actions = add_actions(
        subparsers,
        "history",
        help="list, search, show or export the saved conversations",
        description="The conversations kept by the chat screen and `llmtui chat`.",
    )
    listing = actions.add_parser(
        "list", help="the conversations, the most recent first", description="List conversations."
    )
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (50)")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    listing.set_defaults(func=run_list)

    search = actions.add_parser(
        "search",
        help="full-text search over every message, on every branch",
        description="Messages holding every word (the last one may be the start of a word).",
    )
    search.add_argument("text", nargs="+", metavar="TEXT")
    search.add_argument("--limit", type=int, default=20, metavar="N", help="at most N hits (20)")
    search.add_argument("--json", action="store_true", help="print the hits as JSON")
    search.set_defaults(func=run_search)

    show = actions.add_parser(
        "show",
        help="print a conversation as plain text (the branch it shows)",
        description="Print a conversation: the branch it shows, or the one through a message.",
    )
    show.add_argument("id", type=int, metavar="ID")
    show.add_argument("--at", type=int, metavar="MESSAGE",
                      help="the branch through this message (a search hit's)")  # fmt: skip
    show.add_argument("--reasoning", action="store_true", help="print the models' reasoning too")
    show.set_defaults(func=run_show)

    export = actions.add_parser(
        "export",
        help="a conversation as Markdown (or --json), the branch it shows",
        description="Export a conversation as the app does: Markdown, or JSON with --json.",
    )
    export.add_argument("id", type=int, metavar="ID")
    export.add_argument("--json", action="store_true", help="JSON instead of Markdown")
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="write it to FILE")
    export.set_defaults(func=run_export)


def _store(context) -> closing:
    """The conversations' store, closed after its `with` (a file that cannot be read is a
    StorageError: one line, exit 2)."""
    from tui.core.chat.store import ConversationStore

    return closing(say_recovery(ConversationStore(context.paths.database)))


def _conversation(store, conversation_id: int, at: int | None = None):
    try:
        conversation = store.get(conversation_id)
    except KeyError:
        raise CliError(f"no conversation #{conversation_id} (`llmtui history list` shows them)") from None
    if at is None:
        return conversation
    try:
        return store.get(conversation_id, at=at)
    except KeyError:
        raise CliError(f"conversation #{conversation_id} has no message {at}") from None


def _when(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")


def _positive(limit: int) -> int:
    if limit < 1:
        raise CliError("--limit must be 1 or more")
    return limit


def run_list(args: argparse.Namespace, context) -> int:
    from tui.core.text import one_line

    with _store(context) as store:
        conversations = store.list(limit=_positive(args.limit))
    empty = "no conversations yet: chat in the app, or with `llmtui chat MODEL`"
    if printed(args, [asdict(c) for c in conversations], empty):
        return 0
    models = [one_line(c.model_name, 30) for c in conversations]
    width = max(len("model"), *(len(m) for m in models))
    print(f"{'#':>5}  {'updated':<16}  messages  {'model':<{width}}  title")
    for c, model in zip(conversations, models, strict=True):
        print(f"{c.id:>5}  {_when(c.updated_at):<16}  {c.messages:>8}  {model:<{width}}"
              f"  {one_line(c.title, 60)}")  # fmt: skip
    return 0


def run_search(args: argparse.Namespace, context) -> int:
    from tui.core.text import one_line

    text = " ".join(args.text)
    with _store(context) as store:
        hits = store.search(text, limit=_positive(args.limit))
    rows = [{**asdict(hit), "snippet": hit.snippet()} for hit in hits]  # parts: [text, match]
    if printed(args, rows, f"nothing holds {one_line(text, 60)!r}"):
        return 0
    by_conversation: dict[int, list] = {}
    for hit in hits:  # the best first; a conversation's hits together, under its best one
        by_conversation.setdefault(hit.conversation_id, []).append(hit)
    for conversation_id, found in by_conversation.items():
        print(f"#{conversation_id} {one_line(found[0].title, 60)}")
        for hit in found:
            print(f"  {hit.message_id:>6} {ROLES[hit.role].lower()}: {hit.snippet()}")
    print("`llmtui history show ID --at MESSAGE` prints the branch through a message")
    return 0


def run_show(args: argparse.Namespace, context) -> int:
    from tui.core.text import clean, one_line

    with _store(context) as store:
        conversation = _conversation(store, args.id, args.at)
    model = one_line(conversation.model_name or conversation.model, 80)
    print(one_line(conversation.title or "Conversation", 200))
    print(f"#{conversation.id} · {model} · started {_when(conversation.created_at)}"
          f" · {len(conversation.messages)} message(s) on this branch")  # fmt: skip
    system = conversation.settings.get("system_prompt")
    if system:
        print(f"\nSystem:\n{clean(system)}")
    for message in conversation.messages:
        heading = ROLES[message.role]
        if message.alternatives.count > 1:
            heading += f" ({message.alternatives.label})"
        if message.stopped:
            heading += " (stopped)"
        print(f"\n{heading}:")
        if message.reasoning and args.reasoning:
            print(f"[reasoning]\n{clean(message.reasoning)}\n[answer]")
        elif message.reasoning:
            print(f"[reasoning: {len(message.reasoning):,} characters; --reasoning prints it]")
        print(clean(message.content))
    return 0


def run_export(args: argparse.Namespace, context) -> int:
    from tui.core.storage import write_atomic

    with _store(context) as store:
        conversation = _conversation(store, args.id)
    text = conversation.to_json() if args.json else conversation.to_markdown()
    text += "" if text.endswith("\n") else "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    write_atomic(args.output, text)
    print(f"exported conversation #{conversation.id} to {args.output}")
    return 0
