"""Every check, in one list: what `diagnose()` runs and ranks, and what the window offers to fix.

Adding a check is one module ending in `CHECK = Check(...)` and one entry here; docs/ARCHITECTURE.md
walks through it. The diagnostic order is each check's `order`, not its place in this list.
"""

from __future__ import annotations

from core.checks import (
    architecture,
    calibration,
    chat_template,
    context_truncation,
    finetune,
    known_bugs,
    kv_cache,
    offload,
    quant_tier,
    rope,
    sampling,
    tokenizer,
    vram,
)
from core.checks.base import Check

CHECKS: dict[str, Check] = {
    c.id: c
    for c in (
        quant_tier.CHECK,
        kv_cache.CHECK,
        architecture.CHECK,
        calibration.CHECK,
        finetune.CHECK,
        vram.CHECK,
        context_truncation.CHECK,
        chat_template.CHECK,
        tokenizer.CHECK,
        sampling.CHECK,
        rope.CHECK,
        offload.CHECK,
        known_bugs.CHECK,
    )
}


def ordered() -> list[Check]:
    """The checks in the diagnostic order (most likely cause first)."""
    return sorted(CHECKS.values(), key=lambda c: c.order)


def get(check_id: str) -> Check:
    return CHECKS[check_id]


def order_of(check_id: str) -> int:
    return CHECKS[check_id].order


def hub_fixable() -> frozenset[str]:
    """The ids of the checks whose findings a better quant from the Hub fixes."""
    return frozenset(c.id for c in CHECKS.values() if c.hub_fixable)


def register(check: Check) -> Check:
    """Add a check at run time (a plug-in, a test); its id and its order must be new."""
    if check.id in CHECKS:
        raise ValueError(f"check id {check.id!r} is already registered")
    if any(c.order == check.order for c in CHECKS.values()):
        raise ValueError(f"check {check.id!r}: order {check.order} is taken; pick a free place in the order")
    CHECKS[check.id] = check
    return check
