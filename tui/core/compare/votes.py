"""Votes as battles: from this machine's blind comparisons and from files, into your leaderboard.

A blind comparison's first vote (the one cast before the names showed) becomes one battle per pair
of its models, in Chatbot Arena's terms: "A better" is a win of A over each other model, "tie" a tie
between every pair and "all bad" a `tie (bothbad)`. Later votes on the same comparison were cast
with the names in view and are not counted.

Files in and out use Chatbot Arena's battle format: a JSON list, or JSON Lines, of records with
`model_a`, `model_b` and `winner` (one of `model_a`, `model_b`, `tie`, `tie (bothbad)`); every other
field is kept. A file with any bad record is refused whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from pathlib import Path

from tui.core.compare import ranking
from tui.core.compare.comparison import now
from tui.core.compare.ranking import WINNERS, Battle, Leaderboard, Measurement
from tui.core.compare.store import CompareStore, JudgedRun
from tui.core.engine.resolve import is_remote, model_stem
from tui.core.text import one_line


class VotesError(Exception):
    """A battle file that cannot be read or has a bad record: the message is for the user."""


# --- this machine's votes --------------------------------------------------------------------------


def run_battles(run: JudgedRun) -> list[dict]:
    """A judged comparison's battles as Chatbot Arena records (with where they came from)."""
    names = {letter: name for letter, name, _spec in run.models}
    records = []
    for (letter_a, name_a, _), (letter_b, name_b, _) in combinations(run.models, 2):
        winners = {"tie": "tie", "all_bad": "tie (bothbad)", letter_a: "model_a", letter_b: "model_b"}
        winner = winners.get(run.choice)
        if winner is None:
            continue  # a third model won: nothing said about these two
        identity = "\n".join((run.created, run.at, name_a, name_b))
        records.append(
            {
                "question_id": "llmtui-" + hashlib.sha256(identity.encode()).hexdigest()[:16],
                "model_a": name_a,
                "model_b": name_b,
                "winner": winner,
                "anony": True,
                "tstamp": datetime.fromisoformat(run.at).timestamp(),
                "judge": "llmtui",
                "comparison_models": sorted(names.values()),
            }
        )
    return records


def local_records(store: CompareStore) -> list[dict]:
    return [record for run in store.judged_runs() for record in run_battles(run)]


def _battle(record: dict) -> Battle:
    return Battle(record["model_a"], record["model_b"], record["winner"])


def all_records(store: CompareStore) -> list[dict]:
    """This machine's battles, then the imported ones, as records."""
    return local_records(store) + store.imported_battles()


# --- files -----------------------------------------------------------------------------------------


def _check(record: object, where: str) -> dict:
    if not isinstance(record, dict):
        raise VotesError(f"{where}: expected an object with model_a, model_b and winner")
    for name in ("model_a", "model_b", "winner"):
        if name not in record:
            raise VotesError(f"{where}: field {name!r} is missing")
        value = record[name]
        if not isinstance(value, str) or not value.strip():
            raise VotesError(f"{where}: field {name!r} must be a non-empty string")
    if record["winner"] not in WINNERS:
        raise VotesError(
            f"{where}: field 'winner' is {one_line(record['winner'], 60)!r}, not one of {', '.join(WINNERS)}"
        )
    if record["model_a"] == record["model_b"]:
        raise VotesError(f"{where}: field 'model_b' names the same model as model_a")
    return record


