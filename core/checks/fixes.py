"""Fixes written for the person's own engine and settings: what changes, and only what changes.

A check says which settings its cause needs (a `Change`); this module drops every part the person
already has (a fix never recommends the value in use) and has the engine spell the rest over their
own command and model file (core.engines.<engine>.spell).
"""

from __future__ import annotations

from dataclasses import replace

from core.engines import registry as engines
from core.engines.base import Change, FixBase, FixStep
from core.model.profile import ModelProfile
from core.settings.run import FlashAttn
from core.settings.setup import Setup


def current_of(setup: Setup) -> Change:
    """The person's settings that differ from llama.cpp's defaults, as a Change."""
    run = setup.run
    return Change(
        n_ctx=run.n_ctx,
        cache_type_k=run.cache_type_k if run.cache_type_k != "f16" else None,
        cache_type_v=run.cache_type_v if run.cache_type_v != "f16" else None,
        flash_attn=None if run.flash_attn is FlashAttn.AUTO else run.flash_attn is FlashAttn.ON,
        n_gpu_layers=run.n_gpu_layers,
    )


def base_of(setup: Setup, profile: ModelProfile | None) -> FixBase:
    """The person's own command (when the setup came from one), the model file, and their settings."""
    return FixBase(
        setup.command, setup.model_path or (profile.path if profile is not None else None), current_of(setup)
    )


def only_changes(change: Change, setup: Setup) -> Change:
    """`change` without the settings the person already has."""
    run = setup.run
    return replace(
        change,
        n_ctx=None if change.n_ctx == run.n_ctx else change.n_ctx,
        cache_type_k=None if change.cache_type_k == run.cache_type_k else change.cache_type_k,
        cache_type_v=None if change.cache_type_v == run.cache_type_v else change.cache_type_v,
        flash_attn=None
        if change.flash_attn is None or FlashAttn.parse(change.flash_attn) is run.flash_attn
        else change.flash_attn,
        n_gpu_layers=None if change.n_gpu_layers == run.n_gpu_layers else change.n_gpu_layers,
        temperature=None
        if change.temperature is not None and change.temperature == setup.sampling.temperature
        else change.temperature,
        repeat_penalty=None
        if change.repeat_penalty is not None and change.repeat_penalty == setup.sampling.repeat_penalty
        else change.repeat_penalty,
    )


def settings_fix(setup: Setup, profile: ModelProfile | None, change: Change) -> list[FixStep]:
    """The steps that make `change` (less what is already so) in the person's engine."""
    return engines.of(setup).apply(only_changes(change, setup), base_of(setup, profile))
