"""When nothing reasonable fits: which GPU would, and what the CPU alone would do.

"Reasonable" follows the diagnosis' own floors: weights no smaller than Q4_K_M, a KV cache no
smaller than q8_0, the context the person asked for (never beyond the model's trained context: memory
for tokens the model cannot use is not worth buying), and every layer on the GPU. core.memory.plan
asks only when no other setting fits at a usable speed. If even that does not fit the machine, the
advice names

- the smallest catalog GPU that runs the model at Q5_K_M (the comfort zone) with a q8_0 cache at
  that context, looked for in the person's platform family first (catalog.Family: a desktop NVIDIA
  card for a desktop NVIDIA owner, not a Mac or a data-center module), then the smallest of each
  segment (desktop, data-center, unified memory) as "other kinds of machine";
- the smallest that runs it at Q8_0 (close to lossless), in the family first too;
- two smaller desktop cards of the owner's vendor, when they beat one bigger card;
- the CPU alone: the RAM it needs and the speed its memory bandwidth allows.

Every option carries its arithmetic as text, so a person can check it. The what-ifs at Q5_K_M and
Q8_0 are the model's shape requantized (core.memory.shape), built once per advice; the catalog
scan shares one compute-buffer replay for all cards, so each card costs one cheap estimate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

from core.hardware.catalog import CatalogGpu, Family, gpu_info, load_catalog, machine_family
from core.hardware.machine import HardwareProfile
from core.memory.arithmetic import card_arithmetic, cpu_arithmetic, gib
from core.memory.estimate import TIGHT_MARGIN_BYTES, MemoryEstimate, estimate, gpu_fits
from core.memory.options import COMFORT_QUANT, FLOOR_QUANT, MIN_COMFORTABLE_TOKENS_PER_S
from core.memory.parts import context
from core.memory.shape import QUANT_BPW, ModelShape
from core.memory.speed import decode_seconds_per_token, host_bandwidth
from core.settings.run import FlashAttn, RunSettings

LOSSLESS_QUANT = "Q8_0"
FLOOR_CACHE = "q8_0"
DESKTOP_CLASSES = ("consumer", "workstation")


@dataclass
class CardOption:
    card: str
    count: int
    gpu_class: str
    memory_gib: float
    quant: str
    needed_bytes: int  # on the fullest card
    usable_bytes: int  # per card
    tokens_per_s: float | None
    arithmetic: str
    vendor: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CpuOption:
    ram_needed_bytes: int
    ram_available_bytes: int | None
    fits: bool
    tokens_per_s: float
    arithmetic: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UpgradeAdvice:
    reason: str
    context: int  # the context the person uses, never beyond the model's trained context
    comfort: CardOption | None  # smallest card at Q5_K_M, q8_0 cache, in the person's family first
    comfort_by_class: dict[str, CardOption] = field(default_factory=dict)
    lossless: CardOption | None = None  # smallest card at Q8_0, in the person's family first
    two_gpus: CardOption | None = None
    two_gpus_why: str | None = None
    cpu_only: CpuOption | None = None
    among: str | None = None  # where comfort and lossless were found: "desktop NVIDIA", "desktop", or anywhere

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "context": self.context,
            "among": self.among,
            "q5_k_m": self.comfort.to_dict() if self.comfort else None,
            "q5_k_m_by_class": {k: v.to_dict() for k, v in self.comfort_by_class.items()},
            "q8_0": self.lossless.to_dict() if self.lossless else None,
            "two_gpus": self.two_gpus.to_dict() if self.two_gpus else None,
            "two_gpus_why": self.two_gpus_why,
            "cpu_only": self.cpu_only.to_dict() if self.cpu_only else None,
        }

    def lines(self) -> list[str]:
        """The advice as lines; a line indented by two spaces is the arithmetic of the line above it."""
        out = [self.reason]
        among = f" among {self.among} cards" if self.among else ""
        if self.comfort:
            out.append(
                f"Smallest GPU for Q5_K_M with a q8_0 cache at {self.context} tokens{among}: {self.comfort.card}."
            )
            out.append("  " + self.comfort.arithmetic)
        else:
            out.append("No single card in the catalog holds it at Q5_K_M.")
        if self.lossless:
            out.append(f"Smallest GPU for Q8_0{among}: {self.lossless.card}.")
            out.append("  " + self.lossless.arithmetic)
        if self.two_gpus:
            out.append(f"Two cards: 2 x {self.two_gpus.card}. {self.two_gpus_why}")
            out.append("  " + self.two_gpus.arithmetic)
        others = [
            f"{cls}: {opt.card} ({opt.memory_gib:g} GiB)"
            for cls, opt in self.comfort_by_class.items()
            if self.comfort is None or opt.card != self.comfort.card
        ]
        if others:
            out.append("Other kinds of machine that hold it at Q5_K_M: " + "; ".join(others) + ".")
        if self.cpu_only:
            fits = "fits" if self.cpu_only.fits else "does not fit"
            out.append(f"CPU only: needs {gib(self.cpu_only.ram_needed_bytes)} of RAM ({fits}).")
            out.append("  " + self.cpu_only.arithmetic)
        return out


@lru_cache(maxsize=1)
def _cards_by_size() -> tuple[CatalogGpu, ...]:
    return tuple(sorted(load_catalog(), key=lambda c: (c.usable_bytes, -c.bandwidth_gbps)))


def _machine(card: CatalogGpu, count: int, base: HardwareProfile) -> HardwareProfile:
    return HardwareProfile(gpus=[gpu_info(card, i) for i in range(count)], ram=base.ram, cpu=base.cpu, source="catalog")


def _option(
    card: CatalogGpu, count: int, quant: str, shape: ModelShape, setup: RunSettings, est: MemoryEstimate
) -> CardOption:
    fullest = max(est.gpus, key=lambda d: d.total_bytes)
    seconds = decode_seconds_per_token(shape, est, card.bandwidth_gbps)
    speed = 1 / seconds if seconds > 0 else 0.0
    return CardOption(
        card=card.name,
        count=count,
        gpu_class=card.gpu_class,
        memory_gib=card.memory_gib,
        quant=quant,
        needed_bytes=fullest.total_bytes,
        usable_bytes=card.usable_bytes,
        tokens_per_s=round(speed, 1) if seconds > 0 else None,
        arithmetic=card_arithmetic(card, count, quant, shape, setup, est, speed),
        vendor=card.vendor,
    )


def _smallest(
    shape: ModelShape, quant: str, setup: RunSettings, base: HardwareProfile, classes: tuple[str, ...] | None = None,
    count: int = 1, vendor: str | None = None,
) -> CardOption | None:  # fmt: skip
    for card in _cards_by_size():
        if classes is not None and card.gpu_class not in classes:
            continue
        if vendor is not None and card.vendor != vendor:
            continue
        if count > 1 and card.gpu_class not in DESKTOP_CLASSES:
            continue  # pairs of data-center cards or Macs are not a purchase people make
        est = estimate(shape, setup, _machine(card, count, base))
        # a recommendation needs headroom: a card filled to the last MiB fails on the next driver update
        if gpu_fits(est) and all((d.margin_bytes or 0) >= TIGHT_MARGIN_BYTES for d in est.gpus):
            return _option(card, count, quant, shape, setup, est)
    return None


def _floor_setup(setup: RunSettings) -> RunSettings:
    return replace(
        setup, cache_type_k=FLOOR_CACHE, cache_type_v=FLOOR_CACHE, flash_attn=FlashAttn.ON, n_gpu_layers=None
    )


def upgrade_context(shape: ModelShape, setup: RunSettings) -> int:
    """The context an upgrade is sized for: the one the person uses, never beyond what the model was trained
    for (a card bought for 65,536 tokens of an 8,192-token model pays for memory the model cannot use)."""
    ctx = context(setup)
    return min(ctx, shape.n_ctx_train) if shape.n_ctx_train else ctx


def floor_fits(shape: ModelShape, setup: RunSettings, hardware: HardwareProfile) -> bool:
    """Does the least a person should accept (Q4_K_M, q8_0 cache, this context, all on GPU) fit?"""
    if not hardware.usable_gpus:
        return False
    floor = shape.requantized(FLOOR_QUANT) if shape.bpw > QUANT_BPW[FLOOR_QUANT] else shape
    return estimate(floor, _floor_setup(replace(setup, n_ctx=upgrade_context(shape, setup))), hardware).fits


SEGMENT_CLASSES = {"desktop": DESKTOP_CLASSES, "data-center": ("datacenter",), "unified-memory": ("unified",)}


def _searches(family: Family | None) -> list[tuple[str | None, str | None, str | None]]:
    """Where to look, nearest first: (words, segment, vendor). The person's own family (a desktop NVIDIA card
    for a desktop NVIDIA owner), then its segment from any vendor, then anything; desktop cards for a machine
    without a GPU."""
    if family is None:
        return [("desktop", "desktop", None), (None, None, None)]
    if family.segment not in SEGMENT_CLASSES:
        return [(None, None, None)]
    return [(family.words, family.segment, family.vendor), (family.segment, family.segment, None), (None, None, None)]


def _nearest(
    shape: ModelShape, quant: str, setup: RunSettings, hardware: HardwareProfile, family: Family | None,
    by_segment: dict[str, CardOption] | None = None,
) -> tuple[CardOption | None, str | None]:  # fmt: skip
    """The smallest card in the nearest place that has one. `by_segment` (the smallest of each segment, at the
    same quant and setup, already found) saves a catalog scan: a segment with no card has none of a vendor's,
    and the segment's smallest is the vendor's smallest when it is that vendor's."""
    for words, segment, vendor in _searches(family):
        if by_segment is not None and segment is None:  # anywhere: the smallest of the segments' smallest
            best = min(by_segment.values(), key=lambda o: (o.usable_bytes, -(o.tokens_per_s or 0)), default=None)
            return best, (words if best is not None else None)
        if by_segment is not None and segment is not None:
            known = by_segment.get(segment)
            if known is None:
                continue
            if vendor is None or known.vendor == vendor:
                return known, words
        classes = SEGMENT_CLASSES[segment] if segment is not None else None
        opt = _smallest(shape, quant, setup, hardware, classes, vendor=vendor)
        if opt is not None:
            return opt, words
    return None, None


