"""Reading the catalogue: ``catalogue.yaml`` -> the validated objects of :mod:`.schema`.

``load_catalogue(path, overlay)`` reads the catalogue (and optionally a user file with the same
schema merged on top), checks it against a small declarative schema and returns a
:class:`Catalogue`. Every problem raises one :class:`CatalogueError` naming the file, the 1-based
line and the field, e.g.::

    catalogue.yaml:42: models[3].params_b: expected a number, got 'seven'

Line numbers come from the YAML node tree (``yaml.compose``): values are built from the nodes here,
so each one keeps the place it came from. libyaml composes the tree where PyYAML has it; a file it
rejects goes through the pure-Python parser, whose error messages are the ones reported.

Strings are returned exactly as written: nothing is sanitised. They are data, not markup; the UI
renders them as plain text.

Only PyYAML and the standard library are used (no Textual, no platformdirs).
"""

from __future__ import annotations

import datetime as _dt
import difflib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core.catalogue.cache import CatalogueCache
from tui.core.catalogue.schema import (
    EXPLANATION_SOURCES,
    KINDS,
    SCHEMA_VERSION,
    Catalogue,
    CatalogueError,
    GgufRef,
    GgufSource,
    Group,
    Leaderboard,
    LeaderboardRow,
    LinkedLeaderboard,
    Metric,
    Model,
    Source,
    Summary,
)

if TYPE_CHECKING:  # PyYAML loads only when a file is read, not when the cache answers
    import yaml
    from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


# --------------------------------------------------------------------------------------------
# Schema: field name -> what it must hold


@dataclass(frozen=True)
class _F:
    kind: str  # str int number bool date map dict list
    required: bool = False
    nullable: bool = False
    schema: dict[str, _F] | None = None  # kind "map"
    item: _F | None = None  # kind "list" (items) and "dict" (values)
    choices: tuple[str, ...] | None = None
    url: bool = False
    unique: str | None = None  # list of maps: this field must be unique ...
    noun: str = "entry"  # ... and is called this in errors ("duplicate <noun> 'x'")
    merge: bool = False  # list of maps merged by id with an overlay (item fields required later)


def _str(**kw: Any) -> _F:
    return _F("str", **kw)


def _opt_str() -> _F:
    return _F("str", nullable=True)


def _map(schema: dict[str, _F], **kw: Any) -> _F:
    return _F("map", schema=schema, **kw)


def _list(item: _F, **kw: Any) -> _F:
    return _F("list", item=item, **kw)


_GGUF = {
    "repo": _opt_str(),
    "reason": _opt_str(),
    "alternatives": _list(_str()),
}

_MODEL = {
    "id": _str(required=True),
    "name": _str(),
    "organisation": _opt_str(),
    "group": _str(required=True),
    "url": _str(url=True),
    "listed_on_page": _F("bool"),
    "params_b": _F("number", nullable=True),
    "context_length": _F("int", nullable=True),
    "license": _opt_str(),
    "languages": _list(_str()),
    "kind": _str(required=True, choices=KINDS),
    "prompt_format": _opt_str(),
    "gguf": _map(_GGUF, nullable=True),
    "unverified": _list(_str()),
    "notes": _opt_str(),
}

_GROUP = {
    "id": _str(required=True),
    "name": _str(required=True),
    "description_en": _opt_str(),
    "description_zh": _opt_str(),
}

_METRIC = {
    "id": _str(required=True),
    "name": _str(required=True),
    "name_zh": _opt_str(),
    "full_name": _opt_str(),
    "explanation_en": _opt_str(),
    "explanation_zh": _opt_str(),
    "explanation_source": _str(nullable=True, choices=EXPLANATION_SOURCES),
}

_ROW = {
    "model": _str(required=True),
    "label": _str(),
    "scores": _F("dict", required=True, item=_F("number")),
}

_SUMMARY = {
    "title_zh": _opt_str(),
    "zh": _list(_str(), required=True),
    "en": _list(_str(), required=True),
    "models": _list(_str(nullable=True)),
}

_LEADERBOARD = {
    "id": _str(required=True),
    "name": _str(required=True),
    "title_zh": _opt_str(),
    "url": _str(required=True, url=True),
    "group": _str(required=True),
    "overall_metric": _str(),
    "metrics": _list(_map(_METRIC), required=True, unique="id", noun="metric id"),
    "rows": _list(_map(_ROW), required=True, unique="model", noun="row for model"),
    "summary": _map(_SUMMARY, nullable=True),
}

