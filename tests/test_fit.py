"""Fit labels, KV cache sizing from the GGUF header, and the recommended quant."""

from __future__ import annotations

import os
import stat

from tui.core.models import fit, gguf_header
from tui.core.models.hub import GgufPart, QuantFile

GiB = fit.GiB


def quant(q: str, size: int) -> QuantFile:
    return QuantFile("o/r", f"m.{q}.gguf", (GgufPart(f"m.{q}.gguf", size, None),), q)


def test_kv_cache_is_sized_from_the_header(tiny_gguf):
    path = tiny_gguf(["a"], layers=3, width=512)
    info = gguf_header.read_local(path)
    assert (info.n_layer, info.n_embd, info.n_head, info.key_length) == (3, 512, 4, 128)
    # layers x KV heads x (key + value width) x context x 2 bytes (f16)
    assert info.kv_cache_bytes(4096) == 3 * 4 * (128 + 128) * 4096 * 2


def test_labels():
    here = fit.Machine(ram_total=16 * GiB, ram_available=10 * GiB)
    assert fit.estimate(4 * GiB, 4096, here).label == "fits"
    assert fit.estimate(9 * GiB, 4096, here).label == "tight"
    assert fit.estimate(20 * GiB, 4096, here).label == "too large"
    gpu = fit.Machine(16 * GiB, 2 * GiB, (fit.Gpu("H100", 80 * GiB, 79 * GiB),))
    estimate = fit.estimate(40 * GiB, 4096, gpu)
    assert estimate.label == "fits" and estimate.where == "GPU"


def test_longer_context_needs_more(tiny_gguf):
    info = gguf_header.read_local(tiny_gguf(["a"], layers=32, width=4096))
    here = fit.Machine(16 * GiB, 8 * GiB)
    assert fit.estimate(4 * GiB, 2048, here, info).label == "fits"
    assert fit.estimate(4 * GiB, 32768, here, info).label == "too large"  # a 16 GiB cache


def test_recommend_best_quality_that_fits_up_to_q8():
    files = [quant("Q2_K", 3 * GiB), quant("Q4_K_M", 4 * GiB), quant("Q6_K", 6 * GiB),
             quant("Q8_0", 7 * GiB), quant("F16", 8 * GiB)]  # fmt: skip
    big = fit.Machine(64 * GiB, 60 * GiB)
    assert fit.recommend(files, [fit.estimate(f.size, 4096, big) for f in files]).quant == "Q8_0"
    small = fit.Machine(16 * GiB, 8 * GiB)
    assert (
        fit.recommend(files, [fit.estimate(f.size, 4096, small) for f in files]).quant == "Q4_K_M"
    )
    tiny = fit.Machine(2 * GiB, 1 * GiB)
    assert fit.recommend(files, [fit.estimate(f.size, 4096, tiny) for f in files]) is None
    assert fit.recommend(files, None).quant == "Q4_K_M"  # in doubt


def test_nvidia_smi_is_read_when_present(tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559, 80000'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert fit.nvidia_gpus() == (fit.Gpu("NVIDIA H100 80GB HBM3", 81559 << 20, 80000 << 20),)
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert fit.nvidia_gpus() == ()
