"""`llmtui votes import FILE`, `llmtui votes export FILE` and `llmtui rank [--json]`.

Votes move between machines, and public battle data loads, in Chatbot Arena's battle format (a
JSON list or JSON Lines of `model_a`, `model_b`, `winner`; other fields kept). A file with any bad
record is refused whole (exit status 2, the record and field named, nothing imported). `rank`
prints your leaderboard: Bradley-Terry ratings on the Elo scale with bootstrap 95% intervals.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tui.cli import CliError, add_actions, printed


def register(subparsers) -> None:
    actions = add_actions(
        subparsers,
        "votes",
        help="import or export votes in Chatbot Arena's battle format",
        description="Move votes between machines, or load public battle data.",
    )
    load = actions.add_parser(
        "import",
        help="keep the battles of a file (refused whole if a record is bad)",
        description="Import battles (JSON list or JSON Lines of model_a, model_b, winner).",
    )
    load.add_argument("file", type=Path, metavar="FILE")
    load.set_defaults(func=run_import)
    save = actions.add_parser(
        "export",
        help="write every vote as battles (JSON Lines for a .jsonl name, else a JSON list)",
        description="Export this machine's blind votes and the imported battles.",
    )
    save.add_argument("file", type=Path, metavar="FILE")
    save.set_defaults(func=run_export)

    rank = subparsers.add_parser(
        "rank",
        help="your leaderboard from your blind votes and imported battles",
        description="Bradley-Terry ratings (Elo scale, mean 1000) with bootstrap 95%% intervals.",
    )
    rank.add_argument("--json", action="store_true", help="print the ranking as JSON")
    rank.add_argument("--rounds", type=int, default=None, metavar="N",
                      help="bootstrap rounds for the intervals (default 500)")  # fmt: skip
    rank.add_argument("--seed", type=int, default=None, metavar="N",
                      help="the bootstrap's seed (default 0: the same intervals each time)")  # fmt: skip
    rank.set_defaults(func=run_rank)


def _store(context):
    """The comparisons' store (a damaged or unwritable file is a StorageError: one line, exit 2)."""
    from tui.core.compare.store import CompareStore

    return CompareStore(context.paths.database)


def run_import(args: argparse.Namespace, context) -> int:
    from tui.core.compare.votes import VotesError, import_battles

    try:
        done = import_battles(_store(context), args.file)
    except VotesError as error:
        raise CliError(f"{error}; nothing imported") from None
    print(f"imported {done.added} battle(s) from {args.file}" +
          (f" ({done.already} already here)" if done.already else ""))  # fmt: skip
    return 0


def run_export(args: argparse.Namespace, context) -> int:
    from tui.core.compare.votes import VotesError, export_battles

    try:
        count = export_battles(_store(context), args.file)
    except VotesError as error:
        raise CliError(str(error)) from None
    print(f"exported {count} battle(s) to {args.file}")
    return 0


def run_rank(args: argparse.Namespace, context) -> int:
    from tui.core.compare import ranking
    from tui.core.compare.votes import leaderboard
    from tui.core.text import one_line

    rounds = ranking.BOOTSTRAP_ROUNDS if args.rounds is None else args.rounds
    if rounds < 0:
        raise CliError("--rounds must be 0 or more")
    seed = ranking.SEED if args.seed is None else args.seed
    board = leaderboard(_store(context), rounds=rounds, seed=seed)
    rows = [
        {**r.to_dict(), **{k: round(getattr(r, k), 1) for k in ("rating", "ci_low", "ci_high")}}
        for r in board.ratings
    ]
    empty = "no votes yet: vote in a blind comparison, or `llmtui votes import FILE`"
    if printed(args, rows, empty, ensure_ascii=True):
        return 0
    names = [one_line(r.model, 60) for r in board.ratings]
    width = max(len("model"), *(len(n) for n in names))
    print(f"{'#':>3}  {'model':<{width}}  rating  95% interval  games  wins  losses  ties")
    for place, (rating, name) in enumerate(zip(board.ratings, names, strict=True), start=1):
        interval = f"{rating.ci_low:.0f} to {rating.ci_high:.0f}"
        print(f"{place:>3}  {name:<{width}}  {rating.rating:>6.0f}  {interval:>12}"
              f"  {rating.games:>5}  {rating.wins:>4}  {rating.losses:>6}  {rating.ties:>4}")  # fmt: skip
    print(f"from {board.battles} battle(s): {board.local_votes} blind vote(s) here,"
          f" {board.imported} imported")  # fmt: skip
    return 0
