"""The models already on this computer, and what each one's header says: its tier and whether it fits.

Headers are read once per path and kept (`Headers`), so a new machine or context re-sizes the list
without reading the files again. Both jobs are generators: the window runs them off its UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.app.words import found_badge, human_bytes, tier_badge
from core.engines import registry as engines
from core.errors import QuantDoctorError
from core.hardware.machine import HardwareProfile
from core.memory.arithmetic import gib
from core.memory.file_fit import FileFit, file_fit
from core.memory.shape import ModelShape, model_shape
from core.model.discovery import Discovered, FoundModel, discover
from core.model.inspection import inspect_model
from core.progress import Job, Progress
from core.settings.setup import Setup

__all__ = ["Discovered", "FoundBadges", "FoundModel", "Headers", "badges_job", "discover_job", "entry_text", "fit_words"]


@dataclass(frozen=True)
class FoundBadges:
    """What the header of a found model says: its quant tier, and whether it fits the machine."""

    tier: str  # "Q4_K_M: good precision"
    fit: str  # "fits your GPU", "does not fit a GeForce RTX 4060", "" when there is no machine yet
    detail: str  # "needs 5.20 GiB of 7.38 GiB at 8,192 tokens of context"


Headers = dict[str, tuple[ModelShape, str] | None]  # by path: the shape and the tier words, None if unreadable


def entry_text(m: FoundModel, badges: FoundBadges | None = None) -> tuple[str, str]:
    """(two lines for the list, the tooltip): name, then size · source · tier · fit."""
    tier = badges.tier if badges and badges.tier else found_badge(m.name)
    fit = badges.fit if badges else ""
    line = " · ".join(x for x in (human_bytes(m.size), m.source, tier, fit) if x)
    detail = f"{m.path}\n{m.source}" + (f"\n{badges.detail}" if badges and badges.detail else "")
    return f"{m.name}\n{line}", detail


def fit_words(fit: FileFit, hardware: HardwareProfile) -> tuple[str, str]:
    """("fits your GPU", "needs … of … at … tokens"): the badge and its tooltip line."""
    if not fit.on_gpu:
        where = "in RAM"
    elif hardware.source == "catalog":  # a what-if card: say which
        names = sorted({g.name for g in hardware.usable_gpus})
        count = len(hardware.usable_gpus)
        where = f"{count} x {names[0]}" if count > 1 and len(names) == 1 else f"the {', '.join(names)}"
    else:
        where = "your GPU" if len(hardware.usable_gpus) == 1 else "your GPUs"
    badge = f"fits {where}" if fit.fits else f"does not fit {where}"
    room = f" of {gib(fit.available_bytes)}" if fit.available_bytes is not None else ""
    return badge, f"needs {gib(fit.needed_bytes)}{room} at {fit.ctx:,} tokens of context"


def discover_job() -> Job[Discovered]:
    """The models on this computer, and a note for each usual place that could not be looked into."""
    yield Progress("Looking for models on this computer", 0, 1)
    return discover()


def badges_job(
    models: list[FoundModel], headers: Headers, setup: Setup, hardware: HardwareProfile | None
) -> Job[tuple[Headers, dict[str, FoundBadges]]]:
    """Read each found model's header once (kept for the next machine or context) and size it at the
    context the person's engine really uses. A header is milliseconds, but a list can hold dozens."""
    headers = dict(headers)
    out: dict[str, FoundBadges] = {}
    for i, m in enumerate(models):
        yield Progress("Checking which models fit", i, len(models))
        key = str(m.path)
        if key not in headers:
            try:
                profile = inspect_model(m.path)
                headers[key] = (model_shape(profile), tier_badge(profile))
            except QuantDoctorError:
                headers[key] = None  # not readable: the list keeps what the name says
        header = headers[key]
        if header is None:
            continue
        shape, tier = header
        fit, detail = "", ""
        if hardware is not None:
            try:
                run = setup.run.replace(n_ctx=engines.effective_ctx(setup, shape.n_ctx_train))
                fit, detail = fit_words(file_fit(shape, run, hardware), hardware)
            except QuantDoctorError:
                pass
        out[key] = FoundBadges(tier, fit, detail)
    return headers, out
