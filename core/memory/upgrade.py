"""When nothing reasonable fits: which GPU would, and what the CPU alone would do.

"Reasonable" follows the diagnosis' own floors: weights no smaller than Q4_K_M, a KV cache no
smaller than q8_0, the context the person asked for, and every layer on the GPU. If even that does
not fit the machine, the advice names

- the smallest catalog GPU that runs the model at Q5_K_M (the comfort zone) with a q8_0 cache at
  that context, and the smallest of each class (desktop, data-center, unified memory);
- the smallest that runs it at Q8_0 (close to lossless);
- two smaller desktop cards, when they beat one bigger card;
- the CPU alone: the RAM it needs and the speed its memory bandwidth allows.

Every option carries its arithmetic as text, so a person can check it.

Weights at another quantization are the file's tensors re-sized to that type's average bits per
weight, from the sizes llama.cpp's quantize tool lists for Llama-3-8B (tools/quantize/quantize.cpp:
Q4_K_M 4.58 GiB, Q5_K_M 5.33 GiB, Q6_K 6.14 GiB, Q8_0 7.96 GiB for 8.03 B parameters); norms and
biases keep their size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core.hardware.catalog import CatalogGpu, gpu_info, load_catalog
from core.hardware.machine import GIB, HardwareProfile
from core.memory.estimate import (
    RUNTIME_OVERHEAD_BYTES,
    TIGHT_MARGIN_BYTES,
    Alternative,
    FitReport,
    MemoryEstimate,
    ModelShape,
    context,
    decode_seconds_per_token,
    estimate,
    gib,
    gpu_fits,
    host_bandwidth,
    kv_arithmetic,
    model_shape,
    plan,
    read_swa_pattern,
)
from core.model.profile import ModelProfile
from core.settings.run import FlashAttn, RunSettings

_LLAMA3_8B_PARAMS = 8.03e9
QUANT_BPW = {  # average bits per weight, from quantize.cpp's Llama-3-8B sizes
    "Q4_K_M": 4.58 * GIB * 8 / _LLAMA3_8B_PARAMS,
    "Q5_K_M": 5.33 * GIB * 8 / _LLAMA3_8B_PARAMS,
    "Q6_K": 6.14 * GIB * 8 / _LLAMA3_8B_PARAMS,
    "Q8_0": 7.96 * GIB * 8 / _LLAMA3_8B_PARAMS,
}
FLOOR_QUANT = "Q4_K_M"
COMFORT_QUANT = "Q5_K_M"
LOSSLESS_QUANT = "Q8_0"
FLOOR_CACHE = "q8_0"
DESKTOP_CLASSES = ("consumer", "workstation")
# Below this decode speed a chat feels broken; a CPU-only machine slower than this gets GPU advice.
MIN_COMFORTABLE_TOKENS_PER_S = 10.0


def requantized(profile: ModelProfile, quant: str) -> ModelProfile:
    """The same model with its weight matrices at `quant`'s average size."""
    bpw = QUANT_BPW[quant]
    tensors = [
        t
        if t.role == "norms" or t.name.endswith(".bias") or t.parameters < 65536
        else replace(t, bytes=int(t.parameters * bpw / 8), type=quant)
        for t in profile.tensors
    ]
    return replace(profile, tensors=tensors, nominal_type=quant, effective_bpw=bpw)


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
    context: int
    comfort: CardOption | None  # smallest card at Q5_K_M, q8_0 cache
    comfort_by_class: dict[str, CardOption] = field(default_factory=dict)
    lossless: CardOption | None = None  # smallest card at Q8_0
    two_gpus: CardOption | None = None
    two_gpus_why: str | None = None
    cpu_only: CpuOption | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "context": self.context,
            "q5_k_m": self.comfort.to_dict() if self.comfort else None,
            "q5_k_m_by_class": {k: v.to_dict() for k, v in self.comfort_by_class.items()},
            "q8_0": self.lossless.to_dict() if self.lossless else None,
            "two_gpus": self.two_gpus.to_dict() if self.two_gpus else None,
            "two_gpus_why": self.two_gpus_why,
            "cpu_only": self.cpu_only.to_dict() if self.cpu_only else None,
        }

    def lines(self) -> list[str]:
        out = [self.reason]
        if self.comfort:
            out.append(f"Smallest GPU for Q5_K_M with a q8_0 cache at {self.context} tokens: {self.comfort.card}.")
            out.append("  " + self.comfort.arithmetic)
        for cls, opt in self.comfort_by_class.items():
            if self.comfort is None or opt.card != self.comfort.card:
                out.append(f"  Smallest {cls} card: {opt.card} ({opt.memory_gib:g} GiB).")
        if self.comfort is None:
            out.append("No single card in the catalog holds it at Q5_K_M.")
        if self.lossless:
            out.append(f"Smallest GPU for Q8_0: {self.lossless.card}.")
            out.append("  " + self.lossless.arithmetic)
        if self.two_gpus:
            out.append(f"Two cards: 2 x {self.two_gpus.card}. {self.two_gpus_why}")
            out.append("  " + self.two_gpus.arithmetic)
        if self.cpu_only:
            fits = "fits" if self.cpu_only.fits else "does not fit"
            out.append(f"CPU only: needs {gib(self.cpu_only.ram_needed_bytes)} of RAM ({fits}).")
            out.append("  " + self.cpu_only.arithmetic)
        return out


