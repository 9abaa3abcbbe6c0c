"""The whole answer `fit` and the vram check give: the estimate, the edges, what else fits, and the upgrade.

The shape is built once (`model_shape`, from the profile the reader already validated) and every
part of the answer reads that one shape, so the plan and the advice can never disagree about the
model (the sliding-window pattern included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.hardware.machine import HardwareProfile
from core.memory.estimate import MemoryEstimate, estimate
from core.memory.options import FitOption, quant_options, setting_options
from core.memory.search import max_context, max_gpu_layers
from core.memory.shape import ModelShape, model_shape
from core.memory.upgrade import UpgradeAdvice, advise
from core.model.profile import ModelProfile
from core.settings.run import RunSettings


@dataclass(frozen=True)
class FitReport:
    """An estimate plus the answers around it: the largest context and GPU layers that fit, and fixes."""

    estimate: MemoryEstimate
    shape: ModelShape
    max_context: int
    max_gpu_layers: int
    options: list[FitOption] = field(default_factory=list)
    upgrade: UpgradeAdvice | None = None  # when nothing reasonable fits this machine

    @property
    def fits(self) -> bool:
        return self.estimate.fits

    @property
    def one_change(self) -> FitOption | None:
        """The one change that makes it fit at a usable speed: the first such option (listed best first)."""
        return next((o for o in self.options if o.comfortable), None)

    @property
    def alternatives(self) -> list[FitOption]:
        """The options under the name `fit --json` has always used."""
        return self.options

    def to_dict(self) -> dict[str, Any]:
        d = self.estimate.to_dict()
        d.update(
            max_context=self.max_context,
            n_gpu_layers=self.estimate.setup.n_gpu_layers,
            max_gpu_layers=self.max_gpu_layers,
            alternatives=[a.to_dict() for a in self.options],
            upgrade=self.upgrade.to_dict() if self.upgrade is not None else None,
        )
        return d


def plan(
    shape: ModelShape, setup: RunSettings, hardware: HardwareProfile, with_options: bool = True,
    with_upgrade: bool = False,
) -> FitReport:  # fmt: skip
    """The estimate for `setup`, the largest context and -ngl that fit, what else fits if it does not,
    and (with_upgrade) which hardware would when nothing reasonable does."""
    est = estimate(shape, setup, hardware)
    options: list[FitOption] = []
    if with_options and not est.fits:
        options = setting_options(shape, est, hardware) + (
            quant_options(shape, est.setup, hardware) if with_upgrade else []
        )
    # the upgrade only when no option fits at a usable speed: a setting that works is the answer, not a purchase
    needs_hardware = with_upgrade and not any(o.comfortable for o in options)
    return FitReport(
        estimate=est,
        shape=shape,
        max_context=max_context(shape, est.setup, hardware),
        max_gpu_layers=max_gpu_layers(shape, est.setup, hardware),
        options=options,
        upgrade=advise(shape, est.setup, hardware) if needs_hardware else None,
    )


def plan_with_advice(model: ModelProfile | ModelShape, setup: RunSettings, hardware: HardwareProfile) -> FitReport:
    """The whole answer: the plan, smaller quants when it does not fit, and the upgrade advice."""
    shape = model if isinstance(model, ModelShape) else model_shape(model)
    return plan(shape, setup, hardware, with_upgrade=True)
