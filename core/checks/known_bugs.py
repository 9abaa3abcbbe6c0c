"""known-engine-bugs: is a known defect of the person's engine version producing what they see?

Some "broken quants" are the engine's own bugs: a compiler that miscompiles three IQ types on one GPU
family, a default sampler setting that distorts JSON, an app that loads a smaller context than asked,
one architecture that breaks with a quantized K cache. None of these shows in the file; each is known,
with the version that fixed it. The list is data (resources/known_bugs.json, every entry with its
sources, read by core.settings.engine_defects), matched here against the engine's version (from the
running engine, its log, or typed), the GPU's compute capability, the file's tensor types, the
architecture, the cache types, the sampler and the context the engine really loaded.

What an entry needs that is not known is never read as "fine": with no engine version, an entry that
depends on the version is not checked, and the finding says how to give the version in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.checks.base import Check, CheckInput, Explains
from core.checks.engine_observations import sampling_from_setup
from core.checks.finding import NOT_CHECKED, Finding, FixStep
from core.engines import registry as engines
from core.errors import ResourceError
from core.hardware.machine import HardwareProfile
from core.model.profile import ModelProfile
from core.settings import engine_defects
from core.settings.engine_defects import SEVERITY_ORDER, KnownBug
from core.settings.observations import Observations
from core.settings.run import is_quantized_cache
from core.settings.setup import Setup
from core.settings.versions import parse

ID = "known-engine-bugs"
HOW_TO_GIVE_THE_VERSION = (
    "On the Setup page, use Connect to my app while your app runs the model (it reports its version), or "
    "Import a log… with the log your app printed when it loaded the model."
)

Match = Literal["holds", "fails", "unknown"]

WHY = (
    "Some faults that look like a broken quant are known bugs of one engine version: the file is fine, and "
    "an update or one setting fixes them. Each known defect is matched against your engine's version, your "
    "GPU, the file's tensor types and your settings."
)

# --- matching ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One entry against one diagnosis: does it apply, and what was seen."""

    bug: KnownBug
    result: Literal["found", "clear", "not-checked"]
    seen: tuple[str, ...]  # plain evidence lines: what matched
    missing: str = ""  # what is not known, for "not checked"
    confirmed: bool = False  # the running engine reported what the entry turns on


def _gpu(hardware: HardwareProfile | None, prefixes: list[str]) -> tuple[Match, str]:
    if hardware is None:
        return "unknown", "your GPU (this diagnosis has no machine profile)"
    gpus = [g for g in hardware.gpus if not g.lost]
    hit = next((g for g in gpus if g.compute_capability and g.compute_capability.startswith(tuple(prefixes))), None)
    if hit is not None:
        return "holds", f"GPU: {hit.name}, compute capability {hit.compute_capability}"
    if any(g.vendor == "nvidia" and not g.compute_capability for g in gpus):
        return "unknown", "your NVIDIA GPU's compute capability (the driver did not report it)"
    return "fails", ""


def _quant_types(profile: ModelProfile, types: list[str]) -> tuple[Match, str]:
    wanted = {t.upper() for t in types}
    hits = [t for t in profile.tensor_types if t.type.upper() in wanted and t.tensors > 0]
    if not hits:
        return "fails", ""
    return "holds", "the file holds " + ", ".join(f"{t.tensors} {t.type} tensor{'s' * (t.tensors != 1)}" for t in hits)


def _sampler(setup: Setup, obs: Observations, defaults: dict[str, Any]) -> tuple[Match, str, bool]:
    """The engine's old default applies unless a sampler the person or the engine reported says otherwise."""
    seen = obs.sampling or sampling_from_setup(setup)
    for name, default in defaults.items():
        value = getattr(seen, name, None) if seen is not None else None
        if value is None:
            return "holds", f"no {name.replace('_', ' ')} reported: the engine's default of {default} applies", False
        if float(value) != float(default):
            return "fails", "", False
        return (
            "holds",
            f"{seen.source if seen else 'your app'}: {name.replace('_', ' ')} {value}",
            bool(seen and seen.reported),
        )
    return "holds", "", False


def _loaded_context(setup: Setup, obs: Observations) -> tuple[Match, str]:
    asked = setup.run.n_ctx
    loaded = obs.live_ctx
    if not asked or loaded is None or not loaded.text.strip().isdigit():
        return "unknown", "the context your app really loaded against the one you asked for (use Connect to my app)"
    got = int(loaded.text)
    if got < asked:
        return "holds", f"you asked for {asked:,} tokens of context; {loaded.source} says {got:,}"
    return "fails", ""