_LINKED = {
    "id": _str(required=True),
    "name": _str(required=True),
    "url": _str(required=True, url=True),
    "group": _str(required=True),
    "measures": _str(required=True),
    "table": _opt_str(),
}

_MERGED_LISTS = {
    "groups": _list(_map(_GROUP), unique="id", noun="group id", merge=True),
    "models": _list(_map(_MODEL), unique="id", noun="model id", merge=True),
    "leaderboards": _list(_map(_LEADERBOARD), unique="id", noun="leaderboard id", merge=True),
}

_TOP = {
    "version": _F("int", required=True),
    "source": _map(
        {
            "title": _str(required=True),
            "date": _F("date", required=True),
            "page": _opt_str(),
            "url": _str(nullable=True, url=True),
        },
        required=True,
    ),
    "gguf_sources": _list(_map({"name": _str(required=True), "url": _str(required=True, url=True)})),
    **_MERGED_LISTS,
    "linked_leaderboards": _list(_map(_LINKED), unique="id", noun="linked leaderboard id"),
}
_TOP["groups"] = replace(_TOP["groups"], required=True)
_TOP["models"] = replace(_TOP["models"], required=True)

# A user overlay: same schema, only the id-keyed lists, nothing required at the top.
_OVERLAY = {"version": _F("int"), **_MERGED_LISTS}

_SCALAR_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}

_EXPECTED = {
    "str": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "date": "a date (YYYY-MM-DD)",
    "map": "a mapping",
    "dict": "a mapping",
    "list": "a list",
}

# The node each kind needs (any other kind: a scalar) and the test each scalar kind's value passes.
_NODE_IDS = {"map": "mapping", "dict": "mapping", "list": "sequence"}
_SCALAR_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "date": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
}


# --------------------------------------------------------------------------------------------
# Validation: YAML nodes -> _Rec trees that remember where every value came from


@dataclass(frozen=True)
class _Loc:
    path: Path
    line: int  # 1-based
    field: str | None

    def error(self, message: str) -> CatalogueError:
        return CatalogueError(self.path, message, line=self.line, field=self.field)


