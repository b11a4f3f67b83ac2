"""Comparisons saved as the compare screen saves them, for the ranking's tests."""

from __future__ import annotations

from tui.core.compare.comparison import Cell, Column, CompareConfig, ComparisonResult, ModelChoice, Vote
from tui.core.compare.prompt_sets import Prompt
from tui.core.compare.store import CompareStore
from tui.core.engine.base import AnswerStats, SamplingOptions


def save_comparison(
    store: CompareStore,
    models: list[tuple[str, str]],
    votes: tuple[str, ...] = (),
    *,
    blind: bool = True,
    prompts: tuple[str, ...] = ("Name three colours of the rainbow.",),
    prompt_set: str = "",
    passed: dict[str, list[bool | None]] | None = None,
    speed: dict[str, tuple[float, float, int]] | None = None,
    created: str = "2024-05-01T10:00:00+00:00",
) -> int:
    """Save a finished comparison of `models` (spec, label) with `votes` (letters, tie, all_bad).

    `passed`: per label, each prompt's check result; `speed`: per label (tokens/s, TTFT, peak RSS).
    """
    config = CompareConfig(
        models=tuple(ModelChoice(spec) for spec, _ in models),
        prompts=tuple(Prompt(p, id=f"p{i}") for i, p in enumerate(prompts)),
        sampling=SamplingOptions(seed=1),
        blind=blind,
        prompt_set=prompt_set,
    )
    speed = speed or {}
    columns = [
        Column(i, spec, "ABCD"[i], "done", label=label, location=spec,
               peak_rss=speed[label][2] if label in speed else None)
        for i, (spec, label) in enumerate(models)
    ]  # fmt: skip
    cells = []
    for row in range(len(prompts)):
        for i, (_spec, label) in enumerate(models):
            stats = None
            if label in speed:
                tps, ttft, _ = speed[label]
                # 101 tokens: 100 after the first, generated in 100 / tps seconds
                stats = AnswerStats(10, 101, ttft, 100 / tps, ttft + 100 / tps)
            result = (passed or {}).get(label, [None] * len(prompts))[row]
            cells.append(Cell(row, i, "done", f"answer {row}", stats, result))
    result = ComparisonResult(
        config, columns, cells, created=created, finished=created,
        votes=[Vote(v, created) for v in votes],
    )  # fmt: skip
    return store.save(result)
