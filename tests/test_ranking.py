"""Your leaderboard: the Bradley-Terry fit, its intervals, votes from the store and from files."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest

from tests.judged import save_comparison
from tui.core.compare import votes
from tui.core.compare.ranking import Battle, Rating, least_certain_pair, rank, wilson
from tui.core.compare.store import CompareStore
from tui.core.config.paths import app_paths

HOSTILE = ["[bold]red", "\x1b[2Jwipe", "close[/]"]


def draw(true: dict[str, float], n: int, seed: int, ties: float = 0.0) -> list[Battle]:
    """Battles between random pairs, won with the Bradley-Terry odds of the `true` ratings."""
    rng = random.Random(seed)
    names = list(true)
    battles = []
    for _ in range(n):
        a, b = rng.sample(names, 2)
        if rng.random() < ties:
            battles.append(Battle(a, b, "tie"))
            continue
        p = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))
        battles.append(Battle(a, b, "model_a" if rng.random() < p else "model_b"))
    return battles


def logistic_fit(battles: list[Battle]) -> dict[str, float]:
    """An independent fit: logistic regression on one row per battle (a tie is a row for each
    side at weight 1/2), by plain gradient ascent, no prior; Elo scale with mean 1000."""
    names = sorted({b.model_a for b in battles} | {b.model_b for b in battles})
    index = {n: k for k, n in enumerate(names)}
    rows, ys, weights = [], [], []
    for b in battles:
        x = np.zeros(len(names))
        x[index[b.model_a]], x[index[b.model_b]] = 1.0, -1.0
        outcomes = {"model_a": [(1.0, 1.0)], "model_b": [(0.0, 1.0)]}.get(
            b.winner, [(1.0, 0.5), (0.0, 0.5)]
        )
        for y, w in outcomes:
            rows.append(x)
            ys.append(y)
            weights.append(w)
    X, y, w = np.array(rows), np.array(ys), np.array(weights)
    beta = np.zeros(len(names))
    for _ in range(20000):
        p = 1 / (1 + np.exp(-(X @ beta)))
        gradient = X.T @ (w * (y - p)) / len(y)
        beta += 4.0 * gradient
        if np.abs(gradient).max() < 1e-12:
            break
    elo = beta * 400 / math.log(10)
    return dict(zip(names, (1000 + elo - elo.mean()).tolist(), strict=True))


TRUE = {"alpha": 1250.0, "beta": 1120.0, "gamma": 1010.0, "delta": 900.0, "omega": 720.0}


def test_agrees_with_an_independent_logistic_regression_fit():
    battles = draw(TRUE, 3000, seed=7, ties=0.15)
    reference = logistic_fit(battles)
    ours = rank(battles, rounds=0)
    assert [r.model for r in ours] == sorted(reference, key=reference.get, reverse=True)
    for r in ours:  # the prior's pull is a few points at most with 1,200 games a model
        assert abs(r.rating - reference[r.model]) < 3, (r, reference[r.model])
    without_prior = {r.model: r.rating for r in rank(battles, rounds=0, prior=0)}
    for name, value in reference.items():
        assert abs(without_prior[name] - value) < 0.5
    differences = [a.rating - b.rating for a, b in zip(ours, ours[1:], strict=False)]
    expected = [reference[a.model] - reference[b.model] for a, b in zip(ours, ours[1:], strict=False)]
    assert np.allclose(differences, expected, atol=3)


def test_battles_drawn_from_known_ratings_recover_them():
    ratings = rank(draw(TRUE, 20000, seed=3))
    for r in ratings:
        assert abs(r.rating - TRUE[r.model]) < 25, r
        assert r.ci_low < r.rating < r.ci_high
    inside = sum(r.ci_low <= TRUE[r.model] <= r.ci_high for r in ratings)
    assert inside >= 4
    assert abs(sum(r.rating for r in ratings) / len(ratings) - 1000) < 1e-6  # the anchor


def test_intervals_narrow_as_games_grow():
    widths = []
    for n in (100, 1000, 10000):
        by_name = {r.model: r.ci_high - r.ci_low for r in rank(draw(TRUE, n, seed=n), rounds=200)}
        widths.append(by_name)
    for name in TRUE:
        small, medium, large = (w[name] for w in widths)
        assert small > medium > large
        assert 2 < medium / large < 5  # about sqrt(10): the standard error's 1/sqrt(n)


def test_intervals_are_reproducible_from_the_seed():
    battles = draw(TRUE, 300, seed=1)
    assert rank(battles, seed=5) == rank(battles, seed=5)
    assert rank(battles, seed=5) != rank(battles, seed=6)


def test_record_per_model_and_an_unbeaten_model_stays_finite():
    battles = [
        Battle("a", "b", "model_a"), Battle("a", "b", "model_a"), Battle("c", "a", "model_b"),
        Battle("b", "c", "tie"), Battle("b", "c", "tie (bothbad)"), Battle("c", "c", "model_a"),
    ]  # fmt: skip
    by_name = {r.model: r for r in rank(battles)}
    assert (by_name["a"].games, by_name["a"].wins, by_name["a"].losses, by_name["a"].ties) == (
        3, 3, 0, 0,
    )  # fmt: skip
    assert (by_name["b"].games, by_name["b"].wins, by_name["b"].losses, by_name["b"].ties) == (
        4, 0, 2, 2,
    )  # fmt: skip
    assert (by_name["c"].games, by_name["c"].losses, by_name["c"].ties) == (3, 1, 2)
    assert math.isfinite(by_name["a"].rating) and by_name["a"].rating == max(
        r.rating for r in by_name.values()
    )
    assert rank([]) == []


def test_wilson_interval():
    low, high = wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    low, high = wilson(0, 10)
    assert low == 0 and round(high, 4) == 0.2775
    assert wilson(0, 0) == (0.0, 1.0)
    # narrower with more answers at the same rate
    assert wilson(50, 100)[1] - wilson(50, 100)[0] < high - low


def rating(model, value, half, games=10):
    return Rating(model, value, value - half, value + half, games, 0, 0, 0)


def test_least_certain_pair_prefers_overlap_then_fewest_games():
    ratings = [rating("a", 1200, 20), rating("b", 1150, 40), rating("c", 1120, 40),
               rating("d", 800, 20)]  # fmt: skip
    met = [Battle("b", "c", "model_a")] * 5 + [Battle("a", "b", "model_a")]
    # a-b overlap (1180-1220 vs 1110-1190) and met once; b-c met five times
    assert least_certain_pair(["a", "b", "c", "d"], ratings, met) == ("a", "b")
    # a-b met more often now; a-c and a-d never met, but their intervals do not overlap
    often = [Battle("a", "b", "model_a")] * 20 + [Battle("b", "c", "model_a")] * 5
    assert least_certain_pair(["a", "b", "c", "d"], ratings, often) == ("b", "c")
    # a model never rated comes first
    assert set(least_certain_pair(["a", "d", "new"], ratings, met)) >= {"new"}
    assert least_certain_pair(["a"], ratings, met) is None


# --- votes from the store ------------------------------------------------------------------------


@pytest.fixture
def store() -> CompareStore:
    return CompareStore(app_paths().database)


def test_the_first_vote_of_each_blind_comparison_counts(store):
    save_comparison(store, [("x.gguf", "x"), ("y.gguf", "y")], ("A", "B"))  # then changed mind
    save_comparison(store, [("x.gguf", "x"), ("y.gguf", "y")], ("B",), blind=False)  # names shown
    save_comparison(store, [("x.gguf", "x"), ("y.gguf", "y")])  # not voted yet
    save_comparison(store, [("x.gguf", "x"), ("y.gguf", "y"), ("z.gguf", "z")], ("C",))
    save_comparison(store, [("x.gguf", "x"), ("z.gguf", "z")], ("all_bad",))
    records = votes.local_records(store)
    assert [(r["model_a"], r["model_b"], r["winner"]) for r in records] == [
        ("x", "y", "model_a"),
        ("x", "z", "model_b"),
        ("y", "z", "model_b"),
        ("x", "z", "tie (bothbad)"),
    ]
    board = votes.leaderboard(store, rounds=20)
    assert board.local_votes == 3 and board.battles == 4 and board.imported == 0
    assert board.ratings[0].model == "z"


def test_pass_rates_and_speed_from_the_comparisons(store):
    passed = {"x": [True, True, False, None], "y": [False, False, True, None]}
    speed = {"x": (40.0, 0.5, 500_000_000), "y": (10.0, 2.0, 4_000_000_000)}
    for _ in range(2):
        save_comparison(store, [("x.gguf", "x"), ("y.gguf", "y")], blind=False,
                        prompts=("a", "b", "c", "d"), prompt_set="/sets/math.yaml",
                        passed=passed, speed=speed)  # fmt: skip
    # a blind comparison nobody voted on keeps its models' names hidden, here too
    save_comparison(store, [("x.gguf", "x"), ("secret.gguf", "secret")], prompt_set="/s.yaml",
                    passed={"secret": [True], "x": [True]}, speed={"secret": (99.0, 0.1, 1)})  # fmt: skip
    board = votes.leaderboard(store, rounds=0)
    rates = {(r.prompt_set, r.model): r for r in board.pass_rates}
    assert set(rates) == {("/sets/math.yaml", "x"), ("/sets/math.yaml", "y")}
    x = rates["/sets/math.yaml", "x"]
    assert (x.passed, x.checked) == (4, 6) and (x.low, x.high) == wilson(4, 6)
    speeds = {s.model: s for s in board.speeds}
    assert set(speeds) == {"x", "y"}
    assert speeds["x"].tokens_per_second == pytest.approx(40.0)
    assert speeds["y"].time_to_first_token == pytest.approx(2.0)
    assert speeds["y"].peak_rss == 4_000_000_000 and speeds["x"].answers == 8
    assert [s.model for s in board.speeds] == ["x", "y"]  # fastest first


def test_propose_pair_takes_the_least_certain_with_a_recent_prompt(store):
    for _ in range(6):
        save_comparison(store, [("a.gguf", "a"), ("b.gguf", "b")], ("A",))
    save_comparison(store, [("a.gguf", "a"), ("c.gguf", "c")], ("B",), prompts=("Why is the sky blue?",))
    proposal = votes.propose_pair(store)
    assert set(proposal.names) == {"a", "c"} and set(proposal.specs) == {"a.gguf", "c.gguf"}
    assert proposal.prompt in store.recent_prompts()
    assert "met 1 time" in proposal.why
    # a file that is gone is not proposed
    assert set(votes.propose_pair(store, usable=lambda spec: spec != "c.gguf").names) == {"a", "b"}
    assert votes.propose_pair(store, usable=lambda spec: spec == "a.gguf") is None


# --- files ---------------------------------------------------------------------------------------


def llmtui(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True,
                          env=env)  # fmt: skip


def test_export_then_import_elsewhere_gives_the_same_ranking(store, tmp_path, monkeypatch):
    save_comparison(store, [("x.gguf", "x"), ("y.gguf", "y")], ("A",))
    save_comparison(store, [("y.gguf", "y"), ("z.gguf", "z")], ("tie",))
    (tmp_path / "arena.json").write_text(json.dumps([
        {"model_a": "x", "model_b": "z", "winner": "model_b", "language": "English", "turn": 1},
    ]))  # fmt: skip
    assert votes.import_battles(store, tmp_path / "arena.json").added == 1
    for name in ("all.jsonl", "all.json"):
        assert votes.export_battles(store, tmp_path / name) == 3
    lines = (tmp_path / "all.jsonl").read_text().splitlines()
    assert json.loads(lines[2]) == {  # imported fields kept, in their order
        "model_a": "x", "model_b": "z", "winner": "model_b", "language": "English", "turn": 1,
    }  # fmt: skip
    assert json.loads((tmp_path / "all.json").read_text()) == [json.loads(line) for line in lines]
    # this machine's own votes coming back, and the same file twice, add nothing
    again = votes.import_battles(store, tmp_path / "all.jsonl")
    assert (again.read, again.added, again.already) == (3, 0, 3)

    before = votes.leaderboard(store, rounds=50).ratings
    monkeypatch.setenv("LLMTUI_DATA_DIR", str(tmp_path / "elsewhere"))
    other = CompareStore(app_paths().database)
    assert votes.import_battles(other, tmp_path / "all.json").added == 3
    assert votes.leaderboard(other, rounds=50).ratings == before


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"model_a": "a", "model_b": "b", "winner": "model_a"}\n'
         '{"model_a": "a", "model_b": "b", "winner": "draw"}\n', "line 2: field 'winner'"),
        ('[{"model_a": "a", "model_b": "b", "winner": "tie"},\n'
         ' {"model_b": "b", "winner": "tie"}]', "record 2: field 'model_a' is missing"),
        ('{"model_a": "a", "model_b": "b", "winner": "tie"}\n\n'
         '{"model_a": "a", "model_b": 3, "winner": "tie"}\n', "line 3: field 'model_b'"),
        ('{"model_a": "a", "model_b": "a", "winner": "tie"}\n', "line 1: field 'model_b'"),
        ('{"model_a": "a", "model_b": "b", "winner": "tie"}\n{"model_a": \n', "line 2: not valid JSON"),
        ('[{"model_a": "a", "model_b": "b", "winner": "tie"}, 7]', "record 2: expected an object"),
    ],
)  # fmt: skip
def test_a_bad_record_refuses_the_whole_file(tmp_path, text, where):
    path = tmp_path / "battles.jsonl"
    path.write_text(text)
    done = llmtui("votes", "import", str(path))
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert where in line and "nothing imported" in line and "Traceback" not in done.stderr
    assert CompareStore(app_paths().database).imported_battles() == []


def test_rank_prints_hostile_names_literally(tmp_path):
    path = tmp_path / "hostile.jsonl"
    records = [
        {"model_a": HOSTILE[0], "model_b": HOSTILE[1], "winner": "model_a"},
        {"model_a": HOSTILE[1], "model_b": HOSTILE[2], "winner": "model_a"},
        {"model_a": HOSTILE[0], "model_b": HOSTILE[2], "winner": "tie"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert llmtui("votes", "import", str(path)).returncode == 0
    text = llmtui("rank")
    assert text.returncode == 0 and "\x1b" not in text.stdout
    for name in ("[bold]red", " wipe ", "close[/]"):  # the escape sequence stripped whole
        assert name in text.stdout
    rows = json.loads(llmtui("rank", "--json").stdout)
    assert {r["model"] for r in rows} == set(HOSTILE)
    assert set(rows[0]) == {"model", "rating", "ci_low", "ci_high", "games", "wins", "losses", "ties"}
    assert [r["model"] for r in rows] == [HOSTILE[0], HOSTILE[1], HOSTILE[2]]
    assert rows[0]["ci_low"] < rows[0]["rating"] < rows[0]["ci_high"]


def test_rank_with_no_votes_and_export_to_a_bad_place(tmp_path):
    done = llmtui("rank")
    assert done.returncode == 0 and "no votes yet" in done.stdout
    assert json.loads(llmtui("rank", "--json").stdout) == []
    bad = llmtui("votes", "export", str(tmp_path / "missing" / "out.json"))
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    missing = llmtui("votes", "import", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