@dataclass
class _Rec:
    """A validated mapping: values, the location of each value, and the mapping's own location."""

    values: dict[str, Any]
    locs: dict[str, _Loc]  # field name, or "name[i]" for list items
    loc: _Loc

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def at(self, name: str) -> _Loc:
        return self.locs.get(name, self.loc)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _suggest(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Validator:
    def __init__(self, path: Path) -> None:
        import yaml

        self.path = path
        self.constructor = yaml.constructor.SafeConstructor()
        self.yaml_error = yaml.YAMLError

    def loc(self, node: Node, where: str | None) -> _Loc:
        return _Loc(self.path, _line(node), where or None)

    def scalar(self, node: ScalarNode, where: str) -> Any:
        build = type(self.constructor).yaml_constructors.get(node.tag)
        if build is None or node.tag not in _SCALAR_TAGS:
            raise self.loc(node, where).error(f"unsupported YAML tag {node.tag!r}")
        try:
            return build(self.constructor, node)
        except (ValueError, self.yaml_error) as exc:
            raise self.loc(node, where).error(f"invalid value {node.value!r}: {exc}") from None

    def describe(self, node: Node) -> str:
        if node.id != "scalar":
            return "a mapping" if node.id == "mapping" else "a list"
        value = self.scalar(node, "")
        if value is None:
            return "null"
        if isinstance(value, bool):
            return f"a boolean ({node.value})"
        if isinstance(value, str):
            return repr(value if len(value) <= 60 else value[:57] + "...")
        if isinstance(value, (_dt.date, _dt.datetime)):
            return f"a date ({node.value})"
        return node.value

    def wrong(self, node: Node, spec: _F, where: str) -> CatalogueError:
        expected = _EXPECTED[spec.kind] + (" or null" if spec.nullable else "")
        return self.loc(node, where).error(f"expected {expected}, got {self.describe(node)}")

    def value(self, node: Node, spec: _F, where: str, *, require: bool = True) -> Any:
        if node.id == "scalar" and node.tag == "tag:yaml.org,2002:null":
            if spec.nullable:
                return None
            raise self.wrong(node, spec, where)
        if node.id != _NODE_IDS.get(spec.kind, "scalar"):
            raise self.wrong(node, spec, where)
        if spec.kind == "map":
            assert spec.schema is not None
            return self.mapping(node, spec.schema, where, require=require)
        if spec.kind == "dict":
            return self.free_mapping(node, spec, where)
        if spec.kind == "list":
            return self.sequence(node, spec, where)
        value = self.scalar(node, where)
        if spec.kind == "date" and isinstance(value, (_dt.date, _dt.datetime)):
            value = value.isoformat()
        if not _SCALAR_CHECKS[spec.kind](value):
            raise self.wrong(node, spec, where)
        if spec.choices is not None and value not in spec.choices:
            raise self.loc(node, where).error(
                f"expected one of {', '.join(spec.choices)}, got {value!r}" + _suggest(value, spec.choices)
            )
        if spec.url and not value.startswith(("https://", "http://")):
            raise self.loc(node, where).error(f"expected an http(s) URL, got {value!r}")
        return value

    def keys(self, node: MappingNode, where: str) -> Iterator[tuple[str, Node, Node]]:
        """(key, key node, value node) pairs; keys must be unique strings."""
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, where) if key_node.id == "scalar" else None
            if not isinstance(key, str):
                raise self.loc(key_node, where).error("keys must be strings")
            if key in seen:
                raise self.loc(key_node, _join(where, key)).error(
                    f"duplicate key {key!r} (first at line {seen[key]})"
                )
            seen[key] = _line(key_node)
            yield key, key_node, value_node

    def mapping(self, node: MappingNode, schema: dict[str, _F], where: str, *, require: bool = True) -> _Rec:
        rec = _Rec({}, {}, self.loc(node, where))
        for key, key_node, value_node in self.keys(node, where):
            here = _join(where, key)
            spec = schema.get(key)
            if spec is None:
                raise self.loc(key_node, here).error(f"unknown field {key!r}{_suggest(key, list(schema))}")
            rec.values[key] = self.value(value_node, spec, here)
            rec.locs[key] = self.loc(value_node, here)
            if spec.kind == "list" and value_node.id == "sequence":
                for i, item in enumerate(value_node.value):
                    rec.locs[f"{key}[{i}]"] = self.loc(item, f"{here}[{i}]")
        if require:
            _require(rec, schema)
        return rec

    def free_mapping(self, node: MappingNode, spec: _F, where: str) -> _Rec:
        assert spec.item is not None
        rec = _Rec({}, {}, self.loc(node, where))
        for key, key_node, value_node in self.keys(node, where):
            here = _join(where, key)
            rec.values[key] = self.value(value_node, spec.item, here)
            rec.locs[key] = self.loc(key_node, here)
        return rec

    def sequence(self, node: SequenceNode, spec: _F, where: str) -> list[Any]:
        assert spec.item is not None
        items = [
            self.value(item, spec.item, f"{where}[{i}]", require=not spec.merge)
            for i, item in enumerate(node.value)
        ]
        if spec.unique:
            _check_unique(items, spec.unique, spec.noun)
        return items


def _require(rec: _Rec, schema: dict[str, _F]) -> None:
    """Missing fields are reported at the line where their mapping starts."""
    for name, spec in schema.items():
        if spec.required and name not in rec.values:
            where = _join(rec.loc.field or "", name)
            raise _Loc(rec.loc.path, rec.loc.line, where).error(f"missing required field {name!r}")


def _check_unique(items: list[Any], key: str, noun: str) -> None:
    first: dict[Any, _Loc] = {}
    for item in items:
        if not isinstance(item, _Rec) or key not in item.values:
            continue
        value = item.values[key]
        if value in first:
            raise item.at(key).error(f"duplicate {noun} {value!r} (first at line {first[value].line})")
        first[value] = item.at(key)


# --------------------------------------------------------------------------------------------
# Reading files


