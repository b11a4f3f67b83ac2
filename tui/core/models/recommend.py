"""Fits here: the best quantization of each catalogue model for this machine, and its speed.

The quant is the one `fit.recommend` picks (the best quality that fits with headroom, up to Q8_0).
Sizes are exact where a Hub listing of the model's GGUF repository was seen (`ListingCache`: kept
whenever llmtui lists a repository), estimated otherwise from the parameter count and each quant's
nominal bits per weight.

Generating a token reads every weight once, so speed ~ memory bandwidth / file size. The bandwidth
here is a nominal figure per memory (`NOMINAL_BANDWIDTH`); a per-machine factor calibrated from the
answers measured on this machine (tokens/s that chats and comparisons recorded for local files)
scales it. Until one is measured the speed is marked as an estimate.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tui.core.models import fit
from tui.core.models.hub import BITS_PER_WEIGHT, GgufPart, QuantFile, RepoFiles
from tui.core.storage import StorageError, read_json_object, write_atomic

# Bytes per second a token's weight reads get, before calibration: dual-channel desktop RAM and a
# mid-range GPU. Only the ratio between measured and estimated speeds has to be right: the
# calibration factor carries the rest.
NOMINAL_BANDWIDTH = {"RAM": 20e9, "GPU": 300e9}
# The quants GGUF publishers (TheBloke) make of every model: the choices when no listing is known.
ESTIMATED_QUANTS = (
    "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_0", "Q5_K_S", "Q5_K_M",
    "Q6_K", "Q8_0",
)  # fmt: skip
FitWord = Literal["yes", "no", "unknown"]  # unknown: no parameter count and no listing seen


# -- speed ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Measured tokens/s over the nominal estimate, the median over the files measured."""

    factor: float | None = None  # None: nothing measured yet
    files: int = 0

    @property
    def calibrated(self) -> bool:
        return self.factor is not None


def nominal_speed(size: int, where: str) -> float:
    return NOMINAL_BANDWIDTH[where] / max(size, 1)


def calibrate(
    measured: Iterable[tuple[str, float]], here: fit.Machine, n_ctx: int
) -> Calibration:
    """From (model file, tokens/s) pairs; entries that are not a file here are left out."""
    by_file: dict[Path, list[float]] = {}
    for location, speed in measured:
        path = Path(location) if location else None
        if path is not None and speed > 0 and path.is_file():
            by_file.setdefault(path.resolve(), []).append(speed)
    ratios = []
    for path, speeds in by_file.items():
        size = path.stat().st_size
        where = fit.estimate(size, n_ctx, here).where
        ratios.append(statistics.median(speeds) / nominal_speed(size, where))
    if not ratios:
        return Calibration()
    return Calibration(statistics.median(ratios), len(ratios))


def measured_speeds(database: Path) -> list[tuple[str, float]]:
    """(model file, tokens/s) of every answer chats and comparisons measured; none without a
    database (it is not created for this)."""
    if not database.exists():
        return []
    from tui.core.chat.store import ConversationStore
    from tui.core.compare.store import CompareStore

    with closing(CompareStore(database)) as compare:
        answers = compare.measured()
    speeds = [
        (m.location, m.stats.tokens_per_second)
        for m in answers
        if m.location and m.stats is not None and m.stats.tokens_per_second
    ]
    with closing(ConversationStore(database)) as chats:
        return speeds + chats.answer_speeds()


@dataclass(frozen=True)
class Speed:
    tokens_per_second: float
    calibrated: bool

    @property
    def label(self) -> str:
        value = self.tokens_per_second
        shown = f"{value:.0f}" if value >= 10 else f"{value:.1f}"
        return f"{shown} tok/s" + ("" if self.calibrated else " estimate")


def speed(size: int, where: str, calibration: Calibration) -> Speed:
    tps = nominal_speed(size, where) * (calibration.factor or 1.0)
    return Speed(tps, calibration.calibrated)


# -- Hub listings seen ---------------------------------------------------------------------------


class ListingCache:
    """`hub_listings.json` in the cache folder: each GGUF repository's files as last listed."""

    def __init__(self, folder: Path) -> None:
        self.file = folder / "hub_listings.json"
        self._data: dict | None = None

    def _read(self) -> dict:
        if self._data is None:
            self._data = read_json_object(self.file)
        return self._data

    def remember(self, files: RepoFiles) -> None:
        data = dict(self._read())
        data[files.repo_id] = [
            [f.name, f.quant, [[p.filename, p.size] for p in f.parts], f.expected_parts, f.joined]
            for f in files.files
        ]
        self._data = data
        try:
            write_atomic(self.file, json.dumps(data, ensure_ascii=False))
        except StorageError:
            pass  # only a cache: sizes stay estimates

    def files(self, repo_id: str) -> tuple[QuantFile, ...] | None:
        rows = self._read().get(repo_id)
        if not isinstance(rows, list):
            return None
        try:
            return tuple(
                QuantFile(repo_id, name, tuple(GgufPart(n, int(s), None) for n, s in parts),
                          quant, int(expected), bool(joined))  # fmt: skip
                for name, quant, parts, expected, joined in rows
            )
        except (TypeError, ValueError):  # written by another version
            return None


