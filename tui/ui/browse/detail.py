"""The detail pane: everything the catalogue knows about one model, or the Hub about one GGUF
repository found by a search, and what you can do with it.

Catalogue and Hub strings are data: they go into `Content` as plain text (never parsed as markup),
cleaned of terminal control sequences first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.css.styles import RulesMap
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual
from textual.widgets import Button, Static

from tui.core.catalogue import Catalogue, Model
from tui.core.catalogue.browse import format_size
from tui.core.text import clean, one_line

if TYPE_CHECKING:
    from tui.core.models.recommend import ModelFit
    from tui.core.models.search import HubRepo

# Detail-pane action buttons: (button id, label, mode for open_job). The screen binds the keys.
ACTIONS = (
    ("download", "d Download", "models"),
    ("chat", "c Chat", "chat"),
    ("compare", "m Compare", "compare"),
)

# The button of a catalogue model without a TheBloke GGUF: the same search as the Hub source's.
FIND_ON_HUB = ("find-hub", "h Find on the Hub")

# Why a model may have no prompt format: it is not a chat model.
_NO_PROMPT_FORMAT = {"base": "none (base model)", "embedding": "none (embedding model)"}


def _link(url: str) -> Content:
    url = one_line(url, limit=500)
    return Content.styled(url, Style(link=url, underline=True))


def _value(text: str, *, unverified: bool = False) -> Content:
    content = Content(clean(text))
    if unverified:
        content = Content.assemble(content, (" (unverified)", "italic $text-warning"))
    return content


def _heading(text: str) -> Content:
    return Content.styled(text, "bold $accent")


# The facts grid: (label, field name for the unverified mark or None, how to get the text).
FACTS = (
    ("Group", None, lambda c, m: c.group(m.group).name if c.group(m.group) else m.group),
    ("Organisation", None, lambda c, m: m.organisation or "unknown"),
    ("Kind", None, lambda c, m: m.kind),
    ("Size", "params_b",
     lambda c, m: "unknown" if m.params_b is None else f"{format_size(m.params_b)} parameters"),
    ("Context", "context_length",
     lambda c, m: "unknown" if m.context_length is None else f"{m.context_length:,} tokens"),
    ("Licence", "license", lambda c, m: m.license or "unknown"),
    ("Languages", None, lambda c, m: ", ".join(m.languages) or "unknown"),
    ("Prompt", "prompt_format", lambda c, m: m.prompt_format or _NO_PROMPT_FORMAT.get(m.kind, "unknown")),
    ("Source", None,
     lambda c, m: "listed on the catalogue page" if m.listed_on_page
     else "only in a leaderboard table"),
)


def describe_title(model: Model) -> Content:
    lines = [Content.styled(one_line(model.name), "bold"), Content(one_line(model.id)), _link(model.url)]
    return Content("\n").join(lines)


def describe_fact(catalogue: Catalogue, model: Model, index: int) -> Content:
    _label, field_name, get = FACTS[index]
    value = getattr(model, field_name) if field_name else None
    return _value(get(catalogue, model), unverified=value is not None and not model.is_verified(field_name))


# A block of the detail text: a paragraph, or the facts as (label, value) pairs.
Block = Content | list[tuple[str, Content]]


class DetailText(Visual):
    """The detail pane's text: blocks one blank line apart; the facts are labels in a column of
    LABEL_WIDTH cells, each value wrapped in the column to their right.

    One Visual, not a widget per block and per fact: each widget costs styling, layout and
    rendering before the first frame.
    """

    LABEL_WIDTH = 13

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        self._lines: tuple[int, list[Content]] | None = None  # (width, lines) of the last render

    def __str__(self) -> str:
        return "\n\n".join(
            "\n".join(f"{label} {value}" for label, value in block) if isinstance(block, list) else str(block)
            for block in self.blocks
        )

    def lines(self, width: int) -> list[Content]:
        if self._lines is None or self._lines[0] != width:
            indent = self.LABEL_WIDTH + 1
            lines: list[Content] = []
            for block in self.blocks:
                if lines:
                    lines.append(Content(""))
                if isinstance(block, Content):
                    lines += block.wrap(max(1, width))
                    continue
                for label, value in block:
                    label_cell = Content.styled(label.ljust(self.LABEL_WIDTH), ".detail--label")
                    for n, line in enumerate(value.wrap(max(1, width - indent))):
                        lines.append((label_cell + " " if n == 0 else Content(" " * indent)) + line)
            self._lines = (width, lines)
        return self._lines[1]

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return container_width

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self.lines(width))

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        lines = self.lines(width)[:height]
        return Content("\n").join(lines).render_strips(width, len(lines), style, options)


def describe(catalogue: Catalogue, model: Model, fits: ModelFit | None = None) -> DetailText:
    """Title, facts, whether it fits here, leaderboard scores and GGUF repository of one model
    (`fits`: None while it is being worked out)."""
    facts = [(label, describe_fact(catalogue, model, i)) for i, (label, _, _) in enumerate(FACTS)]
    return DetailText([describe_title(model), facts, describe_fits(fits),
                       describe_scores(catalogue, model), describe_gguf(model)])


def describe_fits(fits: ModelFit | None) -> Content:
    """The quant to take on this machine, its size and expected speed (the model table's Fits here
    column, which a narrow table leaves out)."""
    lines = [_heading("Fits here")]
    if fits is None:
        lines.append(Content.styled("working it out…", "$text-muted"))
    elif fits.word == "unknown":
        lines.append(Content.styled("not known: no parameter count and no file list", "$text-muted"))
    elif fits.word == "no":
        lines.append(Content.assemble(("no", "$text-warning"), Content(fits.cell[2:])))
    else:
        lines.append(Content.assemble(("yes: ", "$text-success"), Content(fits.cell)))
        if not fits.size_exact:
            lines.append(Content.styled("size estimated from the parameter count", "$text-muted"))
    return Content("\n").join(lines)


def describe_scores(catalogue: Catalogue, model: Model) -> Content:
    """Every leaderboard score of the model with its rank in that table."""
    lines = [_heading("Leaderboard scores")]
    scores = catalogue.scores_for(model.id)
    if not scores:
        lines.append(Content.styled("no leaderboard lists this model", "$text-muted"))
    board = None
    for leaderboard, metric, value, rank in scores:
        if leaderboard is not board:
            board = leaderboard
            lines.append(Content.styled(one_line(board.name), "bold"))
        scored = len(leaderboard.ranked(metric.id))
        name = one_line(metric.name) + (f" {one_line(metric.name_zh)}" if metric.name_zh else "")
        lines.append(
            Content.assemble(
                f"  {name}".ljust(20),
                (f"{value}".rjust(6), "bold" if rank == 1 else ""),
                (f"  #{rank} of {scored}", "$text-success" if rank == 1 else "$text-muted"),
            )
        )
    return Content("\n").join(lines)


def describe_gguf(model: Model) -> Content:
    """The model's TheBloke GGUF repository, or why there is none (and other GGUF repositories)."""
    lines = [_heading("GGUF")]
    if model.gguf.repo is not None:
        lines.append(_link(f"https://huggingface.co/{model.gguf.repo}"))
    else:
        lines.append(Content.assemble(("none: ", "$text-warning"),
                                      Content(clean(model.gguf.reason or "no reason given"))))
        for alternative in model.gguf.alternatives:
            lines.append(Content.assemble(("other GGUF: ", "$text-muted"), Content(one_line(alternative))))
    if model.notes:
        lines += [Content(""), _heading("Notes"), Content(clean(model.notes))]
    return Content("\n").join(lines)


