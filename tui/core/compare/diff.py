"""What changed between two runs of the same prompt set, by prompt id and model spec."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tui.core.compare.comparison import ComparisonResult
from tui.core.compare.prompt_sets import Prompt

ChangeKind = Literal["pass->fail", "fail->pass", "answer changed", "new", "missing"]


@dataclass(frozen=True)
class Change:
    prompt_id: str
    model: str  # the model's spec
    kind: ChangeKind
    before: str = ""
    after: str = ""

    def describe(self) -> str:
        return f"{self.prompt_id} × {self.model}: {self.kind}"


def diff(before: ComparisonResult, after: ComparisonResult) -> list[Change]:
    """What changed from one run of a prompt set to the next (by prompt id and model spec)."""
    old = _cells_by_key(before)
    new = _cells_by_key(after)
    changes = []
    for key, (answer, passed) in new.items():
        if key not in old:
            changes.append(Change(*key, "new", after=answer))
            continue
        old_answer, old_passed = old[key]
        if old_passed is True and passed is False:
            changes.append(Change(*key, "pass->fail", old_answer, answer))
        elif old_passed is False and passed is True:
            changes.append(Change(*key, "fail->pass", old_answer, answer))
        elif old_answer != answer:
            changes.append(Change(*key, "answer changed", old_answer, answer))
    changes += [Change(*key, "missing", before=old[key][0]) for key in old if key not in new]
    return changes


def _cells_by_key(result: ComparisonResult) -> dict[tuple[str, str], tuple[str, bool | None]]:
    prompts: Sequence[Prompt] = result.config.prompts
    return {
        (prompts[cell.row].id, result.columns[cell.column].spec): (cell.answer, cell.passed)
        for cell in result.cells
    }