def read_battles(path: Path) -> list[dict]:
    """Every record of a battle file, checked; VotesError naming the first bad one."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise VotesError(f"cannot read {path}: {error}") from None
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise VotesError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
        return [_check(record, f"{path}: record {n}") for n, record in enumerate(data, start=1)]
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise VotesError(f"{where}: not valid JSON ({error.msg})") from None
        records.append(_check(record, where))
    return records


@dataclass(frozen=True)
class Imported:
    read: int
    added: int
    already: int  # records kept before, or this machine's own votes coming back


def import_battles(store: CompareStore, path: Path) -> Imported:
    """Keep every battle of a file, or none when one record is bad (VotesError)."""
    records = read_battles(path)
    own = {r["question_id"] for r in local_records(store)}
    new = [r for r in records if r.get("question_id") not in own]
    added = store.add_battles(new, source=path.name, at=now()) if new else 0
    return Imported(len(records), added, len(records) - added)


def export_battles(store: CompareStore, path: Path) -> int:
    """Write every battle (this machine's, then the imported ones) to `path`: JSON Lines for a
    .jsonl name, a JSON list otherwise. Returns how many."""
    records = all_records(store)
    if path.suffix.lower() == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    else:
        text = json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    try:
        path.write_text(text, "utf-8")
    except OSError as error:
        raise VotesError(f"cannot write {path}: {error}") from None
    return len(records)


# --- the leaderboard -------------------------------------------------------------------------------


def leaderboard(
    store: CompareStore, *, rounds: int = ranking.BOOTSTRAP_ROUNDS, seed: int = ranking.SEED
) -> Leaderboard:
    """Your leaderboard from every vote, with the pass rates and speeds the comparisons measured."""
    runs = store.judged_runs()
    local = [record for run in runs for record in run_battles(run)]
    imported = store.imported_battles()
    battles = [_battle(r) for r in local + imported]
    measured = store.measured()
    specs = {name: spec for run in runs for _letter, name, spec in run.models}
    specs.update((m.model, m.spec) for m in measured)
    return Leaderboard(
        ratings=ranking.rank(battles, rounds=rounds, seed=seed),
        battles=len(battles),
        local_votes=len(runs),
        imported=len(imported),
        pass_rates=ranking.pass_rates(
            (m.model, m.prompt_set, m.passed)
            for m in measured
            if m.prompt_set and m.passed is not None and m.state == "done"
        ),
        speeds=ranking.speeds(
            Measurement(
                m.model,
                m.stats.tokens_per_second if m.stats else None,
                m.stats.time_to_first_token if m.stats else None,
                m.peak_rss,
            )
            for m in measured
            if not is_remote(m.spec) and m.state == "done"
        ),
        specs=specs,
    )


def catalogue_model(name: str, spec: str | None, catalogue) -> str | None:
    """The catalogue model a ranked model is (its id), or None.

    By the spec it ran from (a catalogue id, a GGUF repository, a file in a repository's Hub
    cache folder or named like that repository's files) or, for an imported name, by the
    catalogue's id or name."""
    if catalogue is None:
        return None
    keys = {name.lower()}
    if spec:
        keys.add(spec.lower().split(":")[0])
        parts = Path(spec).parts
        for part in parts:  # a file in the Hub cache: .../models--Owner--Repo/snapshots/...
            if part.startswith("models--"):
                keys.add(part.removeprefix("models--").replace("--", "/").lower())
        keys.add("/".join(spec.lower().split("/")[:2]))  # owner/repo/file.gguf
    file_name = Path(spec).name.lower() if spec and spec.lower().endswith(".gguf") else ""
    for model in catalogue.models:
        repos = [r for r in (model.gguf.repo, *model.gguf.alternatives) if r]
        names = {model.id.lower(), model.name.lower(), model.id.lower().split("/")[-1]}
        if keys & (names | {r.lower() for r in repos}):
            return model.id
        # a file in a folder, named as its GGUF repository names its files (as find_local reads it)
        if file_name and any(file_name.startswith(model_stem(r) + ".") for r in repos):
            return model.id
    return None


def public_rank(model_id: str, catalogue) -> tuple[str, int, int] | None:
    """The model's place on the first public leaderboard that ranks it: (board, rank, of)."""
    for board in catalogue.leaderboards:
        rank = board.rank_of(model_id)
        if rank is not None:
            return board.name, rank, len(board.ranked())
    return None


# --- judging where it matters ----------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    specs: tuple[str, str]
    names: tuple[str, str]
    prompt: str  # "" when no comparison ever had a prompt of its own
    why: str


def propose_pair(
    store: CompareStore,
    usable: Callable[[str], bool] | None = None,
    board: Leaderboard | None = None,
) -> Proposal | None:
    """The two models whose order your votes settle least, with one of your recent prompts.

    Candidates are the models your comparisons ran, by the spec that last ran each, less those
    `usable` rejects (a file since deleted). The prompt rotates through your recent ones with the
    number of times the pair met, so judging a pair again puts a different question to it."""
    board = board or leaderboard(store)
    specs = {name: spec for name, spec in board.specs.items() if usable is None or usable(spec)}
    battles = [_battle(r) for r in all_records(store)]
    pair = ranking.least_certain_pair(sorted(specs), board.ratings, battles)
    if pair is None:
        return None
    met = ranking.pair_games(battles)[frozenset(pair)]
    prompts = store.recent_prompts()
    rated = {r.model: r for r in board.ratings}
    if all(name in rated for name in pair):
        why = " vs ".join(
            f"{rated[n].rating:.0f} ({rated[n].ci_low:.0f}-{rated[n].ci_high:.0f})" for n in pair
        )
    else:
        why = "not rated yet"
    return Proposal(
        specs=(specs[pair[0]], specs[pair[1]]),
        names=pair,
        prompt=prompts[met % len(prompts)] if prompts else "",
        why=f"{why}; met {met} time{'s' * (met != 1)}",
    )