def describe_repo(repo: HubRepo) -> DetailText:
    """What the Hub says of a GGUF repository: its numbers, the card's licence and base model."""
    downloads, likes, updated = repo.cells
    facts = [
        ("Author", _value(one_line(repo.author))),
        ("Downloads", _value(downloads)),
        ("Likes", _value(likes)),
        ("Updated", _value(updated)),
        ("Gated", _value("yes: accept its terms on the Hub page" if repo.gated else "no")),
        ("Licence", _value(one_line(repo.licence) if repo.licence else "unknown")),
        ("Base model", _value(", ".join(one_line(b) for b in repo.base_models) or "unknown")),
        ("Quants", _value(" ".join(repo.quants) or "none named")),
        ("Files", _value(f"{repo.files} GGUF")),
    ]
    title = Content("\n").join([Content.styled(one_line(repo.repo_id), "bold"), _link(repo.url)])
    note = Content.styled("Found on the Hub: d picks a quant to download.", "$text-muted")
    return DetailText([title, facts, note])


class ModelDetail(VerticalScroll):
    """The selected model's facts, scores and GGUF repository, with the job actions below.

    The widgets are built once; showing another model only updates the one Static's text (cheap
    per keystroke).
    """

    COMPONENT_CLASSES = {"detail--label"}  # the facts' labels (DetailText)

    _shown: Model | HubRepo | None | bool = False  # what is on show (False: nothing yet)
    _fits: ModelFit | None = None  # the shown model's fit here (None: not known yet)

    def compose(self) -> ComposeResult:
        yield Static(Content("No model selected."), id="detail-text")
        with Horizontal(id="detail-actions"):
            for button_id, label, *_mode in (*ACTIONS, FIND_ON_HUB):
                yield Button(Content(label), id=f"action-{button_id}", compact=True)

    def show(self, catalogue: Catalogue, model: Model | None, fits: ModelFit | None = None) -> None:
        if model is self._shown and fits is self._fits:
            return
        self._fits = fits
        self._show(model, Content("No model matches the filter.") if model is None
                   else describe(catalogue, model, fits))  # fmt: skip
        self.query_one(f"#action-{FIND_ON_HUB[0]}").display = model is not None and model.gguf.repo is None

    def show_repo(self, repo: HubRepo | None, empty: str) -> None:
        """A Hub search result; `empty` says why there is none."""
        if repo is self._shown and repo is not None:
            return
        self._show(repo, Content(clean(empty)) if repo is None else describe_repo(repo))
        self.query_one(f"#action-{FIND_ON_HUB[0]}").display = False

    def _show(self, shown: Model | HubRepo | None, text: Content | DetailText) -> None:
        self._shown = shown
        for button in self.query(Button):
            button.disabled = shown is None
        self.query_one("#detail-text", Static).update(text)
        self.scroll_home(animate=False)
