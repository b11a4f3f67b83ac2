"""Charts of horizontal Unicode bars: BarChart, one metric across models (eighth blocks for the
fractions), and IntervalChart, ratings with their intervals.

Written here rather than taken from textual-plotext: a leaderboard has a handful of rows, horizontal
bars with the model name and value on each line read better than a plot, and it costs no dependency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from textual.content import Content
from textual.widget import Widget

from tui.ui.browse.table import fit

_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(value: float, scale: float, width: int) -> str:
    """A bar ``width`` cells long at ``scale``, drawn to an eighth of a cell."""
    if scale <= 0 or width <= 0:
        return ""
    eighths = round(max(0.0, min(value / scale, 1.0)) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


@dataclass(frozen=True)
class Bar:
    key: str  # identifies the bar (a model id) for marking
    label: str
    value: float
    text: str  # the value as the table prints it


@dataclass(frozen=True)
class IntervalBar(Bar):
    low: float
    high: float


class Chart(Widget):
    """A title, then one bar a line, best first: label, bar, value. The marked bar's label is bold."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = ""
        self.bars: tuple[Bar, ...] = ()
        self.marked: str | None = None

    def plot(self, title: str, bars: Sequence[Bar], marked: str | None = None) -> None:
        self.title = title
        self.bars = tuple(sorted(bars, key=lambda b: -b.value))  # stable: ties keep their order
        self.marked = marked
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.bars) + 1

    def scale(self) -> Any:
        """What every bar is drawn against (computed once per render)."""
        raise NotImplementedError

    def draw(self, bar: Any, scale: Any, width: int) -> tuple[Content, bool]:
        """The bar, ``width`` cells, and whether its value is bold."""
        raise NotImplementedError

    def render(self) -> Content:
        width = self.content_region.width
        lines = [Content.styled(fit(self.title, width), "bold")]
        if not self.bars:
            return lines[0]
        scale = self.scale()
        label_width = min(max(cell_len(b.label) for b in self.bars), max(width // 3, 6))
        text_width = max(cell_len(b.text) for b in self.bars)
        bar_width = max(width - label_width - text_width - 3, 1)
        for b in self.bars:
            drawn, bold_value = self.draw(b, scale, bar_width)
            lines.append(
                Content.assemble(
                    (fit(b.label, label_width), "bold" if b.key == self.marked else ""),
                    " ",
                    drawn,
                    " ",
                    (b.text.rjust(text_width), "bold" if bold_value else ""),
                )
            )
        return Content("\n").join(lines)


class BarChart(Chart):
    """Bars scaled to the largest value; the best bars stand out."""

    def scale(self) -> float:
        return self.bars[0].value  # the largest: best first

    def draw(self, item: Bar, top: float, width: int) -> tuple[Content, bool]:
        best = item.value == top
        return Content.styled(fit(bar(item.value, top, width), width),
                              "$text-success" if best else "$primary"), best


def interval_bar(item: IntervalBar, start: float, end: float, width: int) -> tuple[str, str, str]:
    """(solid part, interval part, the rest) of a bar on the axis start..end: solid up to the
    interval's low end, shaded across the interval with a dot at the value."""
    if end <= start or width <= 0:
        return "", "", ""

    def cell(x: float) -> int:
        return max(0, min(width - 1, round((x - start) / (end - start) * (width - 1))))

    low, value, high = cell(item.low), cell(item.value), cell(item.high)
    shaded = "".join("●" if x == value else "▒" for x in range(low, high + 1))
    return "█" * low, shaded, " " * (width - high - 1)


class IntervalChart(Chart):
    """Ratings with their intervals as bars on a shared axis; the marked one's value bold too."""

    bars: tuple[IntervalBar, ...]

    def scale(self) -> tuple[float, float]:
        low = min(b.low for b in self.bars)
        high = max(b.high for b in self.bars)
        return low - (high - low) * 0.1, high  # the worst interval still shows a stub of solid bar

    def draw(self, item: IntervalBar, axis: tuple[float, float], width: int) -> tuple[Content, bool]:
        solid, shaded, rest = interval_bar(item, *axis, width)
        return Content.assemble((solid, "$primary"), (shaded, "$accent"), rest), item.key == self.marked