def _compose(path: Path, *, empty_ok: bool) -> MappingNode | None:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogueError(path, "file not found") from None
    except IsADirectoryError:
        raise CatalogueError(path, "is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise CatalogueError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CatalogueError(path, f"cannot read file: {exc.strerror or exc}") from None
    try:
        node = _compose_text(text)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(path, text, exc) from None
    except yaml.YAMLError as exc:
        raise CatalogueError(path, f"invalid YAML: {exc}") from None
    if node is None:
        if empty_ok:
            return None
        raise CatalogueError(path, "the file is empty; expected a mapping at the top level", line=1)
    if node.id != "mapping":
        kind = "a list" if node.id == "sequence" else "a single value"
        raise CatalogueError(
            path,
            f"the top level must be a mapping (version:, models:, ...), got {kind}",
            line=_line(node),
        )
    return node


def _compose_text(text: str) -> Node | None:
    """The YAML node tree, by libyaml where available. A text libyaml rejects is parsed again by
    the pure-Python parser: its messages are the ones users see, and it decides edge cases the
    way it always has."""
    import yaml

    fast_loader = getattr(yaml, "CSafeLoader", None)
    if fast_loader is not None:
        try:
            return yaml.compose(text, Loader=fast_loader)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _syntax_error(path: Path, text: str, exc: yaml.MarkedYAMLError) -> CatalogueError:
    """The problem's line; at the end of the file, the line where the broken construct began."""
    problem, context = exc.problem or "syntax error", exc.context
    mark, start = exc.problem_mark, exc.context_mark
    if mark is None or (start is not None and mark.index >= len(text.rstrip())):
        mark, start = start or mark, None
    if context and start is not None and start.line != getattr(mark, "line", None):
        context = f"{context} started at line {start.line + 1}"
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if mark is None:
        return CatalogueError(path, message)
    last_line = max(1, len(text.splitlines()))  # "end of stream" sits after the last line
    return CatalogueError(path, message, line=min(mark.line + 1, last_line))


def _read(path: Path, schema: dict[str, _F], *, empty_ok: bool = False) -> _Rec:
    node = _compose(path, empty_ok=empty_ok)
    if node is None:
        return _Rec({}, {}, _Loc(path, 1, None))
    top = _Validator(path).mapping(node, schema, "")
    version = top.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise top.at("version").error(
            f"unsupported catalogue version {version} (this llmtui reads version {SCHEMA_VERSION})"
        )
    return top


def _merge(base: list[_Rec], extra: list[_Rec]) -> list[_Rec]:
    """Entries of ``extra`` with a new id are appended; a known id replaces the fields it sets."""
    merged = list(base)
    index = {rec.get("id"): i for i, rec in enumerate(merged)}
    for rec in extra:
        i = index.get(rec.get("id"))
        if i is None:
            index[rec.get("id")] = len(merged)
            merged.append(rec)
            continue
        old = merged[i]
        values = {**old.values, **rec.values}
        locs = {k: v for k, v in old.locs.items() if k.split("[", 1)[0] not in rec.values} | rec.locs
        merged[i] = _Rec(values, locs, old.loc)
    return merged


# --------------------------------------------------------------------------------------------
# Cross-references and building the objects


def _build(top: _Rec, path: Path, overlay_path: Path | None) -> Catalogue:
    groups = [Group(**r.values) for r in _required_all(top.values["groups"], _GROUP)]
    group_ids = [g.id for g in groups]

    def check_group(rec: _Rec) -> None:
        if rec.values["group"] not in group_ids:
            raise rec.at("group").error(
                f"unknown group {rec.values['group']!r} (known: {', '.join(group_ids)})"
                + _suggest(rec.values["group"], group_ids)
            )

    models = []
    for rec in _required_all(top.values["models"], _MODEL):
        check_group(rec)
        for i, name in enumerate(rec.get("unverified") or ()):
            if name not in _MODEL:
                raise rec.at(f"unverified[{i}]").error(
                    f"unknown model field {name!r}{_suggest(name, list(_MODEL))}"
                )
        models.append(_build_model(rec))
    model_ids = {m.id for m in models}

    def check_model(rec: _Rec, key: str, value: str | None) -> None:
        if value is not None and value not in model_ids:
            raise rec.at(key).error(f"unknown model {value!r}{_suggest(value, sorted(model_ids))}")

    boards = []
    for rec in _required_all(top.get("leaderboards") or [], _LEADERBOARD):
        check_group(rec)
        metric_ids = [m.get("id") for m in rec.values["metrics"]]
        if not metric_ids:
            raise rec.at("metrics").error("a leaderboard needs at least one metric")
        overall = rec.get("overall_metric") or metric_ids[0]
        if overall not in metric_ids:
            raise rec.at("overall_metric").error(
                f"unknown metric {overall!r} (known: {', '.join(metric_ids)})"
            )
        for row in rec.values["rows"]:
            check_model(row, "model", row.values["model"])
            scores: _Rec = row.values["scores"]
            for metric_id in scores.values:
                if metric_id not in metric_ids:
                    raise scores.at(metric_id).error(
                        f"unknown metric {metric_id!r}{_suggest(metric_id, metric_ids)}"
                        f" (known: {', '.join(metric_ids)})"
                    )
        summary = rec.get("summary")
        if summary is not None:
            zh, en = summary.values["zh"], summary.values["en"]
            about = summary.get("models")
            if len(en) != len(zh) or (about is not None and len(about) != len(zh)):
                raise summary.loc.error(
                    f"zh, en and models must have the same number of points "
                    f"(zh {len(zh)}, en {len(en)}, models {len(about) if about else '-'})"
                )
            for i, model_id in enumerate(about or ()):
                check_model(summary, f"models[{i}]", model_id)
        boards.append(_build_leaderboard(rec, overall))
    board_ids = [b.id for b in boards]

    linked = []
    for rec in top.get("linked_leaderboards") or []:
        check_group(rec)
        table = rec.get("table")
        if table is not None and table not in board_ids:
            raise rec.at("table").error(f"unknown leaderboard {table!r} (known: {', '.join(board_ids)})")
        linked.append(LinkedLeaderboard(**rec.values))

    return Catalogue(
        version=top.values["version"],
        source=Source(**top.values["source"].values),
        gguf_sources=tuple(GgufSource(**r.values) for r in top.get("gguf_sources") or []),
        groups=tuple(groups),
        models=tuple(models),
        leaderboards=tuple(boards),
        linked_leaderboards=tuple(linked),
        path=path,
        overlay_path=overlay_path,
    )


def _required_all(recs: list[_Rec], schema: dict[str, _F]) -> list[_Rec]:
    for rec in recs:
        _require(rec, schema)
    return recs


def _fields(rec: _Rec) -> dict[str, Any]:
    """The record's values as an object's fields: its lists become tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in rec.values.items()}


def _build_model(rec: _Rec) -> Model:
    v = _fields(rec)
    model_id: str = v["id"]
    org, _, short = model_id.rpartition("/")
    gguf = v.pop("gguf", None)
    return Model(
        **{
            **v,
            "name": v.get("name") or short,
            "organisation": v.get("organisation", org or None),
            "url": v.get("url") or f"https://huggingface.co/{model_id}",
            "gguf": GgufRef() if gguf is None else GgufRef(**_fields(gguf)),
        }
    )


def _build_leaderboard(rec: _Rec, overall: str) -> Leaderboard:
    v = rec.values
    summary = v.get("summary")
    return Leaderboard(
        **{
            **v,
            "overall_metric": overall,
            "metrics": tuple(Metric(**m.values) for m in v["metrics"]),
            "rows": tuple(
                LeaderboardRow(r.values["model"], r.get("label") or r.values["model"],
                               dict(r.values["scores"].values))
                for r in v["rows"]
            ),
            "summary": None if summary is None else Summary(**_fields(summary)),
        }
    )


# --------------------------------------------------------------------------------------------
# Public entry points


def default_catalogue_path() -> Path:
    """The catalogue shipped with llmtui: package data beside this module, in a checkout and in an
    installed wheel alike."""
    return Path(__file__).with_name("catalogue.yaml")


def load_catalogue(
    path: str | Path | None = None,
    overlay: str | Path | None = None,
    *,
    overlay_must_exist: bool = False,
    cache_dir: str | Path | None = None,
) -> Catalogue:
    """Load and validate a catalogue, with an optional user overlay merged on top.

    ``path`` defaults to :func:`default_catalogue_path`. The overlay has the same schema but may
    hold only ``version``, ``groups``, ``models`` and ``leaderboards``: an entry with a new id is
    added, an entry with a known id replaces the fields it sets. A missing overlay file is ignored
    (it is the user's optional file) unless ``overlay_must_exist``; an empty one adds nothing.
    Raises :class:`CatalogueError` for the first problem found, naming the file it is in.

    With ``cache_dir``, a valid catalogue is also kept there as JSON and read back while the
    files it came from (and this loader) are unchanged, which is faster than validating the YAML.
    A cache that cannot be read or written is ignored.
    """
    path = Path(path) if path is not None else default_catalogue_path()
    overlay_path = Path(overlay) if overlay is not None else None
    if overlay_path is not None and not (overlay_must_exist or overlay_path.exists()):
        overlay_path = None
    cache = CatalogueCache(Path(cache_dir), path, overlay_path) if cache_dir is not None else None
    if cache is not None and (cached := cache.read()) is not None:
        return cached
    top = _read(path, _TOP)
    if overlay_path is not None:
        extra = _read(overlay_path, _OVERLAY, empty_ok=True)
        for name in _MERGED_LISTS:
            if name in extra.values:
                top.values[name] = _merge(top.values.get(name) or [], extra.values[name])
    catalogue = _build(top, path, overlay_path)
    if cache is not None:
        cache.write(catalogue)
    return catalogue