def _machine(card: CatalogGpu, count: int, base: HardwareProfile) -> HardwareProfile:
    return HardwareProfile(gpus=[gpu_info(card, i) for i in range(count)], ram=base.ram, cpu=base.cpu, source="catalog")


def _option(
    card: CatalogGpu, count: int, quant: str, shape: ModelShape, setup: RunSettings, est: MemoryEstimate
) -> CardOption:
    fullest = max(est.gpus, key=lambda d: d.total_bytes)
    seconds = decode_seconds_per_token(shape, est, card.bandwidth_gbps)
    per = f"{count} x " if count > 1 else ""
    weights = sum(d.weights_bytes for d in est.gpus)
    kv = sum(d.kv_bytes for d in est.gpus)
    compute = sum(d.compute_bytes for d in est.gpus)
    overhead = sum(d.overhead_bytes for d in est.gpus)
    arithmetic = (
        f"GPU weights {gib(weights)} ({quant}, {QUANT_BPW[quant]:.2f} bits x {shape.parameters / 1e9:.2f} B "
        f"parameters, token embeddings stay in RAM) + {kv_arithmetic(shape, setup)} + compute {gib(compute)} + "
        f"{card.backend.upper()} runtime {gib(overhead)} = {gib(weights + kv + compute + overhead)}"
        + (f", {gib(fullest.total_bytes)} on the fullest card" if count > 1 else "")
        + f"; {per}{card.name} has {gib(card.usable_bytes)} usable ({card.memory_gib:g} GiB nominal)"
        + f"; at {card.bandwidth_gbps:g} GB/s: about {1 / seconds:.0f} tokens/s at most."
    )
    return CardOption(
        card=card.name,
        count=count,
        gpu_class=card.gpu_class,
        memory_gib=card.memory_gib,
        quant=quant,
        needed_bytes=fullest.total_bytes,
        usable_bytes=card.usable_bytes,
        tokens_per_s=round(1 / seconds, 1),
        arithmetic=arithmetic,
    )


