"""Decode speed: memory-bound, every generated token reads the active weights once from where they sit."""

from __future__ import annotations

from core.hardware.machine import HardwareProfile
from core.memory.estimate import MemoryEstimate
from core.memory.shape import ModelShape

DEFAULT_HOST_BANDWIDTH_GBPS = 50.0  # dual-channel DDR4-3200 peaks at 51.2 GB/s, DDR5-5600 at 89.6


def decode_seconds_per_token(shape: ModelShape, est: MemoryEstimate, host_gbps: float) -> float:
    """Memory-bound decode: each device reads its share of the active weights once per token."""
    return sum(seconds for _, _, seconds in reads(shape, est, host_gbps))


def reads(shape: ModelShape, est: MemoryEstimate, host_gbps: float) -> list[tuple[str, float, float]]:
    """(device, GB read per token, seconds) for each device holding weights."""
    matrices = max(shape.weights_bytes - shape.input_bytes, 1)
    scale = shape.active_bytes_per_token / matrices  # < 1 for MoE: unused experts are not read
    out = []
    for d in est.devices:
        read = (d.weights_bytes - (shape.input_bytes if d.kind == "host" else 0)) * scale
        if read <= 0:
            continue
        gbps = d.bandwidth_gbps or host_gbps
        out.append((d.device, read / 1e9, read / (gbps * 1e9)))
    return out


def tokens_per_s(shape: ModelShape, est: MemoryEstimate, host_gbps: float) -> float | None:
    """1 / decode time; None when no device reads any weights (nothing to time)."""
    seconds = decode_seconds_per_token(shape, est, host_gbps)
    return 1 / seconds if seconds > 0 else None


def host_bandwidth(hardware: HardwareProfile) -> float:
    """RAM bandwidth: the GPU's own figure on unified-memory machines, else a desktop default."""
    unified = [g.bandwidth_gbps for g in hardware.gpus if g.unified_memory and g.bandwidth_gbps]
    return max(unified) if unified else DEFAULT_HOST_BANDWIDTH_GBPS