# -- a model's fit -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFit:
    """The quant to take of a model here (None: none fits), with its size, fit and speed."""

    model_id: str
    word: FitWord
    file: QuantFile | None = None
    size_exact: bool = False
    fit: fit.Fit | None = None
    speed: Speed | None = None
    smallest_need: int | None = None  # when none fits: the memory the smallest quant needs

    @property
    def quant(self) -> str | None:
        return self.file.quant if self.file else None

    @property
    def size(self) -> int | None:
        return self.file.size if self.file else None

    @property
    def cell(self) -> str:
        """What the model table shows: `Q5_K_M ~5.1 GB 12 tok/s estimate`, `no`, or ""."""
        if self.word == "unknown":
            return ""
        if self.file is None or self.fit is None or self.speed is None:
            need = f": needs {fit.human_bytes(self.smallest_need)}" if self.smallest_need else ""
            return f"no{need}"
        approx = "" if self.size_exact else "~"
        return f"{self.quant} {approx}{fit.human_bytes(self.file.size)} {self.speed.label}"

    def to_dict(self) -> dict:
        return {
            "model": self.model_id,
            "fits": self.word,
            "quant": self.quant,
            "file": self.file.name if self.file and self.size_exact else None,
            "size": self.size,
            "size_exact": self.size_exact,
            "where": self.fit.where if self.fit else None,
            "headroom": self.fit.headroom if self.fit else None,
            "tokens_per_second": round(self.speed.tokens_per_second, 2) if self.speed else None,
            "speed_calibrated": self.speed.calibrated if self.speed else None,
        }


def estimated_files(repo_id: str, params_b: float) -> tuple[QuantFile, ...]:
    """The usual quants of a model, sized from its parameter count and their nominal bits."""
    params = params_b * 1e9
    return tuple(
        QuantFile(repo_id, q, (GgufPart(q, int(params * BITS_PER_WEIGHT[q] / 8), None),), q)
        for q in ESTIMATED_QUANTS
    )


def model_fit(
    model_id: str,
    files: Sequence[QuantFile] | None,
    params_b: float | None,
    here: fit.Machine,
    n_ctx: int,
    calibration: Calibration,
) -> ModelFit:
    """The best quant of a model here: from its listed `files` when known, else estimated."""
    exact = bool(files)
    if not files:
        if not params_b:
            return ModelFit(model_id, "unknown")
        files = estimated_files(model_id, params_b)
    fits = [fit.estimate(f.size, n_ctx, here) for f in files]
    best = fit.recommend(files, fits)
    if best is None:
        needs = [e.need for f, e in zip(files, fits, strict=True) if f.complete]
        return ModelFit(model_id, "no", size_exact=exact, smallest_need=min(needs, default=None))
    estimate = fits[list(files).index(best)]
    return ModelFit(model_id, "yes", best, exact, estimate,
                    speed(best.size, estimate.where, calibration))  # fmt: skip


def catalogue_fits(
    models: Iterable, here: fit.Machine, n_ctx: int, calibration: Calibration,
    listings: ListingCache | None = None,
) -> dict[str, ModelFit]:  # fmt: skip
    """`model_fit` of every catalogue model (a `tui.core.catalogue.Model`), by id."""
    result = {}
    for model in models:
        repo = model.gguf.repo or next(iter(model.gguf.alternatives), None)
        files = listings.files(repo) if listings is not None and repo else None
        result[model.id] = model_fit(model.id, files, model.params_b, here, n_ctx, calibration)
    return result


def for_context(context, models: Iterable | None = None) -> dict[str, ModelFit]:
    """Every catalogue model's fit for this machine, as the app context's settings and stores say
    (probes the machine and reads the database: call it off the event loop)."""
    n_ctx = context.settings.downloads.context_length
    here = fit.machine()
    try:
        measured = measured_speeds(context.paths.database)
    except StorageError:  # a damaged database: chat and compare report it; speeds stay estimates
        measured = []
    calibration = calibrate(measured, here, n_ctx)
    listings = ListingCache(context.paths.cache_dir)
    catalogue_models = context.catalogue().models if models is None else models
    return catalogue_fits(catalogue_models, here, n_ctx, calibration, listings)
