"""`llmtui recommend`: the best models by a leaderboard metric that fit this machine.

For each: the quantization to take, its size (exact where a Hub listing was seen, `~` estimated
from the parameter count otherwise), the memory to spare and the expected speed (`estimate` until
answers measured here calibrate it). See `tui.core.models.recommend`.
"""

from __future__ import annotations

import argparse

from tui.cli import CliError, printed


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "recommend",
        help="the best models by a leaderboard metric that fit this machine",
        description="Rank catalogue models by a leaderboard metric, keep those that fit this "
        "machine's memory, and say which quantization to take and how fast it should answer.",
    )
    p.add_argument("--group", metavar="G", help="only models of this catalogue group (e.g. llm)")
    p.add_argument(
        "--metric", metavar="M",
        help="LEADERBOARD.METRIC or METRIC (e.g. open_llm.mmlu; default: the first "
        "leaderboard's overall score)",
    )  # fmt: skip
    p.add_argument("--limit", type=int, default=10, metavar="N", help="at most N models (10)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=run_recommend)


def pick_metric(catalogue, wanted: str | None):
    """(leaderboard, metric id) for `--metric`; CliError naming the choices when unknown."""
    if not catalogue.leaderboards:
        raise CliError("the catalogue has no leaderboard to rank by")
    if wanted is None:
        board = catalogue.leaderboards[0]
        return board, board.overall_metric
    board_id, _, metric_id = wanted.rpartition(".")
    for board in catalogue.leaderboards:
        if board_id in ("", board.id) and any(m.id == metric_id for m in board.metrics):
            return board, metric_id
    choices = [f"{board.id}.{m.id}" for board in catalogue.leaderboards for m in board.metrics]
    raise CliError(f"no metric {wanted!r}; choose one of: {', '.join(choices)}")


def run_recommend(args: argparse.Namespace, context) -> int:
    from tui.core.models import fit, recommend
    from tui.core.text import one_line

    catalogue = context.catalogue()
    if args.group is not None and catalogue.group(args.group) is None:
        choices = ", ".join(g.id for g in catalogue.groups)
        raise CliError(f"no group {args.group!r}; choose one of: {choices}")
    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    board, metric_id = pick_metric(catalogue, args.metric)
    ranked = [
        (rank, row, model)
        for rank, row in board.ranked(metric_id)
        if (model := catalogue.model(row.model)) is not None
        and (args.group is None or model.group == args.group)
    ]
    fits = recommend.for_context(context, [model for _, _, model in ranked])
    fitting = [(rank, row, model, fits[model.id]) for rank, row, model in ranked
               if fits[model.id].word == "yes"]  # fmt: skip
    chosen = fitting[: args.limit]
    rows = [
        {"rank": rank, "name": model.name, "leaderboard": board.id, "metric": metric_id,
         "score": row.scores[metric_id], **found.to_dict()}
        for rank, row, model, found in chosen
    ]  # fmt: skip
    label = f"{one_line(board.name)}, {one_line(board.metric(metric_id).name)}"
    group = f" of group {one_line(args.group)}" if args.group else ""
    if ranked:
        empty = f"None of the {len(ranked)} models ranked by {label} fits this machine."
    else:
        empty = f"No model{group} has a score for {label}."
    if printed(args, rows, empty, indent=2):
        return 0
    shown = f", the first {len(chosen)}" if len(chosen) < len(fitting) else ""
    print(f"Ranked by {label}; {len(fitting)} of {len(ranked)} fit this machine{shown}:")
    for rank, row, model, found in chosen:
        assert found.file is not None and found.fit is not None and found.speed is not None
        size = ("" if found.size_exact else "~") + fit.human_bytes(found.file.size)
        print(f"{rank:>3}. {one_line(model.name, 40):40} {row.scores[metric_id]!s:>6}  "
              f"{found.quant or '?':7} {size:>9}  {found.fit.where} "
              f"{fit.human_bytes(found.fit.headroom)} to spare  {found.speed.label}")  # fmt: skip
    return 0