def _smallest(
    shape: ModelShape, quant: str, setup: RunSettings, base: HardwareProfile, classes: tuple[str, ...] | None = None,
    count: int = 1,
) -> CardOption | None:  # fmt: skip
    cards = sorted(load_catalog(), key=lambda c: (c.usable_bytes, -c.bandwidth_gbps))
    for card in cards:
        if classes is not None and card.gpu_class not in classes:
            continue
        if count > 1 and card.gpu_class not in DESKTOP_CLASSES:
            continue  # pairs of data-center cards or Macs are not a purchase people make
        est = estimate(shape, setup, _machine(card, count, base))
        # a recommendation needs headroom: a card filled to the last MiB fails on the next driver update
        if gpu_fits(est) and all((d.margin_bytes or 0) >= TIGHT_MARGIN_BYTES for d in est.gpus):
            return _option(card, count, quant, shape, setup, est)
    return None


def floor_fits(profile: ModelProfile, setup: RunSettings, hardware: HardwareProfile) -> bool:
    """Does the least a person should accept (Q4_K_M, q8_0 cache, this context, all on GPU) fit?"""
    if not hardware.usable_gpus:
        return False
    floor = model_shape(requantized(profile, FLOOR_QUANT)) if profile.effective_bpw > QUANT_BPW[FLOOR_QUANT] else None
    shape = floor or model_shape(profile)
    cheapest = replace(
        setup, cache_type_k=FLOOR_CACHE, cache_type_v=FLOOR_CACHE, flash_attn=FlashAttn.ON, n_gpu_layers=None
    )
    return estimate(shape, cheapest, hardware).fits


def advise(profile: ModelProfile, setup: RunSettings, hardware: HardwareProfile) -> UpgradeAdvice | None:
    """Upgrade advice, or None when a reasonable setup already fits this machine."""
    if floor_fits(profile, setup, hardware):
        return None
    cpu = _cpu_option(profile, setup, hardware)
    if not hardware.usable_gpus and cpu.fits and cpu.tokens_per_s >= MIN_COMFORTABLE_TOKENS_PER_S:
        return None  # no GPU, but the CPU runs it fast enough: no purchase to suggest
    if hardware.usable_gpus:
        names = ", ".join(sorted({g.name for g in hardware.usable_gpus}))
        reason = (
            f"Even at {FLOOR_QUANT} with a {FLOOR_CACHE} KV cache and every layer on the GPU, {profile.display_name} "
            f"does not fit {names} at {setup.n_ctx} tokens."
        )
    elif not cpu.fits:
        reason = f"This machine has no usable GPU, and {profile.display_name} needs more RAM than it has free."
    else:
        reason = (
            f"This machine has no usable GPU, and on its CPU {profile.display_name} would run at about "
            f"{cpu.tokens_per_s:g} tokens/s at most."
        )
    target = replace(
        setup, cache_type_k=FLOOR_CACHE, cache_type_v=FLOOR_CACHE, flash_attn=FlashAttn.ON, n_gpu_layers=None
    )
    comfort_shape = model_shape(requantized(profile, COMFORT_QUANT))
    advice = UpgradeAdvice(reason=reason, context=context(setup), comfort=None)
    by_class: dict[str, CardOption] = {}
    for cls, classes in (
        ("desktop", DESKTOP_CLASSES),
        ("data-center", ("datacenter",)),
        ("unified-memory", ("unified",)),
    ):
        opt = _smallest(comfort_shape, COMFORT_QUANT, target, hardware, classes)
        if opt is not None:
            by_class[cls] = opt
    advice.comfort_by_class = by_class
    advice.comfort = min(by_class.values(), key=lambda o: (o.usable_bytes, -(o.tokens_per_s or 0)), default=None)
    advice.lossless = _smallest(model_shape(requantized(profile, LOSSLESS_QUANT)), LOSSLESS_QUANT, target, hardware)
    pair = _smallest(comfort_shape, COMFORT_QUANT, target, hardware, DESKTOP_CLASSES, count=2)
    single = by_class.get("desktop")
    if pair is not None and (single is None or pair.memory_gib < single.memory_gib):
        if single is None:
            why = "No single desktop card holds it; two of these do, with the layers split between them."
            advice.two_gpus, advice.two_gpus_why = pair, why
        elif (pair.tokens_per_s or 0) >= (single.tokens_per_s or 0):
            why = (
                f"Two {pair.memory_gib:g} GiB cards hold it where one card needs {single.memory_gib:g} GiB "
                f"({single.card}), and decode at least as fast ({pair.tokens_per_s:g} vs {single.tokens_per_s:g} "
                "tokens/s)."
            )
            advice.two_gpus, advice.two_gpus_why = pair, why
    advice.cpu_only = cpu
    return advice


