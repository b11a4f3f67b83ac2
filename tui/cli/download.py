"""`llmtui download MODEL_OR_REPO` and `llmtui models`.

`download` finds the GGUF repository (catalogue first, then the Hub), picks a file (`--quant`,
`--file`, or the recommended one for this machine), downloads it with a progress bar on stderr, and
prints the verified file's path on stdout. Before any weights are fetched, the installed llama.cpp is
asked whether it can load the file (`tui.core.models.loadable`: its header only); a file it cannot
load is refused unless `--force`. Exit status: 0 only for a verified file; 1 when the Hub, the
network or the disk failed (a partial download is kept: run the same command again to resume); 2
for bad input or a file llama.cpp cannot load."""

from __future__ import annotations

import argparse
import json
import sys
import time

from tui.cli import CliError
from tui.core.text import one_line


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "download",
        help="download a GGUF file from the Hub into the Hugging Face cache",
        description="Download a GGUF quantization of a model (catalogue id, Hub model id or GGUF "
        "repository id). Prints the verified file's path.",
    )
    p.add_argument("model", metavar="MODEL_OR_REPO")
    pick = p.add_mutually_exclusive_group()
    pick.add_argument("--quant", metavar="QUANT", help="quantization to fetch, e.g. Q4_K_M")
    pick.add_argument("--file", metavar="NAME", help="exact file name in the repository")
    p.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    p.add_argument(
        "--yes", "-y", action="store_true", help="take the recommended file without asking"
    )
    p.add_argument(
        "--force", action="store_true",
        help="download even a file the installed llama.cpp cannot load",
    )
    p.set_defaults(func=run_download)

    m = subparsers.add_parser("models", help="list the GGUF files on this machine")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    m.set_defaults(func=run_models)


def _hub_failed(error) -> None:
    """A HubError: CliError for bad input or a missing repository or file; else said on stderr."""
    if error.kind in ("bad_input", "not_found"):
        raise CliError(str(error)) from None
    print(f"llmtui: error: {one_line(str(error), 400)}", file=sys.stderr)


def run_download(args: argparse.Namespace, context) -> int:
    from tui.core.models import hub

    if hub.offline():
        return _offline_download(args, context)
    chosen = pick_file(args.model, context, quant=args.quant, filename=args.file,
                       yes=args.yes, revision=args.revision)  # fmt: skip
    if chosen is None:
        return 1
    if not args.force and not check_loadable(chosen, context, args.revision):
        return 1
    code, path = fetch(chosen, context, args.revision)
    if path is not None:
        print(path)
    return code


def pick_file(model: str, context, *, quant: str | None = None, filename: str | None = None,
              yes: bool = False, revision: str = "main"):  # fmt: skip
    """The file to download for MODEL: `quant`/`filename`, else the recommended one for this machine
    (listed on stderr, and asked about unless `yes`). None when the Hub or the network failed (said
    on stderr); CliError for bad input or a "no"."""
    from tui.core.models import hub
    from tui.core.models.recommend import ListingCache

    try:
        search = hub.find_gguf_repos(model, context.catalogue())
        if search.thebloke is None and not search.others:
            raise CliError(f"{search.note} No other GGUF repository was found either.")
        choice = search.thebloke or search.others[0]
        if search.thebloke is None and choice.source != "typed":
            others = ", ".join(c.repo_id for c in search.others[:5])
            raise CliError(f"{search.note} GGUF repositories by others: {others}. "
                           "Run `llmtui download REPO` with one of them.")  # fmt: skip
        files = hub.list_files(choice.repo_id, revision=revision)
        ListingCache(context.paths.cache_dir).remember(files)  # exact sizes for `recommend`
        if not files.files:
            raise CliError(f"{choice.repo_id} has no .gguf files.")
        if quant or filename:
            chosen = files.find(quant=quant, filename=filename)
        else:
            chosen = _choose(files, yes, context.settings.downloads.context_length)
    except hub.HubError as error:
        _hub_failed(error)
        return None
    if not chosen.complete:
        raise CliError(
            f"{chosen.name}: some parts of this split file are missing from the repository."
        )
    return chosen


def check_loadable(chosen, context, revision: str) -> bool:
    """CliError when the installed llama.cpp cannot load `chosen`; False when its header could not
    be fetched (said on stderr); True otherwise. A header this reader cannot parse is not a
    verdict: llama.cpp decides once the file is here."""
    from tui.core.models import gguf_header, hub, loadable

    try:
        verdict = loadable.check(
            chosen, revision, cache=loadable.VerdictCache(context.paths.cache_dir)
        )
    except gguf_header.GgufHeaderError as error:
        print(f"llmtui: warning: not checked whether llama.cpp can load it: "
              f"{one_line(str(error), 300)}", file=sys.stderr)  # fmt: skip
        return True
    except hub.HubError as error:
        _hub_failed(error)
        return False
    if not verdict.loadable:
        raise CliError(f"{verdict.refusal(chosen.name)}; --force downloads it anyway")
    return True