def advise(shape: ModelShape, setup: RunSettings, hardware: HardwareProfile) -> UpgradeAdvice | None:
    """Upgrade advice, or None when a reasonable setup already fits this machine. Sized at the person's
    context (at most the trained one), in the person's platform family first."""
    if floor_fits(shape, setup, hardware):
        return None
    ctx = upgrade_context(shape, setup)
    setup = replace(setup, n_ctx=ctx)
    cpu = _cpu_option(shape, setup, hardware)
    if not hardware.usable_gpus and cpu.fits and cpu.tokens_per_s >= MIN_COMFORTABLE_TOKENS_PER_S:
        return None  # no GPU, but the CPU runs it fast enough: no purchase to suggest
    if hardware.usable_gpus:
        names = ", ".join(sorted({g.name for g in hardware.usable_gpus}))
        reason = (
            f"Even at {FLOOR_QUANT} with a {FLOOR_CACHE} KV cache and every layer on the GPU, {shape.name} "
            f"does not fit {names} at {ctx} tokens."
        )
    elif not cpu.fits:
        reason = f"This machine has no usable GPU, and {shape.name} needs more RAM than it has free."
    else:
        reason = (
            f"This machine has no usable GPU, and on its CPU {shape.name} would run at about "
            f"{cpu.tokens_per_s:g} tokens/s at most."
        )
    family = machine_family(hardware)
    target = _floor_setup(setup)
    comfort_shape = shape.requantized(COMFORT_QUANT)
    advice = UpgradeAdvice(reason=reason, context=ctx, comfort=None)
    segments = list(SEGMENT_CLASSES)
    if family is not None and family.segment in segments:  # the person's own segment first
        segments.remove(family.segment)
        segments.insert(0, family.segment)
    by_class: dict[str, CardOption] = {}
    for segment in segments:
        opt = _smallest(comfort_shape, COMFORT_QUANT, target, hardware, SEGMENT_CLASSES[segment])
        if opt is not None:
            by_class[segment] = opt
    advice.comfort_by_class = by_class
    advice.comfort, advice.among = _nearest(comfort_shape, COMFORT_QUANT, target, hardware, family, by_class)
    lossless, _ = _nearest(shape.requantized(LOSSLESS_QUANT), LOSSLESS_QUANT, target, hardware, family)
    advice.lossless = lossless
    if family is None or family.segment == "desktop":  # pairs of data-center cards or Macs are not a purchase
        vendor = family.vendor if family is not None else None
        pair = _smallest(comfort_shape, COMFORT_QUANT, target, hardware, DESKTOP_CLASSES, count=2, vendor=vendor)
        single = advice.comfort if advice.comfort and advice.comfort.gpu_class in DESKTOP_CLASSES else None
        single = single or by_class.get("desktop")
        if pair is not None and (single is None or pair.memory_gib < single.memory_gib):
            if single is None:
                why = "No single desktop card holds it; two of these do, with the layers split between them."
                advice.two_gpus, advice.two_gpus_why = pair, why
            elif (pair.tokens_per_s or 0) >= (single.tokens_per_s or 0):
                why = (
                    f"Two {pair.memory_gib:g} GiB cards hold it where one card needs {single.memory_gib:g} GiB "
                    f"({single.card}), and decode at least as fast ({pair.tokens_per_s:g} vs "
                    f"{single.tokens_per_s:g} tokens/s)."
                )
                advice.two_gpus, advice.two_gpus_why = pair, why
    advice.cpu_only = cpu
    return advice


def _cpu_option(shape: ModelShape, setup: RunSettings, hardware: HardwareProfile) -> CpuOption:
    machine = HardwareProfile(ram=hardware.ram, cpu=hardware.cpu)
    est = estimate(shape, replace(setup, n_gpu_layers=0), machine)
    gbps = host_bandwidth(hardware)
    seconds = decode_seconds_per_token(shape, est, gbps)
    speed = 1 / seconds if seconds > 0 else 0.0
    return CpuOption(
        ram_needed_bytes=est.host.total_bytes,
        ram_available_bytes=hardware.ram.available_bytes,
        fits=est.host.fits,
        tokens_per_s=round(speed, 1),
        arithmetic=cpu_arithmetic(shape, est, gbps, speed, hardware),
    )
