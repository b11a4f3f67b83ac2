"""`llmtui compare A B [...] (--prompt TEXT | --prompts FILE)`: a comparison, headless.

Prints the answers side by side in columns as wide as the terminal (or JSON with --json), saves
the comparison with the others, and for a prompt set says what changed since its last run with the
same models. Exit status: 0 when every model answered, 1 when a model failed, 2 for bad input or
a comparison that could not be saved (a full disk: the answers are printed first).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tui.cli import CliError, printed, say_recovery


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare 2-4 models on one prompt or a prompt set, side by side",
        description="Run the same prompt(s) through 2-4 models and show the answers side by side.",
    )
    parser.add_argument("models", nargs="*", metavar="MODEL", help=".gguf path, catalogue id or URL#MODEL")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--prompt", metavar="TEXT", help="the prompt")
    source.add_argument("--prompts", type=Path, metavar="FILE", help="a prompt set (.yaml or .jsonl)")
    parser.add_argument("--system", metavar="TEXT", help="system prompt for every model")
    parser.add_argument(
        "--preset",
        action="append",
        default=[],
        metavar="[N:]NAME",
        help="a preset for every model, or N:NAME: its sampling for model N only (1-based); "
        "without one a model's default preset gives its sampling",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sequential", action="store_const", const="sequential", dest="mode")
    mode.add_argument("--parallel", action="store_const", const="parallel", dest="mode")
    parser.add_argument("--max-tokens", type=int, metavar="N")
    parser.add_argument("--temperature", type=float, metavar="T")
    parser.add_argument("--seed", type=int, metavar="N", help="sampling seed (default: random)")
    parser.add_argument("--ctx", type=int, metavar="N", help="context length")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="N:NAME=VALUE",
        help="a setting for model N only (1-based), e.g. --set 2:temperature=0",
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument("--no-save", action="store_true", help="do not keep this comparison")
    parser.set_defaults(func=run, mode="auto")


def run(args: argparse.Namespace, context) -> int:
    from dataclasses import asdict

    from tui.core.chat.presets import sampling_overrides
    from tui.core.compare.comparison import (
        MAX_MODELS,
        MIN_MODELS,
        ColumnChanged,
        CompareConfig,
        CompareError,
        Comparison,
        ModelChoice,
        make_plan,
        parse_overrides,
    )
    from tui.core.compare.diff import diff
    from tui.core.compare.prompt_sets import Prompt, load_prompt_set
    from tui.core.compare.store import CompareStore
    from tui.core.engine.base import chat_options
    from tui.core.engine.resolve import find_local, is_remote
    from tui.core.models.gguf_header import GgufHeaderError, check_local
    from tui.core.storage import StorageError

    if not MIN_MODELS <= len(args.models) <= MAX_MODELS:
        raise CliError(f"compare needs {MIN_MODELS} to {MAX_MODELS} models, got {len(args.models)}")
    if args.prompt is None and args.prompts is None:
        raise CliError("give --prompt TEXT or --prompts FILE")
    catalogue = None
    if any(not is_remote(m) and not Path(m).expanduser().is_file() for m in args.models):
        catalogue = context.catalogue()  # a catalogue id names its downloaded file
    for spec in args.models:
        if is_remote(spec):
            continue  # a server is reached when the comparison runs
        model = find_local(spec, catalogue, context)
        try:
            check_local(model.path)
        except GgufHeaderError as error:
            raise CliError(f"{spec}: {error}") from None
    if args.prompts is not None:
        prompt_set = load_prompt_set(args.prompts)
        prompts, system, set_path = prompt_set.prompts, prompt_set.system, str(args.prompts.resolve())
    else:
        if not args.prompt.strip():
            raise CliError("--prompt is empty")
        prompts, system, set_path = (Prompt(args.prompt, id="prompt"),), "", ""
    chat = context.settings.chat
    shared, own = _presets(args, context.presets())
    load, sampling = chat_options(
        chat, shared.values() if shared else None, temperature=args.temperature,
        max_tokens=args.max_tokens, seed=args.seed, context_length=args.ctx,
    )  # fmt: skip
    overrides = [sampling_overrides(p, sampling) if p else {} for p in own]
    for item in args.set:
        number, sep, setting = item.partition(":")
        if not sep or not number.isdigit() or not 1 <= int(number) <= len(args.models):
            raise CliError(f"--set {item!r}: expected N:NAME=VALUE with N from 1 to {len(args.models)}")
        try:
            overrides[int(number) - 1].update(parse_overrides(setting))
        except CompareError as error:
            raise CliError(f"--set {item!r}: {error}") from None

    config = CompareConfig(
        models=tuple(ModelChoice(spec, o) for spec, o in zip(args.models, overrides, strict=True)),
        prompts=tuple(prompts),
        system_prompt=args.system
        if args.system is not None
        else system or (shared.system_prompt if shared else chat.system_prompt),
        sampling=sampling,
        load=load,
        mode=args.mode,
        prompt_set=set_path,
    )
    plan = make_plan(
        args.models, args.mode, n_ctx=load.n_ctx, max_threads=load.n_threads,
        catalogue=catalogue, context=context,
    )  # fmt: skip
    if plan.too_large:
        index = plan.too_large[0]
        raise CliError(
            f"{args.models[index]} would not fit in memory: needs about "
            f"{(plan.needs[index] or 0) / 1e9:.1f} GB, {plan.available / 1e9:.1f} GB available"
        )

    # Opened before the models run: a data folder that cannot be written fails now, not after.
    store = None if args.no_save else say_recovery(CompareStore(context.paths.database))

    def progress(event) -> None:
        if isinstance(event, ColumnChanged) and sys.stderr.isatty():
            column = event.column
            print(f"[{column.letter}] {column.spec}: {column.state}", file=sys.stderr)

    comparison = Comparison(
        config, on_event=progress, plan=plan, catalogue=catalogue, context=context
    )
    try:
        result = comparison.run()
    except KeyboardInterrupt:
        comparison.stop()
        comparison.wait()
        raise

    changes, not_saved = [], None
    if store is not None:
        try:
            previous = store.latest_like(result) if set_path else None
            store.save(result)
            if previous is not None:
                changes = diff(store.load(previous), result)
        except StorageError as error:
            not_saved = error  # the answers are printed all the same, then the error
        finally:
            store.close()
    data = {**result.to_dict(), "plan": plan.reason, "changes": [asdict(c) for c in changes]}
    if not printed(args, data, indent=2):
        print_side_by_side(result, plan.reason, changes)
    if not_saved is not None:
        raise CliError(f"the comparison was not saved: {not_saved}")
    return 1 if any(c.state == "failed" for c in result.columns) else 0


def _presets(args: argparse.Namespace, book) -> tuple:
    """(the preset for every model or None, each model's own preset or None) from --preset and the
    models' default presets; PresetError for a name the book does not know."""
    shared, own = None, [None] * len(args.models)
    for item in args.preset:
        number, sep, name = item.partition(":")
        if sep and number.isdigit() and 1 <= int(number) <= len(args.models):
            own[int(number) - 1] = book.get(name)
        else:
            shared = book.get(item)
    if shared is None:  # a model's default gives way to a preset chosen for the comparison
        own = [p or book.default_for(spec) for p, spec in zip(own, args.models, strict=True)]
    return shared, own


def print_side_by_side(result, plan_reason: str, changes) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from tui.core.compare.comparison import answer_text, stats_line
    from tui.core.text import clean

    console = Console(highlight=False, soft_wrap=False)
    columns = result.by_letter()
    console.print(Text(f"{len(columns)} models, {plan_reason}", style="dim"))
    for row, prompt in enumerate(result.config.prompts):
        table = Table(show_lines=True, expand=True, title=Text(clean(prompt.prompt)))
        for column in columns:
            table.add_column(Text(column.name()), ratio=1, overflow="fold")
        cells = [result.cell(row, column.index) for column in columns]
        table.add_row(*(Text(clean(answer_text(cell))) for cell in cells))
        table.add_row(
            *(Text(stats_line(c, cell), style="dim") for c, cell in zip(columns, cells, strict=True))
        )
        console.print(table)
    if result.id is not None:
        console.print(Text(f"saved as comparison #{result.id}", style="dim"))
    for change in changes:
        console.print(Text(f"changed since last run: {clean(change.describe())}"))
