"""calibration: were the quant's calibration data unlike the person's work?

GPTQ, AWQ, EXL2 and GGUF imatrix quants choose what to keep precise from a calibration set. Calibrated
on English prose (wikitext, c4, pileval), they serve code and other languages worse. GGUF K-quants
without an imatrix use no calibration at all, which makes them a safe choice for unusual workloads.
"""

from __future__ import annotations

import re

from core.checks.base import Check, CheckInput, Explains
from core.checks.finding import Finding, FixStep
from core.model.profile import ModelProfile

SENSITIVE_WORKLOADS = {"code": "code", "multilingual": "multilingual text"}
KLD_RATIO_CONFIRMS = 3.0  # KLD on code/multilingual text this many times prose's confirms a mismatch

# What a calibration set's name tells about its content.
_CODE = re.compile(r"code|github|stack|python|humaneval|program|evol", re.IGNORECASE)
_MULTI = re.compile(r"multiling|mc4|c4_multi|oscar|cultura|wiki\.(?!train|test|valid)\w\w\b|xnli|flores", re.IGNORECASE)
_MIXED = re.compile(r"calibration_data_?v3|groups_merged|mixed|diverse", re.IGNORECASE)


def _covers(dataset: str, workload: str) -> bool:
    if _MIXED.search(dataset):
        return True
    return bool((_CODE if workload == "code" else _MULTI).search(dataset))


def _calibration_source(profile: ModelProfile) -> tuple[str | None, str]:
    """(dataset name or None when not calibrated, how we know)."""
    q = profile.quantization
    if profile.format == "gptq" and q is not None:
        return (q.dataset or "c4 (GPTQ's usual default)"), "GPTQ quantization_config"
    if profile.format == "awq" and q is not None:
        return (q.dataset or "pileval (AWQ's default; the config records none)"), "AWQ quantization_config"
    if profile.format == "exl2" and q is not None:
        ds = q.dataset
        if not ds or ds.strip("()").lower() in ("default", ""):
            return "ExLlamaV2's built-in default calibration set (mostly English prose)", "EXL2 quantization_config"
        return ds, "EXL2 quantization_config"
    if profile.imatrix is not None:
        return (
            profile.imatrix.dataset or profile.imatrix.file or "an unnamed imatrix dataset"
        ), "GGUF imatrix metadata"
    return None, "a GGUF without an importance matrix"


def run(inputs: CheckInput) -> Finding:
    profile, setup, measurements = inputs.profile, inputs.setup, inputs.measurements
    dataset, source = _calibration_source(profile)
    evidence = [f"calibration: {dataset or 'none'} ({source})", f"your workload: {setup.workload}"]
    if profile.card and profile.card.datasets:
        evidence.append("model card datasets: " + ", ".join(profile.card.datasets))
    severity, title, fix = "ok", "Calibration is not a concern for this workload", []
    if dataset is None:
        title = "No calibration data involved (calibration-free GGUF quant)"
    elif setup.workload in SENSITIVE_WORKLOADS and not _covers(dataset, setup.workload):
        severity = "warning"
        title = f"Calibrated on {dataset.split(' (')[0]}, used for {SENSITIVE_WORKLOADS[setup.workload]}"
        fix = [
            FixStep(f"Use a quant calibrated on data with {SENSITIVE_WORKLOADS[setup.workload]} (look for the "
                    "calibration dataset on the model card), or"),
            FixStep("use a calibration-free GGUF K-quant (Q4_K_M or better, made without an imatrix)."),
        ]  # fmt: skip

    confidence = "likely" if severity == "warning" else "suspected"
    if measurements and measurements.quant and "general" in measurements.quant:
        prose = measurements.quant["general"].kld_mean
        for domain in ("code", "multilingual"):
            m = measurements.quant.get(domain)
            if m is None or prose <= 0:
                continue
            ratio = m.kld_mean / prose
            evidence.append(
                f"measured KLD on {domain} is {ratio:.1f}× that on general prose ({m.kld_mean:.4f} vs {prose:.4f})"
            )
            if ratio >= KLD_RATIO_CONFIRMS and dataset is not None:
                confidence = "confirmed-by-measurement"
                if severity == "ok":
                    severity = "warning"
                    title = f"Measured: this quant loses far more on {domain} than on prose"
    return Finding(
        id="calibration",
        severity=severity,
        title=title,
        evidence=evidence,
        why=_why(dataset, setup.workload, severity),
        fix=fix,
        confidence=confidence,
    )


def _why(dataset: str | None, workload: str, severity: str) -> str:
    """Why calibration matters for this quant and this workload."""
    if dataset is None:
        return (
            "This quant was made without calibration data, so it favours no kind of text: your "
            f"{workload} work gets the same precision as anything else."
        )
    name = dataset.split(" (")[0]
    if severity != "ok" and workload not in SENSITIVE_WORKLOADS:
        return (
            f"Measured: this quant loses far more on code or other languages than on prose. It spent its precision "
            f"on the weights that mattered for its calibration text ({name}); the others were rounded harder."
        )
    if severity != "ok":
        what = SENSITIVE_WORKLOADS[workload]
        return (
            f"This quant spent its precision on the weights that mattered for its calibration text ({name}). "
            f"You use it for {what}, which that text hardly contains: the weights {what} relies on were rounded "
            "harder, so quality drops exactly where you use the model."
        )
    return f"This quant was calibrated on {name}; for {workload} work that does not cost precision where you need it."


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains(
        "worse-than-original",
        "calibration data unlike your work (code, other languages)",
        "https://github.com/ggml-org/llama.cpp/discussions/5263",
    ),
    Explains(
        "nonsense",
        "calibration data in other languages than yours",
        "https://github.com/ggml-org/llama.cpp/discussions/5263",
    ),
)

CHECK = Check(
    id="calibration",
    order=40,
    run=run,
    needs=frozenset(("profile", "setup", "measurements")),
    hub_fixable=True,
    explains=EXPLAINS,
)