def _cpu_option(profile: ModelProfile, setup: RunSettings, hardware: HardwareProfile) -> CpuOption:
    shape = model_shape(profile)
    machine = HardwareProfile(ram=hardware.ram, cpu=hardware.cpu)
    est = estimate(shape, replace(setup, n_gpu_layers=0), machine)
    gbps = host_bandwidth(hardware)
    seconds = decode_seconds_per_token(shape, est, gbps)
    host = est.host
    arithmetic = (
        f"RAM: weights {gib(host.weights_bytes)} + KV {gib(host.kv_bytes)} + compute {gib(host.compute_bytes)} + "
        f"runtime {gib(host.overhead_bytes)} = {gib(host.total_bytes)}; each token reads "
        f"{shape.active_bytes_per_token / 1e9:.2f} GB of weights at about {gbps:g} GB/s -> at most "
        f"{1 / seconds:.1f} tokens/s"
        + ("" if hardware.cpu.avx2 is not False else " (and much less: this CPU has no AVX2)")
        + "."
    )
    return CpuOption(
        ram_needed_bytes=host.total_bytes,
        ram_available_bytes=hardware.ram.available_bytes,
        fits=host.fits,
        tokens_per_s=round(1 / seconds, 1),
        arithmetic=arithmetic,
    )


def quant_alternatives(profile: ModelProfile, setup: RunSettings, hardware: HardwareProfile) -> list[Alternative]:
    """A smaller file of the same model, for files above Q5_K_M / Q4_K_M that do not fit."""
    out = []
    for quant in (COMFORT_QUANT, FLOOR_QUANT):
        if profile.nominal_type == quant or profile.effective_bpw <= QUANT_BPW[quant] + 0.25:
            continue  # already that size, or too close to it to be worth a download
        shape = model_shape(requantized(profile, quant))
        est = estimate(shape, setup, hardware)
        seconds = decode_seconds_per_token(shape, est, host_bandwidth(hardware))
        out.append(
            Alternative(
                label=f"a {quant} file of this model",
                settings={"quant": quant, "ctx": setup.n_ctx, "n_gpu_layers": est.setup.n_gpu_layers},
                fits=est.fits,
                gpu_bytes=max((d.total_bytes for d in est.gpus), default=0),
                host_bytes=est.host.total_bytes,
                tokens_per_s=round(1 / seconds, 1),
                arithmetic=(
                    f"weights {QUANT_BPW[quant]:.2f} bits x {profile.parameters / 1e9:.2f} B parameters = "
                    f"{gib(shape.weights_bytes)} instead of {gib(model_shape(profile).weights_bytes)}"
                ),
            )
        )
    return out


__all__ = ["QUANT_BPW", "RUNTIME_OVERHEAD_BYTES", "UpgradeAdvice", "advise", "quant_alternatives", "requantized"]


def plan_with_advice(profile: ModelProfile, setup: RunSettings, hardware: HardwareProfile) -> FitReport:
    """The whole answer `fit` and the vram check give: the estimate, what else fits (settings and
    smaller quants) when it does not, and the upgrade when nothing reasonable does."""
    report = plan(model_shape(profile, read_swa_pattern(profile)), setup, hardware)
    if not report.fits:
        report.alternatives.extend(quant_alternatives(profile, report.estimate.setup, hardware))
    report.upgrade = advise(profile, report.estimate.setup, hardware)
    return report