def _conditions(bug: KnownBug, i: CheckInput, obs: Observations) -> tuple[Match, list[str], str, bool]:
    """(all hold / one fails / one unknown, the evidence lines, what is unknown, reported by the engine)."""
    seen: list[str] = []
    confirmed = False
    for key, want in bug.when.items():
        if key == "gpu_compute_capability":
            match, line = _gpu(i.hardware, list(want))
        elif key == "quant_types":
            match, line = _quant_types(i.profile, list(want))
        elif key == "architectures":
            arch = i.profile.architecture or ""
            match, line = ("holds", f"architecture {arch}") if arch in want else ("fails", "")
        elif key == "cache_type_k_quantized":
            k = i.setup.run.cache_type_k
            match, line = ("holds", f"K cache {k}") if is_quantized_cache(k) == bool(want) else ("fails", "")
        elif key == "sampler_default":
            match, line, confirmed = _sampler(i.setup, obs, dict(want))
        else:  # loaded_context_below_asked
            match, line = _loaded_context(i.setup, obs)
            confirmed = match == "holds"
        if match == "fails":
            return "fails", [], "", False
        if match == "unknown":
            return "unknown", seen, line, False
        seen.append(line)
    return "holds", seen, "", confirmed


def judge(bug: KnownBug, i: CheckInput, obs: Observations) -> Verdict:
    """One entry: found, clear (another engine, a fixed version, a condition that does not hold) or not checked."""
    if i.setup.engine not in bug.engines:
        return Verdict(bug, "clear", ())
    match, seen, unknown, confirmed = _conditions(bug, i, obs)
    if match == "fails":
        return Verdict(bug, "clear", ())
    raw, where = engine_defects.engine_version(i.setup, obs)
    version = parse(raw, bug.scheme)
    status = bug.versions.status(version)
    if status == "clear":
        return Verdict(bug, "clear", ())
    if status == "unknown":
        what = f"{raw[:40]!r} is not a version this list can place" if raw else "your engine's version"
        return Verdict(bug, "not-checked", tuple(seen), what)
    if status == "unsure":
        return Verdict(bug, "not-checked", tuple(seen), f"whether version {str(version)[:40]} already has the fix")
    if match == "unknown":
        return Verdict(bug, "not-checked", tuple(seen), unknown)
    lines = ([f"version {str(version)[:40]} ({where})"] if version is not None else []) + seen
    return Verdict(bug, "found", tuple(lines), confirmed=confirmed)


def _found_lines(v: Verdict, several: bool) -> list[str]:
    b = v.bug
    lines = [f"{b.title}: {b.words}"] if several else []  # one defect: its words are the finding's `why`
    if v.seen:
        lines.append("Seen here: " + "; ".join(v.seen) + ".")
    lines.append(f"Fixed by: {b.fixed_by}.")
    lines += [f"Source: {s}" for s in b.sources]
    return lines


def run(inputs: CheckInput) -> Finding:
    obs = inputs.observations or Observations()
    bugs = engine_defects.catalog().bugs
    verdicts = [judge(b, inputs, obs) for b in bugs]
    found = sorted((v for v in verdicts if v.result == "found"), key=lambda v: SEVERITY_ORDER[v.bug.severity])
    unchecked = [v for v in verdicts if v.result == "not-checked"]
    if found:
        top = found[0]
        evidence = [line for v in found for line in _found_lines(v, len(found) > 1)]
        evidence += [f"Not checked: {v.bug.title} (needs {v.missing})." for v in unchecked]
        confidence = "confirmed" if top.confirmed else top.bug.confidence
        more = len(found) - 1
        title = top.bug.title + (f" (and {more} more known defect{'s' * (more > 1)})" if more else "")
        return Finding(
            id=ID,
            severity=top.bug.severity,
            title=title,
            evidence=evidence,
            why=top.bug.words,
            fix=[FixStep(v.bug.fix) for v in found],
            confidence=confidence,
            details=[f"known defect {v.bug.id}; symptoms: {', '.join(v.bug.symptoms)}" for v in found],
        )
    if unchecked:
        needs = list(dict.fromkeys(v.missing for v in unchecked))
        version_missing = any(v.missing.startswith(("your engine's version", "'")) for v in unchecked)
        evidence = [f"{v.bug.title}: it could apply here ({'; '.join(v.seen) or 'your engine'}), "
                    f"but this needs {v.missing}." for v in unchecked]  # fmt: skip
        if version_missing:
            evidence.append(HOW_TO_GIVE_THE_VERSION)
        return Finding(
            id=ID,
            severity="ok",
            title="Not checked: known engine defects need your engine's version"
            if version_missing
            else f"Not checked: a known engine defect could apply ({len(needs)} thing{'s' * (len(needs) > 1)} to know)",
            evidence=evidence,
            why=WHY,
            status=NOT_CHECKED,
            details=[f"known defect {v.bug.id}: not checked" for v in unchecked],
        )
    version, _ = engine_defects.engine_version(inputs.setup, obs)
    return Finding(
        id=ID,
        severity="ok",
        title="No known engine defect matches your setup",
        evidence=[
            f"{len(bugs)} known defects checked against {engines.of(inputs.setup).name}"
            + (f" {version[:40]!r}" if version else "")
            + ", your GPU, the file's tensor types and your settings: none applies."
        ],
        why=WHY,
    )


def _explains() -> tuple[Explains, ...]:
    """Each defect's symptoms, with its source (resources/known_bugs.json); none when the resource is damaged
    (the check itself then says so)."""
    try:
        return tuple(Explains(*link) for link in engine_defects.symptom_links())
    except ResourceError:
        return ()


CHECK = Check(
    id=ID,
    order=8,
    run=run,
    needs=frozenset(("profile", "setup", "hardware", "observations")),
    explains=_explains(),
)
