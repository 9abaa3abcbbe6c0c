"""Before a comparison starts: how long it will take here, how much memory it will need at its peak, and,
when a model cannot be compared on this machine, saying so before anything is loaded, with what would work.

The time is `core.app.compare.estimate` (the models' sizes at this machine's measured speed, which a
finished comparison records with `remember_speed`, so the CLI and the window learn from each other; the
window refines it while it runs with `SmoothEta`). The memory is the memory estimate (core.memory, which
agrees with llama.cpp's own buffers) for each local model at the largest context the comparison sets up:
the two models are never loaded together (each side's worker exits before the other's starts), so the
peak is the larger side's. When a side does not fit, the options are tried in the order a person loses
least by them:

1. a smaller context (the largest one that fits, when the comparison's own context is above the chunk:
   the long-context domain or a large -c),
2. a smaller reference: a Q8_0 (then Q6_K) of the reference model, whose size and need are computed from
   the reference's own shape (core.memory.shape.ModelShape.requantized),
3. the published-table verdict: the quant-tier finding reads the file's bits per weight against
   llama.cpp's published perplexity tables, and needs no model loaded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core import jsonfile
from core.app.compare import Estimate, EvalSettings, estimate, file_size
from core.errors import QuantDoctorError
from core.evaluation.scoring import EVAL_DEFAULT_CTX
from core.hardware import HardwareProfile, detect_hardware
from core.memory.arithmetic import gib
from core.memory.estimate import MemoryEstimate
from core.memory.estimate import estimate as memory_estimate
from core.memory.search import max_context
from core.memory.shape import ModelShape, model_shape
from core.model.inspection import inspect_model
from core.model.profile import ModelProfile
from core.paths import cache_dir
from core.progress import Job, Progress
from core.settings.run import RunSettings
from core.textnum import Quantity, json_decimal

SMALLER_REFERENCES = ("Q8_0", "Q6_K")
SPEED_FILE = "compare-speed.json"
SPEED = Quantity("a speed factor", "", 0, 1_000_000)  # this machine's seconds over the default estimate's


@dataclass(frozen=True)
class SideNeed:
    """One model's memory at the comparison's context, on the device that runs shortest."""

    label: str  # "your model", "the reference"
    needs_bytes: int
    has_bytes: int | None
    device: str  # "host" or the GPU's name

    @property
    def fits(self) -> bool:
        return self.has_bytes is None or self.needs_bytes <= self.has_bytes


@dataclass(frozen=True)
class Preflight:
    """What a comparison will cost here, said before it starts."""

    time: Estimate
    n_ctx: int
    sides: tuple[SideNeed, ...] = ()
    options: tuple[str, ...] = field(default_factory=tuple)
    sizes: tuple[int, int] = (0, 0)  # the reference's and the candidate's file sizes, as the time estimate took them
    domains: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        return all(s.fits for s in self.sides)

    @property
    def peak_bytes(self) -> int | None:
        return max((s.needs_bytes for s in self.sides), default=None)

    def words(self) -> list[str]:
        """The lines both front ends show before Compare is clicked."""
        lines = [self.time.words()]
        peak = self.peak_bytes
        if peak is not None:
            largest = max(self.sides, key=lambda s: s.needs_bytes)
            where = "system RAM" if largest.device == "host" else largest.device
            has = f" of {gib(largest.has_bytes)} available" if largest.has_bytes is not None else ""
            lines.append(
                f"Peak memory: about {gib(peak)} of {where}{has}, for {largest.label} at a {self.n_ctx:,}-token "
                "context (the two models are never loaded together)."
            )
        lines += self.problems()
        if not self.fits:
            lines += [f"What would work: {o}" for o in self.options]
        return lines

    def problems(self) -> list[str]:
        """One line for each model that cannot be compared here."""
        out = []
        for s in self.sides:
            if not s.fits and s.has_bytes is not None:
                where = "system RAM" if s.device == "host" else s.device
                out.append(
                    f"{s.label.capitalize()} cannot be compared on this computer: it needs {gib(s.needs_bytes)} of "
                    f"{where} at a {self.n_ctx:,}-token context, and {gib(s.has_bytes)} is available."
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.time.seconds, 1), "speed_measured": self.time.measured, "n_ctx": self.n_ctx,
            "peak_bytes": self.peak_bytes, "fits": self.fits, "options": list(self.options),
            "sides": [{"label": s.label, "needs_bytes": s.needs_bytes, "has_bytes": s.has_bytes, "device": s.device,
                       "fits": s.fits} for s in self.sides],
            "words": self.words(),
        }  # fmt: skip


def comparison_context(settings: RunSettings, ev: EvalSettings, long_context: bool) -> int:
    """The largest context the comparison's workers set up (core.evaluation.runners.largest_context)."""
    ctx = max(settings.n_ctx or EVAL_DEFAULT_CTX, ev.chunk)
    return max(ctx, ev.long_chunk) if long_context else ctx


