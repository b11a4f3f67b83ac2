"""`llmtui search TEXT`: GGUF repositories on the Hub whose id holds TEXT, of any publisher.

Most downloaded first (`--sort likes|updated` for the other orders); `--limit` results, fetched page
by page as the Hub hands them out. `--json` prints the results as a list of objects. Offline
(HF_HUB_OFFLINE, no network) or bad input: one line on stderr, exit status 2."""

from __future__ import annotations

import argparse

from tui.cli import CliError, printed


def register(subparsers) -> None:
    from tui.core.models.search import PAGE_SIZE, SORT_NAMES

    p = subparsers.add_parser(
        "search",
        help="search the Hub for GGUF repositories of any publisher",
        description="Search the Hugging Face Hub for GGUF repositories whose id holds TEXT: "
        "author, downloads, likes, last update and the quantizations offered. "
        "`llmtui download REPO` fetches one.",
    )
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--sort", choices=SORT_NAMES, default="downloads",
                   help="order of the results (default: downloads, most first)")  # fmt: skip
    p.add_argument("--limit", type=int, default=PAGE_SIZE, metavar="N",
                   help=f"how many results (default: {PAGE_SIZE})")  # fmt: skip
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_search)


def run_search(args: argparse.Namespace, context) -> int:
    from tui.core.models.search import HubSearch
    from tui.core.text import one_line

    if not args.text.strip():
        raise CliError("give some text to search for, e.g. `llmtui search qwen`")
    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    found = HubSearch(args.text, args.sort, page_size=min(args.limit, 100)).take(args.limit)
    empty = f"No GGUF repository on the Hub matches {one_line(args.text)!r}."
    if printed(args, [repo.as_json() for repo in found], empty, indent=2, ensure_ascii=True):
        return 0
    for repo in found:
        downloads, likes, updated = repo.cells
        gated = "  gated" if repo.gated else ""
        print(f"{one_line(repo.repo_id, 80):50} {downloads:>11} downloads {likes:>7} likes  "
              f"{updated}  {one_line(' '.join(repo.quants), 120) or '?'}{gated}")  # fmt: skip
    return 0
