"""Will a GGUF file run here? Memory (RAM, and GPU memory where an NVIDIA GPU is found) against
the file's weights, its KV cache for the chosen context, and llama.cpp's working buffers.

The KV cache is sized exactly from the GGUF header (layers x KV heads x key+value width x context x
2 bytes for llama.cpp's default f16 cache); without a header it is estimated from the file size.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tui.core.models.hub import QuantFile, quant_rank

if TYPE_CHECKING:  # the header parser imports `gguf` (and numpy): not needed to size a model
    from tui.core.models.gguf_header import GgufInfo

FitLabel = Literal["fits", "tight", "too large"]
MiB = 1 << 20
GiB = 1 << 30
HEADROOM = 0.8  # "fits" leaves a fifth of the memory for the system and other programs
OVERHEAD = 256 * MiB  # llama.cpp's compute buffers and runtime, roughly, for chat-sized contexts
BEST_USEFUL_BITS = 8.5  # above Q8_0 (F16, F32) quality no longer improves visibly, speed halves
DEFAULT_QUANT = "Q4_K_M"


@dataclass(frozen=True)
class Gpu:
    name: str
    total: int
    free: int


@dataclass(frozen=True)
class Machine:
    ram_total: int
    ram_available: int
    gpus: tuple[Gpu, ...] = ()

    @property
    def gpu_free(self) -> int:
        return sum(g.free for g in self.gpus)


def machine() -> Machine:
    import psutil

    memory = psutil.virtual_memory()
    return Machine(memory.total, memory.available, nvidia_gpus())


def nvidia_gpus() -> tuple[Gpu, ...]:
    """GPUs from `nvidia-smi`, when it is installed and answers; none otherwise."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ()
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.rsplit(",", 2)]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            gpus.append(Gpu(parts[0], int(parts[1]) * MiB, int(parts[2]) * MiB))
    return tuple(gpus)


@dataclass(frozen=True)
class Fit:
    label: FitLabel
    need: int  # bytes: weights + KV cache + overhead
    kv_cache: int
    kv_exact: bool  # sized from the GGUF header
    where: Literal["GPU", "RAM"]
    headroom: int = 0  # bytes to spare within the "fits" margin of its memory; negative: short

    @property
    def fits(self) -> bool:
        return self.label == "fits"


def kv_cache_bytes(file_size: int, n_ctx: int, header: GgufInfo | None) -> tuple[int, bool]:
    if header is not None:
        return header.kv_cache_bytes(n_ctx), True
    # Without a header: a 7B Q4 model (~4 GB) holds ~0.5 MiB per token in f16; scale with size.
    return int(n_ctx * 0.5 * MiB * min(file_size / (4 * GiB), 4.0)), False


def estimate(file_size: int, n_ctx: int, here: Machine, header: GgufInfo | None = None) -> Fit:
    kv, exact = kv_cache_bytes(file_size, n_ctx, header)
    need = file_size + kv + OVERHEAD
    if here.gpus and need <= here.gpu_free * HEADROOM:
        return Fit("fits", need, kv, exact, "GPU", int(here.gpu_free * HEADROOM) - need)
    budget = here.ram_available + here.gpu_free  # layers that do not fit on the GPU run from RAM
    if need <= budget * HEADROOM:
        label: FitLabel = "fits"
    elif need <= max(budget, here.ram_total * 0.9):
        label = "tight"  # runs if other programs give memory back; may swap
    else:
        label = "too large"
    return Fit(label, need, kv, exact, "RAM", int(budget * HEADROOM) - need)


def recommend(files: Sequence[QuantFile], fits: Sequence[Fit] | None) -> QuantFile | None:
    """The best quality that fits with headroom (up to Q8_0); Q4_K_M when fit is unknown."""
    complete = [f for f in files if f.complete]
    if fits is None:
        return next((f for f in complete if f.quant == DEFAULT_QUANT), None)
    fitting = [
        f
        for f, fit in zip(files, fits, strict=True)
        if f.complete and fit.fits and (f.nominal_bits or 0) <= BEST_USEFUL_BITS
    ]
    if not fitting:
        return None
    return max(fitting, key=lambda f: (quant_rank(f.quant), f.quant == DEFAULT_QUANT, -f.size))


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_duration(seconds: float | None) -> str:
    """`42s`, `3m07s`, `2h05m`: an ETA or a stall; "" when unknown."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