def _need(label: str, est: MemoryEstimate) -> SideNeed:
    """The device with the least room left speaks for the side (a GPU that is short, else the host)."""
    worst = min(est.devices, key=lambda d: d.margin_bytes if d.margin_bytes is not None else math.inf)
    return SideNeed(label, worst.total_bytes, worst.available_bytes, worst.device)


def _shape(path: str, profiles: dict[str, ModelProfile]) -> ModelShape | None:
    try:
        known = profiles.get(path)
        return model_shape(known if known is not None else inspect_model(Path(path)))
    except (QuantDoctorError, OSError, ValueError):
        return None  # not estimable here (a server, an unknown architecture): llama.cpp itself will tell


def preflight(
    reference: str, candidate: str, settings: RunSettings, domains: list[str], long_context: bool = False,
    ev: EvalSettings | None = None, own_prompts: int = 0, own_texts: dict[str, str] | None = None,
    speed: float | None = None, hardware: HardwareProfile | None = None,
    profiles: dict[str, ModelProfile] | None = None,
) -> Preflight:  # fmt: skip
    """Time and peak memory of comparing `candidate` with `reference` here, and what would work if it cannot be.
    `profiles`: models already inspected, by path (the window has the person's), so they are not read again."""
    known = profiles or {}
    ev = ev or EvalSettings()
    sizes = (file_size(reference) or 0, file_size(candidate) or 0)
    mine = sizes[1] or sizes[0]
    time = estimate((sizes[0] or mine, mine), domains, long_context, ev, own_prompts, own_texts, speed)
    n_ctx = comparison_context(settings, ev, long_context)
    found = {"your model": _shape(candidate, known),
             "the reference": _shape(reference, known) if reference != candidate else None}  # fmt: skip
    shapes = {k: v for k, v in found.items() if v is not None}
    plan = Preflight(time, n_ctx, sizes=(sizes[0] or mine, mine), domains=tuple(domains))
    if not shapes:
        return plan
    hw = hardware or detect_hardware()
    at = settings.replace(n_ctx=n_ctx)
    plan = replace(plan, sides=tuple(_need(label, memory_estimate(shape, at, hw)) for label, shape in shapes.items()))
    if plan.fits:
        return plan
    return replace(plan, options=tuple(_options(shapes, at, hw, ev, long_context)))


def _options(shapes: dict[str, ModelShape], at: RunSettings, hw: HardwareProfile, ev: EvalSettings,
             long_context: bool) -> list[str]:  # fmt: skip
    out: list[str] = []
    n_ctx = at.n_ctx or EVAL_DEFAULT_CTX
    fits_ctx = min(max_context(shape, at, hw, cap=n_ctx) for shape in shapes.values())
    if fits_ctx >= ev.chunk and fits_ctx < n_ctx:
        what = "without the long-context text, or " if long_context else ""
        out.append(f"{what}a smaller context: {fits_ctx:,} tokens fits both models (-c {fits_ctx}).")
    ref = shapes.get("the reference")
    mine = shapes.get("your model")
    mine_fits = mine is None or _need("", memory_estimate(mine, at, hw)).fits
    if ref is not None and mine_fits and not _need("", memory_estimate(ref, at, hw)).fits:
        for quant in SMALLER_REFERENCES:
            smaller = ref.requantized(quant)
            need = _need("", memory_estimate(smaller, at, hw))
            if need.fits:
                out.append(
                    f"a smaller reference: a {quant} file of the same model (about {gib(smaller.weights_bytes)} on "
                    f"disk) needs {gib(need.needs_bytes)} here and fits."
                )
                break
    out.append(
        "the published-table verdict: the Diagnosis page's quant-tier finding (quantdoctor-cli diagnose MODEL) "
        "reads your file's bits per weight against llama.cpp's published tables, with no model loaded."
    )
    return out


def preflight_job(*args: Any, **kwargs: Any) -> Job[Preflight]:
    """`preflight` as a job, for the window: reading a model's header and the machine is too slow for its UI
    thread (a quarter of a second for a 152K-token vocabulary)."""
    yield Progress("estimating time and memory")
    return preflight(*args, **kwargs)


# --- this machine's measured speed, shared by the CLI and the window ----------------------------------------


def remembered_speed(folder: Path | None = None) -> float | None:
    """The speed factor the last finished comparison measured here (core.app.compare.measured_speed)."""
    path = (folder or cache_dir()) / SPEED_FILE
    if not path.is_file():
        return None
    try:
        value = jsonfile.load(path, "the measured comparison speed", max_bytes=4096).get("speed")
    except QuantDoctorError:
        return None  # unreadable or not ours: the next comparison measures again
    speed = json_decimal(value, SPEED)
    return speed if speed is not None and speed > 0 else None


def remember_speed(speed: float | None, folder: Path | None = None) -> None:
    """Keep a measured speed factor for the next estimate (best effort: a read-only cache is not an error)."""
    if speed is None or not math.isfinite(speed) or speed <= 0:
        return
    target = folder or cache_dir()
    try:
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / (SPEED_FILE + ".tmp")
        tmp.write_text(json.dumps({"speed": speed}), encoding="utf-8")
        tmp.replace(target / SPEED_FILE)
    except OSError:
        pass