def _choose(files, yes: bool, context_length: int):
    from tui.core.models import fit, gguf_header, hub

    here = fit.machine()
    try:
        smallest = min(files.files, key=lambda f: f.size)
        header = gguf_header.read_remote(files.repo_id, smallest.first)
    except (hub.HubError, gguf_header.GgufHeaderError):
        header = None
    fits = [fit.estimate(f.size, context_length, here, header) for f in files.files]
    best = fit.recommend(files.files, fits)
    print(f"{files.repo_id} (context {context_length}):", file=sys.stderr)
    for f, estimate in zip(files.files, fits, strict=True):
        mark = "*" if f is best else " "
        print(f" {mark} {f.quant or '?':8} {fit.human_bytes(f.size):>9}  {estimate.label:9}  "
              f"{one_line(f.name)}", file=sys.stderr)  # fmt: skip
    if best is None:
        raise CliError("no file fits this machine with headroom: pick one with --quant or --file")
    if yes:
        return best
    if not sys.stdin.isatty():
        raise CliError(f"pick a file with --quant or --file, or pass --yes to take {best.name}")
    # The question goes to stderr with the list: stdout carries only the result (a path, an answer).
    sys.stderr.write(f"Download {one_line(best.name)} ({fit.human_bytes(best.size)})? [Y/n] ")
    sys.stderr.flush()
    line = sys.stdin.readline()  # "" at end of input (ctrl+d): no answer, so no
    answer = line.strip().lower()
    if not line or answer not in ("", "y", "yes"):
        raise CliError("nothing downloaded")
    return best


def fetch(chosen, context, revision: str = "main"):
    """Download a file with a progress line on stderr: (exit status, the verified file's path or
    None)."""
    from tui.core.models.downloads import State, requests_for

    bar = _Bar()
    manager = context.download_manager(on_event=bar.update)
    ids = [manager.submit(r) for r in requests_for(chosen, revision)]
    try:
        results = [manager.wait(i) for i in ids]
    except KeyboardInterrupt:
        results = None
    manager.close()
    bar.finish()
    if results is None:
        print("llmtui: interrupted; run the same command again to resume", file=sys.stderr)
        return 130, None
    failed = [r for r in results if r.state != State.DONE]
    for r in failed:
        print(f"llmtui: error: {one_line(r.message or r.state.value, 400)}", file=sys.stderr)
    if failed:
        return 1, None
    # The file to open: the first part of a split, or the file byte-split parts were joined into.
    return 0, next(r.path for r in results if r.path is not None and r.path.exists())


class _Bar:
    """One progress line on stderr, redrawn at most ten times a second (the manager's rate)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_line = ""
        self.last_state: dict[str, str] = {}

    def update(self, status) -> None:
        from tui.core.models.fit import human_bytes, human_duration

        name = one_line(status.request.filename, 40)
        pct = f"{status.fraction * 100:5.1f}%" if status.fraction is not None else "  ?  "
        line = f"{name} {pct} {human_bytes(status.done)}"
        if status.total:
            line += f"/{human_bytes(status.total)}"
        if status.speed > 0:
            line += f" {human_bytes(status.speed)}/s"
        if status.eta is not None and status.state.value == "downloading":
            line += f" ETA {human_duration(status.eta)}"
        if status.state.value != "downloading":
            line += f" [{status.state.value}"
            if status.message:
                line += f": {one_line(status.message, 120)}"
            if status.retry_in:
                line += f", again in {status.retry_in:.0f}s"
            line += "]"
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line)
            sys.stderr.flush()
        elif self.last_state.get(status.id) != status.state.value:
            print(line, file=sys.stderr)  # not a terminal: one line per state change
        self.last_state[status.id] = status.state.value
        self.last_line = line

    def finish(self) -> None:
        if self.tty and self.last_line:
            sys.stderr.write("\n")


def _offline_download(args, context) -> int:
    """HF_HUB_OFFLINE: answer from the cache only."""
    from tui.core.models import hub, library

    cached = [
        m
        for m in library.scan(context.paths).models
        if m.repo_id and (m.repo_id == args.model or m.repo_id.split("/")[-1].startswith(
            args.model.split("/")[-1]))
        and (args.file is None or args.file in (m.name, *(p.name for p in m.parts)))
        and (args.quant is None or (m.quant or "") == args.quant.upper())
    ]  # fmt: skip
    if not cached:
        print(f"llmtui: error: {hub.OFFLINE_MESSAGE} Nothing cached matches {args.model}.",
              file=sys.stderr)  # fmt: skip
        return 1
    print(cached[0].path)
    return 0


def run_models(args: argparse.Namespace, context) -> int:
    from tui.core.models import library
    from tui.core.models.fit import human_bytes

    lib = library.scan(context.paths, context.settings.model_dirs)
    if args.json:
        print(json.dumps([
            {
                "path": str(m.path),
                "parts": [str(p) for p in m.parts],
                "name": m.name,
                "repo_id": m.repo_id,
                "size": m.size,
                "quant": m.quant,
                "source": m.source,
                "last_used": m.last_used,
            }
            for m in lib.models
        ], indent=2))  # fmt: skip
        return 0
    if not lib.models:
        print("No GGUF files yet: `llmtui download MODEL` fetches one.")
        return 0
    for m in lib.models:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.last_used)) if m.last_used else "never"
        print(f"{human_bytes(m.size):>9}  {m.quant or '?':8} {used:16}  {one_line(m.label, 300)}")
    print(f"{human_bytes(lib.total_size):>9}  total, {len(lib.models)} files")
    return 0
