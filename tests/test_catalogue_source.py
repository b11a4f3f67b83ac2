"""catalogue.yaml against its source page: nothing dropped, every number as printed.

The expectations are parsed from the page (`tui/core/catalogue/llm-catalogue.md`, the catalogue's source
record), not written out here, so a change on either side shows up as a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tui.core.catalogue import Catalogue, load_catalogue

PAGE = Path(__file__).resolve().parents[1] / "tui/core/catalogue/llm-catalogue.md"

HEADING = re.compile(r"^(#{2,4})\s+(.*?)\s*$")
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
LINK_ITEM = re.compile(r"^-\s+\[([^\]]+)\]\(([^)\s]+)\)\s*$")
BULLET = re.compile(r"^-\s+\*\*(.+?):\*\*\s*(.*?)\s*$")
POINT = re.compile(r"^(\d+)\.\s+(.*?)\s*$")


@dataclass
class Table:
    heading: str  # the "####" heading text
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    bullets: list[tuple[str, str]] = field(default_factory=list)  # (bold label, text)
    summary: list[str] = field(default_factory=list)


@dataclass
class Page:
    title: str = ""
    date: str = ""
    models: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # "### X" -> links
    boards: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # 🏆 "### X" -> links
    tables: list[Table] = field(default_factory=list)


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_page(text: str) -> Page:
    page = Page()
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = lines.index("---", 1)
        for line in lines[1:end]:
            key, _, value = line.partition(":")
            if key == "title":
                page.title = value.strip().strip('"')
            elif key == "date":
                page.date = value.strip()[:10]
        lines = lines[end + 1 :]

    h2 = h3 = ""
    level = 0
    table: Table | None = None
    in_summary = False
    for line in lines:
        if m := HEADING.match(line):
            level, title = len(m.group(1)), m.group(2)
            in_summary = False
            if level == 2:
                h2, h3 = title, ""
            elif level == 3:
                h3 = title
                target = page.boards if "排行榜" in h2 else page.models
                target.setdefault(h3, [])
            else:
                table = Table(heading=title)
                page.tables.append(table)
            continue
        stripped = line.strip()
        if level == 3 and (m := LINK_ITEM.match(stripped)):
            (page.boards if "排行榜" in h2 else page.models)[h3].append((m.group(1), m.group(2)))
        elif table is not None and level == 4 and stripped.startswith("|"):
            row = cells(stripped)
            if not table.header:
                table.header = row
            elif not all(set(c) <= set("-: ") for c in row):
                table.rows.append(row)
        elif table is not None and level == 4 and (m := BULLET.match(stripped)):
            table.bullets.append((m.group(1), m.group(2)))
        elif table is not None and level == 4 and stripped.rstrip("：:") == "总结":
            in_summary = True
        elif in_summary and (m := POINT.match(stripped)):
            table.summary.append(m.group(2))
        elif in_summary and stripped and table.summary:
            table.summary[-1] += "\n" + stripped
    return page


@pytest.fixture(scope="module")
def page() -> Page:
    return parse_page(PAGE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


def test_parser_found_the_page_structure(page):
    # Guards the parser itself: if the page layout changes, the comparisons below must not pass
    # vacuously.
    assert page.title and page.date
    assert len(page.models) >= 4 and all(page.models.values())
    assert len(page.tables) >= 2 and all(t.rows for t in page.tables)
    assert page.tables[0].bullets and page.tables[0].summary
    assert sum(len(links) for links in page.boards.values()) >= 5


def test_source_metadata(page, cat):
    assert cat.source.title == page.title
    assert cat.source.date == page.date
    assert cat.source.page == PAGE.name


def test_models_per_group_section(page, cat):
    sections = {name: links for name, links in page.models.items() if name != "GGUF"}
    assert [g.name for g in cat.groups] == list(sections)
    for group in cat.groups:
        listed = [m for m in cat.models if m.group == group.id and m.listed_on_page]
        assert [m.id for m in listed] == [text for text, _ in sections[group.name]], group.id
        assert [m.url for m in listed] == [url for _, url in sections[group.name]], group.id


def test_gguf_sources(page, cat):
    assert [(s.name, s.url) for s in cat.gguf_sources] == page.models["GGUF"]


def test_leaderboard_only_models(page, cat):
    on_page = {text for name, links in page.models.items() for text, _ in links}
    in_tables = {row.model for lb in cat.leaderboards for row in lb.rows}
    # the Open LLM table names models by their Hugging Face id
    first_column = {row[0] for t in page.tables for row in t.rows if "/" in row[0]}
    assert first_column <= in_tables
    expected = in_tables - on_page
    assert {m.id for m in cat.models if not m.listed_on_page} == expected
    assert all(cat.model(mid).listed_on_page for mid in in_tables & on_page)


def test_tables_match_the_page(page, cat):
    assert len(cat.leaderboards) == len(page.tables)
    for table, board in zip(page.tables, cat.leaderboards, strict=True):
        ((link_text, link_url),) = LINK.findall(table.heading)
        assert link_url == board.url
        assert link_text in (board.name, board.title_zh)
        assert len(table.header) - 1 == len(board.metrics), board.id
        for column, metric in zip(table.header[1:], board.metrics, strict=True):
            assert column in (metric.name, metric.name_zh), (board.id, column)
        assert len(table.rows) == len(board.rows), board.id
        for cells_, row in zip(table.rows, board.rows, strict=True):
            assert cells_[0] == row.label
            if "/" in cells_[0]:
                assert row.model == cells_[0]
            assert cells_[1:] == [str(row.scores[m.id]) for m in board.metrics], row.label


def test_table_models_exist_in_the_catalogue(cat):
    for board in cat.leaderboards:
        for row in board.rows:
            model = cat.model(row.model)
            assert model is not None
            # OpenCompass prints short names: they must be the model's own name, case aside
            assert row.label.lower() in (model.id.lower(), model.name.lower()) or (
                row.label == "DeepSeek-7B-Chat" and model.id == "deepseek-ai/deepseek-llm-7b-chat"
            ), row.label


def test_metric_explanations_are_the_pages(page, cat):
    for table, board in zip(page.tables, cat.leaderboards, strict=True):
        if not table.bullets:
            assert all(m.explanation_source == "llmtui" for m in board.metrics), board.id
            continue
        by_name = {m.name: m for m in board.metrics}
        assert len(table.bullets) == len(board.metrics)
        for label, text in table.bullets:
            name, _, rest = label.partition(" (")
            metric = by_name[name]
            assert metric.explanation_zh == text, name
            assert metric.explanation_source == "page"
            if rest:
                assert metric.full_name == rest.rstrip(")")


def test_summary_is_the_pages(page, cat):
    for table, board in zip(page.tables, cat.leaderboards, strict=True):
        if not table.summary:
            assert board.summary is None, board.id
            continue
        assert list(board.summary.zh) == table.summary
        assert len(board.summary.en) == len(table.summary)
        for point, model_id in zip(table.summary, board.summary.models, strict=True):
            first_line = point.split("\n", 1)[0]
            assert model_id == (first_line if cat.model(first_line) else None)


def test_linked_leaderboards(page, cat):
    groups = {g.name: g.id for g in cat.groups}
    on_page = [
        (text, url, groups[section])
        for section, links in page.boards.items()
        for text, url in links
    ]
    assert [(lb.name, lb.url, lb.group) for lb in cat.linked_leaderboards] == on_page
    # the tables' own links are among them
    urls = {lb.url for lb in cat.linked_leaderboards}
    for table in page.tables:
        assert {url for _, url in LINK.findall(table.heading)} <= urls
