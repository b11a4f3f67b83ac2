"""The catalogue loader: the real file, every kind of bad input, overlays, ranking helpers."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui.core.catalogue import (
    KINDS,
    Catalogue,
    CatalogueError,
    default_catalogue_path,
    load_catalogue,
)

ROOT = Path(__file__).resolve().parents[1]

# A small, valid catalogue. Tests replace one line of it (or append to it) to make it bad.
BASE = textwrap.dedent(
    """\
    version: 1
    source: {title: T, date: "2024-01-01"}
    groups:
      - {id: llm, name: LLM}
      - {id: code, name: Code LLM}
    models:
      - id: org/a
        group: llm
        kind: chat
      - id: org/b
        group: llm
        kind: chat
        params_b: 7
      - id: org/c
        group: code
        kind: code
    leaderboards:
      - id: board
        name: Board
        url: https://example.org/board
        group: llm
        metrics:
          - {id: average, name: Average}
          - {id: arc, name: ARC}
        rows:
          - {model: org/a, scores: {average: 50, arc: 40.5}}
          - {model: org/b, scores: {average: 60.25, arc: 40.5}}
          - {model: org/c, scores: {average: 55, arc: 41}}
      - id: second
        name: Second
        url: https://example.org/second
        group: llm
        overall_metric: total
        metrics:
          - {id: total, name: Total}
        rows:
          - {model: org/c, scores: {total: 12}}
    """
)


def write(tmp_path: Path, text: str, name: str = "catalogue.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the n-th occurrence of needle."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def error_for(tmp_path: Path, text: str) -> CatalogueError:
    path = write(tmp_path, text)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    err = info.value
    assert err.path == path
    return err


# ---------------------------------------------------------------------------- the real file


@pytest.fixture(scope="module")
def real() -> Catalogue:
    return load_catalogue()


def test_default_path_is_the_packaged_file():
    assert default_catalogue_path() == ROOT / "tui/core/catalogue/catalogue.yaml"


def test_real_catalogue_loads(real):
    assert real.path == ROOT / "tui/core/catalogue/catalogue.yaml"
    assert [g.id for g in real.groups] == ["slm", "llm", "code", "embedding"]
    assert [lb.id for lb in real.leaderboards] == ["open_llm", "opencompass"]
    assert sum(real.group_counts().values()) == len(real.models)
    assert all(m.kind in KINDS for m in real.models)
    assert real.model("microsoft/phi-2").gguf.repo == "TheBloke/phi-2-GGUF"
    assert real.model("nobody/nothing") is None


def test_real_gguf_refs_are_a_repo_or_a_reason(real):
    for m in real.models:
        if m.gguf.available:
            assert m.gguf.repo.startswith("TheBloke/") and m.gguf.reason is None, m.id
        else:
            assert m.gguf.reason, m.id


def test_real_leaderboard_only_models_are_in_a_table(real):
    in_tables = {row.model for lb in real.leaderboards for row in lb.rows}
    for m in real.models:
        if not m.listed_on_page:
            assert m.id in in_tables, m.id
            expected = "code" if m.id == "deepseek-ai/deepseek-coder-7b-instruct-v1.5" else "llm"
            assert m.group == expected, m.id


def test_real_explanations_say_where_they_come_from(real):
    for lb in real.leaderboards:
        for metric in lb.metrics:
            assert metric.explanation_en and metric.explanation_zh, (lb.id, metric.id)
            assert metric.explanation_source == ("page" if lb.id == "open_llm" else "llmtui")


def test_real_opencompass_average_is_the_mean_of_the_dimensions(real):
    board = real.leaderboard("opencompass")
    assert [m.name_zh for m in board.metrics] == [
        "均分",
        "语言",
        "知识",
        "推理",
        "数学",
        "代码",
        "智能体",
    ]
    for row in board.rows:
        parts = [v for k, v in row.scores.items() if k != "average"]
        # the page prints one decimal, so the mean of the rounded parts can be 0.05 off
        assert abs(sum(parts) / len(parts) - row.scores["average"]) <= 0.06, row.label


def test_real_linked_leaderboards(real):
    linked = {lb.id: lb for lb in real.linked_leaderboards}
    assert set(linked) == {"open_llm", "lmsys_arena", "opencompass", "tabby_coding", "mteb"}
    assert linked["tabby_coding"].url == "https://leaderboard.tabbyml.com/"
    assert linked["tabby_coding"].group == "code" and linked["mteb"].group == "embedding"
    for lb in real.leaderboards:
        assert lb.url in {link.url for link in real.linked_leaderboards}
    assert all(link.measures for link in real.linked_leaderboards)


def test_real_unverified_names_model_fields(real):
    fields = set(real.models[0].__dataclass_fields__)
    for m in real.models:
        assert set(m.unverified) <= fields


def test_real_best_score_uses_the_first_table_with_the_model(real):
    board, value = real.best_score("Qwen/Qwen1.5-14B-Chat")
    assert (board.id, value) == ("open_llm", 62.37)
    board, value = real.best_score("01-ai/Yi-6B-Chat")  # only in OpenCompass
    assert (board.id, value) == ("opencompass", 31.9)
    assert real.best_score("microsoft/phi-2") is None


def test_core_catalogue_imports_neither_textual_nor_platformdirs():
    code = (
        "import sys, tui.core.catalogue as c; c.load_catalogue();"
        "bad = [m for m in ('textual', 'platformdirs') if m in sys.modules];"
        "sys.exit(', '.join(bad) or None)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or done.stdout


# ---------------------------------------------------------------------------- bad files


def test_base_fixture_is_valid(tmp_path):
    cat = load_catalogue(write(tmp_path, BASE))
    assert [m.id for m in cat.models] == ["org/a", "org/b", "org/c"]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    err = info.value
    assert (err.path, err.line, err.field, err.message) == (path, None, None, "file not found")
    assert str(err) == f"{path}: file not found"


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(CatalogueError, match="is a directory"):
        load_catalogue(tmp_path)


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path, BASE)

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert info.value.path == path and info.value.line is None
    assert info.value.message == "cannot read file: Permission denied"


def test_not_utf8(tmp_path):
    path = tmp_path / "catalogue.yaml"
    path.write_bytes(b"version: 1\nsource: {title: \xff}\n")
    with pytest.raises(CatalogueError, match="not UTF-8"):
        load_catalogue(path)


def test_yaml_syntax_error(tmp_path):
    text = edit('source: {title: T, date: "2024-01-01"}', 'source: {title: T, date: "2024-01-01"')
    err = error_for(tmp_path, text)
    assert err.line == line_of(text, "groups:")  # where the parser found the problem
    assert err.field is None
    assert err.message.startswith("invalid YAML: expected ',' or '}'")
    assert f"started at line {line_of(text, 'source:')}" in err.message


def test_yaml_syntax_error_at_end_of_file_points_at_its_start(tmp_path):
    text = BASE + "extra: [1, 2\n"
    err = error_for(tmp_path, text)
    assert err.line == line_of(text, "extra:")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "the top level must be a mapping (version:, models:, ...), got a list"),
        (
            "just text\n",
            "the top level must be a mapping (version:, models:, ...), got a single value",
        ),
        ("", "the file is empty; expected a mapping at the top level"),
    ],
)
def test_top_level_not_a_mapping(tmp_path, text, message):
    err = error_for(tmp_path, text)
    assert (err.line, err.field, err.message) == (1, None, message)


def test_unknown_field_suggests_the_closest(tmp_path):
    text = edit("    params_b: 7", "    parms_b: 7")
    err = error_for(tmp_path, text)
    assert err.line == line_of(text, "parms_b")
    assert err.field == "models[1].parms_b"
    assert err.message == "unknown field 'parms_b' (did you mean 'params_b'?)"
    assert str(err) == f"{err.path}:{err.line}: models[1].parms_b: {err.message}"


def test_unknown_top_level_field(tmp_path):
    text = BASE + "modles: []\n"
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "modles"), "modles")
    assert "did you mean 'models'?" in err.message


def test_missing_required_field(tmp_path):
    text = edit(
        "  - id: org/c\n    group: code\n    kind: code\n", "  - id: org/c\n    group: code\n"
    )
    err = error_for(tmp_path, text)
    assert err.line == line_of(text, "- id: org/c")
    assert err.field == "models[2].kind"
    assert err.message == "missing required field 'kind'"


def test_missing_required_top_level_field(tmp_path):
    text = edit("version: 1\n", "")
    err = error_for(tmp_path, text)
    assert (err.line, err.field, err.message) == (1, "version", "missing required field 'version'")


def test_unsupported_version(tmp_path):
    err = error_for(tmp_path, edit("version: 1", "version: 2"))
    assert (err.line, err.field) == (1, "version")
    assert err.message == "unsupported catalogue version 2 (this llmtui reads version 1)"


def test_leaderboard_without_metrics(tmp_path):
    text = edit("      - {id: total, name: Total}\n", "").replace(
        "    metrics:\n    rows:\n      - {model: org/c, scores: {total: 12}}",
        "    metrics: []\n    rows: []",
    )
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "metrics: []"), "leaderboards[1].metrics")


def test_missing_required_nested_field(tmp_path):
    text = edit("{id: arc, name: ARC}", "{id: arc}")
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "{id: arc}"), "leaderboards[0].metrics[1].name")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("seven", "expected a number or null, got 'seven'"),
        ('"7"', "expected a number or null, got '7'"),
        ("true", "expected a number or null, got a boolean (true)"),
        ("[7]", "expected a number or null, got a list"),
        ("{b: 7}", "expected a number or null, got a mapping"),
    ],
)
def test_wrong_type_for_a_number(tmp_path, value, message):
    text = edit("    params_b: 7", f"    params_b: {value}")
    err = error_for(tmp_path, text)
    assert (err.line, err.field, err.message) == (
        line_of(text, "params_b"),
        "models[1].params_b",
        message,
    )
    assert str(err) == f"{err.path}:{err.line}: models[1].params_b: {message}"


def test_list_where_a_mapping_is_expected(tmp_path):
    text = edit("    params_b: 7", "    gguf: [TheBloke/x]")
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "gguf:"), "models[1].gguf")
    assert err.message == "expected a mapping or null, got a list"


def test_mapping_where_a_list_is_expected(tmp_path):
    text = edit("    params_b: 7", "    languages: {en: yes}")
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "languages:"), "models[1].languages")
    assert err.message == "expected a list, got a mapping"


def test_string_field_given_a_number(tmp_path):
    text = edit("{id: llm, name: LLM}", "{id: llm, name: 42}")
    err = error_for(tmp_path, text)
    assert (err.line, err.field, err.message) == (
        line_of(text, "name: 42"),
        "groups[0].name",
        "expected a string, got 42",
    )


def test_integer_field_given_a_float(tmp_path):
    text = edit("    params_b: 7", "    context_length: 4096.5")
    err = error_for(tmp_path, text)
    assert err.field == "models[1].context_length"
    assert err.message == "expected an integer or null, got 4096.5"


def test_bad_choice_suggests(tmp_path):
    text = edit("    kind: code\n", "    kind: coder\n")
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "kind: coder"), "models[2].kind")
    assert err.message == (
        "expected one of chat, base, code, embedding, got 'coder' (did you mean 'code'?)"
    )


def test_bad_url(tmp_path):
    text = edit("url: https://example.org/board", "url: javascript:alert(1)")
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "javascript:"), "leaderboards[0].url")


def test_duplicate_model_id(tmp_path):
    text = edit("  - id: org/c\n", "  - id: org/a\n")
    err = error_for(tmp_path, text)
    assert err.line == line_of(text, "- id: org/a", occurrence=2)
    assert err.field == "models[2].id"
    assert (
        err.message == f"duplicate model id 'org/a' (first at line {line_of(text, '- id: org/a')})"
    )


def test_model_with_unknown_group(tmp_path):
    text = edit("    group: code\n", "    group: coding\n")
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "group: coding"), "models[2].group")
    assert err.message == "unknown group 'coding' (known: llm, code) (did you mean 'code'?)"


def test_row_naming_an_unknown_model(tmp_path):
    text = edit("{model: org/b, scores", "{model: org/zz, scores")
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "org/zz"), "leaderboards[0].rows[1].model")
    assert err.message.startswith("unknown model 'org/zz'")


def test_score_that_is_not_a_number(tmp_path):
    text = edit("{average: 55, arc: 41}", "{average: 55, arc: n/a}")
    err = error_for(tmp_path, text)
    assert (err.line, err.field, err.message) == (
        line_of(text, "arc: n/a"),
        "leaderboards[0].rows[2].scores.arc",
        "expected a number, got 'n/a'",
    )


def test_score_that_is_a_boolean(tmp_path):
    text = edit("{average: 55, arc: 41}", "{average: 55, arc: yes}")
    err = error_for(tmp_path, text)
    assert err.field == "leaderboards[0].rows[2].scores.arc"
    assert err.message == "expected a number, got a boolean (yes)"


def test_score_for_an_unknown_metric(tmp_path):
    text = edit("{average: 55, arc: 41}", "{average: 55, arcc: 41}")
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "arcc"), "leaderboards[0].rows[2].scores.arcc")
    assert err.message == "unknown metric 'arcc' (did you mean 'arc'?) (known: average, arc)"


def test_unknown_overall_metric(tmp_path):
    text = edit("overall_metric: total", "overall_metric: average")
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (
        line_of(text, "overall_metric"),
        "leaderboards[1].overall_metric",
    )


def test_duplicate_leaderboard_id(tmp_path):
    text = edit("  - id: second\n", "  - id: board\n")
    err = error_for(tmp_path, text)
    assert err.line == line_of(text, "- id: board", occurrence=2)
    assert err.field == "leaderboards[1].id"
    assert err.message.startswith("duplicate leaderboard id 'board'")


def test_duplicate_metric_and_row(tmp_path):
    err = error_for(tmp_path, edit("{id: arc, name: ARC}", "{id: average, name: ARC}"))
    assert err.field == "leaderboards[0].metrics[1].id"
    assert err.message.startswith("duplicate metric id 'average'")
    err = error_for(
        tmp_path, edit("{model: org/c, scores: {average", "{model: org/a, scores: {average")
    )
    assert err.field == "leaderboards[0].rows[2].model"
    assert err.message.startswith("duplicate row for model 'org/a'")


def test_duplicate_key_in_a_mapping(tmp_path):
    text = edit("    params_b: 7\n", "    params_b: 7\n    group: code\n")
    err = error_for(tmp_path, text)
    first = line_of(text, "group: llm", occurrence=2)
    assert (err.line, err.field) == (line_of(text, "group: code", occurrence=1), "models[1].group")
    assert err.message == f"duplicate key 'group' (first at line {first})"


def test_duplicate_key_in_a_flow_mapping(tmp_path):
    text = edit("{average: 55, arc: 41}", "{average: 55, average: 41}")
    err = error_for(tmp_path, text)
    assert err.field == "leaderboards[0].rows[2].scores.average"
    assert err.message.startswith("duplicate key 'average'")


def test_summary_lengths_must_agree(tmp_path):
    text = edit(
        "    overall_metric: total\n",
        "    overall_metric: total\n    summary:\n      zh: [一, 二]\n      en: [one]\n",
    )
    err = error_for(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "zh: [一"), "leaderboards[1].summary")


def test_unsupported_tag(tmp_path):
    text = edit("    params_b: 7", "    params_b: !python/int 7")
    err = error_for(tmp_path, text)
    assert err.field == "models[1].params_b"
    assert "unsupported YAML tag" in err.message


def test_error_survives_pickling(tmp_path):
    err = error_for(tmp_path, edit("    params_b: 7", "    params_b: seven"))
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.line, again.field, str(again)) == (
        err.path,
        err.line,
        err.field,
        str(err),
    )


# ---------------------------------------------------------------------------- overlays


def test_overlay_adds_and_overrides(tmp_path):
    base = write(tmp_path, BASE)
    overlay = write(
        tmp_path,
        textwrap.dedent(
            """\
            models:
              - id: org/b
                params_b: 7.5
                license: MIT
              - id: me/my-model
                group: llm
                kind: chat
                gguf: {repo: me/my-model-GGUF}
            leaderboards:
              - id: mine
                name: Mine
                url: https://example.org/mine
                group: llm
                metrics: [{id: score, name: Score}]
                rows: [{model: me/my-model, scores: {score: 1}}]
            """
        ),
        "models.yaml",
    )
    cat = load_catalogue(base, overlay)
    assert cat.overlay_path == overlay
    assert [m.id for m in cat.models] == ["org/a", "org/b", "org/c", "me/my-model"]
    b = cat.model("org/b")
    assert (b.params_b, b.license, b.group, b.kind) == (7.5, "MIT", "llm", "chat")
    mine = cat.model("me/my-model")
    assert (mine.name, mine.organisation, mine.url) == (
        "my-model",
        "me",
        "https://huggingface.co/me/my-model",
    )
    assert mine.gguf.available and not mine.listed_on_page
    assert cat.best_score("me/my-model")[0].id == "mine"


def test_overlay_can_replace_a_leaderboards_rows(tmp_path):
    base = write(tmp_path, BASE)
    overlay = write(
        tmp_path,
        "leaderboards:\n  - id: second\n    rows: [{model: org/a, scores: {total: 3}}]\n",
        "models.yaml",
    )
    second = load_catalogue(base, overlay).leaderboard("second")
    assert [r.model for r in second.rows] == ["org/a"] and second.name == "Second"


def test_missing_overlay_is_ignored_unless_required(tmp_path):
    base = write(tmp_path, BASE)
    cat = load_catalogue(base, tmp_path / "models.yaml")
    assert cat.overlay_path is None and len(cat.models) == 3
    with pytest.raises(CatalogueError) as info:
        load_catalogue(base, tmp_path / "models.yaml", overlay_must_exist=True)
    assert info.value.path == tmp_path / "models.yaml"


def test_empty_overlay_adds_nothing(tmp_path):
    cat = load_catalogue(write(tmp_path, BASE), write(tmp_path, "", "models.yaml"))
    assert len(cat.models) == 3


@pytest.mark.parametrize(
    ("overlay", "needle", "field", "message"),
    [
        (
            "models:\n  - id: org/a\n    parms_b: 3\n",
            "parms_b",
            "models[0].parms_b",
            "unknown field 'parms_b' (did you mean 'params_b'?)",
        ),
        (
            "models:\n  - id: org/a\n    group: nowhere\n",
            "nowhere",
            "models[0].group",
            "unknown group 'nowhere' (known: llm, code)",
        ),
        (
            "models:\n  - id: me/new\n    group: llm\n",
            "- id: me/new",
            "models[0].kind",
            "missing required field 'kind'",
        ),
        (
            "models:\n  - id: me/x\n    group: llm\n    kind: chat\n  - id: me/x\n",
            "- id: me/x",
            "models[1].id",
            "duplicate model id 'me/x' (first at line 2)",
        ),
        ("source: {title: x}\n", "source", "source", "unknown field 'source'"),
        (
            "models:\n  - id: org/a\n    params_b: lots\n",
            "lots",
            "models[0].params_b",
            "expected a number or null, got 'lots'",
        ),
    ],
)
def test_overlay_errors_name_the_overlay(tmp_path, overlay, needle, field, message):
    base = write(tmp_path, BASE)
    path = write(tmp_path, overlay, "models.yaml")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(base, path)
    err = info.value
    occurrence = 2 if field == "models[1].id" else 1
    assert (err.path, err.line, err.field, err.message) == (
        path,
        line_of(overlay, needle, occurrence),
        field,
        message,
    )


def test_overlay_yaml_error_names_the_overlay(tmp_path):
    path = write(tmp_path, "models: [\n", "models.yaml")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(write(tmp_path, BASE), path)
    assert info.value.path == path and info.value.line == 1


# ---------------------------------------------------------------------------- helpers


@pytest.fixture
def small(tmp_path) -> Catalogue:
    return load_catalogue(write(tmp_path, BASE))


def test_group_counts(small):
    assert small.group_counts() == {"llm": 2, "code": 1}


def test_ranked_shares_ranks_on_ties(small):
    board = small.leaderboard("board")
    assert [(rank, row.model) for rank, row in board.ranked("average")] == [
        (1, "org/b"),
        (2, "org/c"),
        (3, "org/a"),
    ]
    assert [(rank, row.model) for rank, row in board.ranked("arc")] == [
        (1, "org/c"),
        (2, "org/a"),
        (2, "org/b"),
    ]
    assert board.ranked() == board.ranked("average")  # the overall metric by default
    with pytest.raises(KeyError):
        board.ranked("nope")


def test_rank_of(small):
    board = small.leaderboard("board")
    assert board.rank_of("org/b", "arc") == 2
    assert board.rank_of("org/zz", "arc") is None


def test_scores_for(small):
    found = [(lb.id, m.id, v, r) for lb, m, v, r in small.scores_for("org/c")]
    assert found == [
        ("board", "average", 55, 2),
        ("board", "arc", 41, 1),
        ("second", "total", 12, 1),
    ]
    assert small.scores_for("org/none") == []


def test_best_score_is_the_overall_metric_of_the_first_table(small):
    board, value = small.best_score("org/c")
    assert (board.id, value) == ("board", 55)
    assert small.best_score("org/a")[1] == 50


def test_numbers_keep_their_type(small):
    row = small.leaderboard("board").rows[0]
    assert type(row.scores["average"]) is int and type(row.scores["arc"]) is float
    assert small.model("org/b").params_b == 7 and type(small.model("org/b").params_b) is int


def test_objects_are_frozen(small):
    with pytest.raises(AttributeError):
        small.models[0].name = "x"  # type: ignore[misc]
    assert hash(small.models[0]) == hash(small.model("org/a"))


# ---------------------------------------------------------------------------- hostile strings


HOSTILE = {
    "name": "[bold]x[/]",
    "license": "\x1b[2J\x1b]8;;https://evil.example\x07click\x1b]8;;\x07",
    "notes": "[link=https://evil.example]hi[/link] [/] [bold ``` 表情 😀 " + "y" * 5000,
    "prompt_format": "{{ '<|im_start|>' }}\r\n",
}


def test_hostile_strings_round_trip_unchanged(tmp_path):
    import yaml

    fields = "\n".join(
        f"    {key}: {yaml.safe_dump(value, width=10**9).strip()}" for key, value in HOSTILE.items()
    )
    text = edit("    params_b: 7\n", f"    params_b: 7\n{fields}\n")
    model = load_catalogue(write(tmp_path, text)).model("org/b")
    for key, value in HOSTILE.items():
        assert getattr(model, key) == value, key


def test_hostile_text_in_errors_is_quoted(tmp_path):
    text = edit("    params_b: 7", '    params_b: "\\e[2J[bold]"')
    err = error_for(tmp_path, text)
    assert "\x1b" not in str(err) and "\\x1b[2J[bold]" in str(err)


# ---------------------------------------------------------------------------- the JSON cache


def test_cache_gives_back_the_same_catalogue_without_reading_the_yaml(tmp_path, monkeypatch, real):
    import tui.core.catalogue.loader as catalogue_module

    cache = tmp_path / "cache"
    first = load_catalogue(default_catalogue_path(), cache_dir=cache)
    assert first == real
    assert (cache / "catalogue.json").is_file()

    def no_yaml(*args, **kwargs):
        raise AssertionError("the YAML was read again")

    monkeypatch.setattr(catalogue_module, "_read", no_yaml)
    again = load_catalogue(default_catalogue_path(), cache_dir=cache)
    assert again == real
    assert again.model("org/b") == real.model("org/b")  # its index is rebuilt
    assert again.scores_for(real.models[0].id) == real.scores_for(real.models[0].id)


def test_cache_follows_changes_to_the_catalogue_and_the_overlay(tmp_path):
    cache = tmp_path / "cache"
    base = write(tmp_path, BASE)
    assert load_catalogue(base, cache_dir=cache).model("org/b").params_b == 7
    write(tmp_path, edit("params_b: 7", "params_b: 13"))
    assert load_catalogue(base, cache_dir=cache).model("org/b").params_b == 13
    overlay = write(tmp_path, "models:\n  - {id: org/b, params_b: 70}\n", "models.yaml")
    with_overlay = load_catalogue(base, overlay, cache_dir=cache)
    assert (with_overlay.model("org/b").params_b, with_overlay.overlay_path) == (70, overlay)
    overlay.unlink()
    without = load_catalogue(base, overlay, cache_dir=cache)
    assert (without.model("org/b").params_b, without.overlay_path) == (13, None)


def test_a_bad_catalogue_is_reported_the_same_and_not_cached(tmp_path):
    cache = tmp_path / "cache"
    path = write(tmp_path, edit("params_b: 7", "params_b: seven"))
    with pytest.raises(CatalogueError) as plain:
        load_catalogue(path)
    with pytest.raises(CatalogueError) as cached:
        load_catalogue(path, cache_dir=cache)
    assert str(cached.value) == str(plain.value)
    assert not (cache / "catalogue.json").exists()
    with pytest.raises(CatalogueError, match="file not found"):
        load_catalogue(tmp_path / "missing.yaml", cache_dir=cache)


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"key": 1}', b"[]"])
def test_an_unreadable_cache_is_ignored_and_replaced(tmp_path, content):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "catalogue.json").write_bytes(content)
    base = write(tmp_path, BASE)
    assert load_catalogue(base, cache_dir=cache) == load_catalogue(base)
    assert (cache / "catalogue.json").read_bytes() != content


def test_a_cache_folder_that_cannot_be_written_is_ignored(tmp_path):
    blocked = write(tmp_path, "", "cache")  # a file where the folder would be
    base = write(tmp_path, BASE)
    assert load_catalogue(base, cache_dir=blocked) == load_catalogue(base)
    assert set(tmp_path.iterdir()) == {blocked, base}
