"""The searches: the largest context and the most GPU layers that fit, each over exact estimates.

The context search is a safeguarded secant search rather than a bisection: what a device needs
grows almost linearly with the context (the KV cache exactly, the compute buffer piecewise
linearly), so the line through the two ends of the bracket lands next to the edge and two or three
estimates find it where a bisection took nine. Every probe is an exact estimate, so the answer is
the same as the bisection's: the largest multiple of 256 cells that fits.
"""

from __future__ import annotations

from dataclasses import replace

from core.hardware.machine import HardwareProfile
from core.memory.estimate import MemoryEstimate, estimate, gpu_fits
from core.memory.parts import KV_CELL_PADDING, pad
from core.memory.shape import ModelShape
from core.settings.run import RunSettings


def _margin(est: MemoryEstimate) -> int:
    """The tightest device's headroom (negative when it does not fit); huge when nothing is limited."""
    margins = [d.margin_bytes for d in est.devices if d.margin_bytes is not None]
    return min(margins) if margins else 1 << 62


def max_context(shape: ModelShape, setup: RunSettings, hardware: HardwareProfile, cap: int | None = None) -> int:
    """The largest context (a multiple of 256) that fits every device; 0 if none does."""
    limit = pad(cap or shape.n_ctx_train or 131072)

    def margin(units: int) -> int:
        return _margin(estimate(shape, replace(setup, n_ctx=units * KV_CELL_PADDING), hardware))

    hi = limit // KV_CELL_PADDING
    m_hi = margin(hi)
    if m_hi >= 0:
        return limit
    lo, m_lo = 1, margin(1)  # lo fits (or is the floor), hi does not
    if m_lo < 0:
        return 0
    while hi - lo > 1:
        # where the line through (lo, m_lo) and (hi, m_hi) crosses zero, kept strictly inside the bracket
        guess = lo + int((hi - lo) * m_lo / (m_lo - m_hi))
        mid = min(max(guess, lo + 1), hi - 1)
        m = margin(mid)
        if m >= 0:
            lo, m_lo = mid, m
            if mid + 1 < hi and margin(mid + 1) < 0:  # the secant lands just below the edge: check its neighbour
                hi = mid + 1
        else:
            hi, m_hi = mid, m
            if mid - 1 > lo and margin(mid - 1) >= 0:
                lo = mid - 1
    return lo * KV_CELL_PADDING


def max_gpu_layers(shape: ModelShape, setup: RunSettings, hardware: HardwareProfile) -> int:
    """The largest -ngl whose GPU share fits (n_layer + 1 = everything, 0 = CPU only)."""
    if not hardware.usable_gpus:
        return 0
    lo, hi = 0, shape.n_layer + 1
    if gpu_fits(estimate(shape, replace(setup, n_gpu_layers=hi), hardware)):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if gpu_fits(estimate(shape, replace(setup, n_gpu_layers=mid), hardware)):
            lo = mid
        else:
            hi = mid
    return lo
