"""The detail pane: everything the catalogue knows about one model, and what you can do with it.

Catalogue strings are data: they go into `Content` as plain text (never parsed as markup), cleaned
of terminal control sequences first.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.content import Content
from textual.style import Style
from textual.widgets import Button, Static

from tui.core.browse import format_size
from tui.core.catalogue import Catalogue, Model
from tui.core.text import clean, one_line

# Detail-pane action buttons: (button id, label, mode for open_job). The screen binds the keys.
ACTIONS = (
    ("download", "d Download", "models"),
    ("chat", "c Chat", "chat"),
    ("compare", "m Compare", "compare"),
)

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
    ("Prompt", "prompt_format",
     lambda c, m: m.prompt_format or _NO_PROMPT_FORMAT.get(m.kind, "unknown")),
    ("Source", None,
     lambda c, m: "listed on the catalogue page" if m.listed_on_page
     else "only in a leaderboard table"),
)


def describe_title(model: Model) -> Content:
    return Content("\n").join(
        [
            Content.styled(one_line(model.name), "bold"),
            Content(one_line(model.id)),
            _link(model.url),
        ]
    )


def describe_fact(catalogue: Catalogue, model: Model, index: int) -> Content:
    _label, field_name, get = FACTS[index]
    value = getattr(model, field_name) if field_name else None
    return _value(get(catalogue, model),
                  unverified=value is not None and not model.is_verified(field_name))


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
            lines.append(Content.assemble(("other GGUF: ", "$text-muted"),
                                          Content(one_line(alternative))))
    if model.notes:
        lines += [Content(""), _heading("Notes"), Content(clean(model.notes))]
    return Content("\n").join(lines)


class ModelDetail(VerticalScroll):
    """The selected model's facts, scores and GGUF repository, with the job actions below.

    The widgets are built once; showing another model only updates their text (cheap per keystroke).
    """

    _shown: Model | None | bool = False  # the model on show (False: none yet)

    def compose(self) -> ComposeResult:
        yield Static(Content("No model selected."), id="detail-title")
        with Grid(id="detail-facts"):
            for i, (label, _, _) in enumerate(FACTS):
                yield Static(Content(label), classes="fact-label")
                yield Static(id=f"fact-{i}", classes="fact-value")
        yield Static(id="detail-scores")
        yield Static(id="detail-gguf")
        with Horizontal(id="detail-actions"):
            for button_id, label, _ in ACTIONS:
                yield Button(Content(label), id=f"action-{button_id}", compact=True)

    def show(self, catalogue: Catalogue, model: Model | None) -> None:
        if model is self._shown:
            return
        self._shown = model
        self.set_class(model is None, "-empty")
        for button in self.query(Button):
            button.disabled = model is None
        if model is None:
            self.query_one("#detail-title", Static).update(Content("No model matches the filter."))
            return
        self.query_one("#detail-title", Static).update(describe_title(model))
        for i in range(len(FACTS)):
            self.query_one(f"#fact-{i}", Static).update(describe_fact(catalogue, model, i))
        self.query_one("#detail-scores", Static).update(describe_scores(catalogue, model))
        self.query_one("#detail-gguf", Static).update(describe_gguf(model))
        self.scroll_home(animate=False)
