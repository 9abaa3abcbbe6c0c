"""Does a model file fit this machine? The one-line answer for a list of files (the Model page's badges).

"Fits your GPU" means what LM Studio's list means by it: every layer on the graphics card at the
context the person uses; on a machine without a GPU, that it fits in RAM. The estimate is the same
one the vram check gives (core.memory.estimate), from the file's header only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.hardware.machine import HardwareProfile
from core.memory.estimate import estimate, gpu_fits
from core.memory.parts import context
from core.memory.shape import ModelShape
from core.settings.run import RunSettings


@dataclass(frozen=True)
class FileFit:
    on_gpu: bool  # judged against the GPU(s); False: against RAM, on a machine without a usable GPU
    fits: bool
    needed_bytes: int  # on the fullest GPU, or in RAM
    available_bytes: int | None
    ctx: int


def file_fit(shape: ModelShape, run: RunSettings, hardware: HardwareProfile) -> FileFit:
    """Whether the whole model fits the GPU(s) at `run`'s context (or RAM, without a GPU)."""
    if hardware.usable_gpus:
        est = estimate(shape, replace(run, n_gpu_layers=None), hardware)
        fullest = max(est.gpus, key=lambda d: d.total_bytes)
        return FileFit(True, gpu_fits(est), fullest.total_bytes, fullest.available_bytes, context(run))
    est = estimate(shape, replace(run, n_gpu_layers=0), hardware)
    return FileFit(False, est.host.fits, est.host.total_bytes, est.host.available_bytes, context(run))
