"""`fit`: what a model needs on a machine at given settings, and what else would fit (the memory plan)."""

from __future__ import annotations

from core.engines.base import LLAMA_CPP_FALLBACK_CTX
from core.hardware.machine import HardwareProfile
from core.memory.plan import FitReport, plan_with_advice
from core.memory.shape import model_shape
from core.model.profile import ModelProfile
from core.settings.run import RunSettings


def fit_plan(profile: ModelProfile, run: RunSettings, hardware: HardwareProfile) -> FitReport:
    """The plan at the person's settings; with no context set (-c 0), the model's own, as llama.cpp does."""
    shape = model_shape(profile)
    if run.n_ctx is None:
        run = run.replace(n_ctx=shape.n_ctx_train or LLAMA_CPP_FALLBACK_CTX)
    return plan_with_advice(shape, run, hardware)
