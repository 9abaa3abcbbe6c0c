"""Known engine defects, as data (resources/known_bugs.json): which engine versions have them, what turns
them on, what a person sees, what fixes them, and where each is documented.

Some "broken quants" are the engine's own bugs, known and fixed in a later version. The list lives in a
resource so that an entry is added without code; every entry names its sources. The check that matches
it against a diagnosis is core.checks.known_bugs; the kv-cache check reads `kv_rotation` (llama.cpp
rotates a quantized KV cache since PR #21038, so an older build loses more at the same cache type).
A missing or damaged resource is a ResourceError with a plain message, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from core import jsonfile
from core.errors import ResourceError
from core.paths import resources_dir
from core.settings.observations import Observations
from core.settings.setup import Setup
from core.settings.symptoms import NOT_SURE, symptom_ids
from core.settings.versions import SCHEMES, Scheme, Version, build_in_command, parse, parse_exact

RESOURCE = "known_bugs.json"
MAX_RESOURCE_BYTES = 1024 * 1024
SYMPTOMS = tuple(s for s in symptom_ids() if s != NOT_SURE)  # the symptoms a defect can produce
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
CONDITIONS = (
    "gpu_compute_capability",
    "quant_types",
    "architectures",
    "cache_type_k_quantized",
    "sampler_default",
    "loaded_context_below_asked",
)


@dataclass(frozen=True)
class Versions:
    """Which versions have the defect (see the resource's `about`)."""

    first: Version | None  # the first version known to have it; None: every earlier one
    through: Version | None  # the last known to have it, when the first fixed one is not known exactly
    fixed_in: Version | None  # the first version known to be fixed; None: not fixed

    @property
    def any_version(self) -> bool:
        return self.first is None and self.through is None and self.fixed_in is None

    def status(self, v: Version | None) -> Literal["affected", "clear", "unsure", "unknown"]:
        """Whether version `v` has the defect; "unknown" when `v` could not be read."""
        if self.any_version:
            return "affected"
        if v is None:
            return "unknown"
        if self.first is not None and v.key < self.first.key:
            return "clear"
        if self.fixed_in is not None and v.key >= self.fixed_in.key:
            return "clear"
        if self.through is not None and v.key > self.through.key:
            return "unsure"
        return "affected"


@dataclass(frozen=True)
class KnownBug:
    id: str
    engines: tuple[str, ...]
    scheme: Scheme
    versions: Versions
    fixed_by: str
    when: dict[str, Any]
    symptoms: tuple[str, ...]
    severity: str
    confidence: str
    title: str
    words: str
    fix: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Rotation:
    """llama.cpp's rotation of a quantized KV cache, by build (the kv-cache check weighs it)."""

    engines: tuple[str, ...]
    scheme: Scheme
    last_without: Version
    first_with: Version
    log_mark: str
    off_switch: str
    sources: tuple[str, ...]

    def applies(self, engine: str, version: str | None) -> bool | None:
        """True: this build rotates a quantized cache; False: it does not; None: not known (no version,
        a build between the two known ones, or an engine the fact is not about)."""
        if engine not in self.engines:
            return None
        v = parse(version, self.scheme)
        if v is None:
            return None
        if v.key >= self.first_with.key:
            return True
        if v.key <= self.last_without.key:
            return False
        return None


@dataclass(frozen=True)
class Catalog:
    bugs: tuple[KnownBug, ...]
    rotation: Rotation


# --- the resource --------------------------------------------------------------------------------------------


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: '{key}' should be text")
    return value


def _texts(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}: '{key}' should be a list of text")
    return tuple(value)


def _scheme(entry: dict[str, Any], where: str) -> Scheme:
    scheme = entry.get("scheme")
    for known in SCHEMES:
        if scheme == known:
            return known
    raise ValueError(f"{where}: 'scheme' should be one of {', '.join(SCHEMES)}")


def _version(value: object, scheme: Scheme, where: str) -> Version | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: a version should be text or null")
    return parse_exact(value, scheme)


def _bug(entry: object, n: int) -> KnownBug:
    if not isinstance(entry, dict):
        raise ValueError(f"entry {n} should be an object")
    where = f"entry {entry.get('id', n)!s:.60}"
    scheme = _scheme(entry, where)
    versions = entry.get("versions")
    if not isinstance(versions, dict) or set(versions) != {"from", "through", "fixed_in"}:
        raise ValueError(f"{where}: 'versions' should hold from, through and fixed_in")
    when = entry.get("when", {})
    if not isinstance(when, dict) or not set(when) <= set(CONDITIONS):
        raise ValueError(f"{where}: 'when' holds a condition this version does not know")
    symptoms = _texts(entry, "symptoms", where)
    if not set(symptoms) <= set(SYMPTOMS):
        raise ValueError(f"{where}: unknown symptom in {list(symptoms)}")
    severity, confidence = entry.get("severity"), entry.get("confidence")
    if severity not in SEVERITY_ORDER or confidence not in ("suspected", "likely", "confirmed"):
        raise ValueError(f"{where}: severity or confidence is not one this app knows")
    sources = _texts(entry, "sources", where)
    if not all(s.startswith("https://") for s in sources):
        raise ValueError(f"{where}: every source should be an https address")
    return KnownBug(
        id=_text(entry, "id", where),
        engines=_texts(entry, "engines", where),
        scheme=scheme,
        versions=Versions(
            _version(versions["from"], scheme, where),
            _version(versions["through"], scheme, where),
            _version(versions["fixed_in"], scheme, where),
        ),
        fixed_by=_text(entry, "fixed_by", where),
        when=dict(when),
        symptoms=symptoms,
        severity=str(severity),
        confidence=str(confidence),
        title=_text(entry, "title", where),
        words=_text(entry, "words", where),
        fix=_text(entry, "fix", where),
        sources=sources,
    )


def _rotation(data: object) -> Rotation:
    if not isinstance(data, dict):
        raise ValueError("'kv_rotation' should be an object")
    scheme = _scheme(data, "kv_rotation")
    last, first = (
        _version(data.get("last_without"), scheme, "kv_rotation"),
        _version(data.get("first_with"), scheme, "kv_rotation"),
    )
    if last is None or first is None or last.key >= first.key:
        raise ValueError("kv_rotation: last_without should be an earlier version than first_with")
    return Rotation(
        engines=_texts(data, "engines", "kv_rotation"),
        scheme=scheme,
        last_without=last,
        first_with=first,
        log_mark=_text(data, "log_mark", "kv_rotation"),
        off_switch=_text(data, "off_switch", "kv_rotation"),
        sources=_texts(data, "sources", "kv_rotation"),
    )


def load(path: str | Path | None = None) -> Catalog:
    """The known defects; a missing or damaged resource is a ResourceError with a plain message."""
    p = Path(path) if path is not None else resources_dir() / RESOURCE
    data = jsonfile.load(p, "the list of known engine defects", ResourceError, max_bytes=MAX_RESOURCE_BYTES)
    try:
        raw = data.get("bugs")
        if data.get("schema") != 1 or not isinstance(raw, list):
            raise ValueError("it should be schema 1 with a list of 'bugs'")
        bugs = tuple(_bug(entry, n) for n, entry in enumerate(raw))
        ids = [b.id for b in bugs]
        if len(set(ids)) != len(ids):
            raise ValueError("two entries share an id")
        return Catalog(bugs, _rotation(data.get("kv_rotation")))
    except ValueError as exc:
        raise ResourceError(f"{p.name} (the list of known engine defects) is damaged: {exc}.") from exc


@cache
def catalog() -> Catalog:
    """The shipped list, read once."""
    return load()


def symptom_links() -> tuple[tuple[str, str, str], ...]:
    """(symptom, cause in words, source) for every entry: what a check's symptom declaration can be built from."""
    return tuple((s, b.title, b.sources[0]) for b in catalog().bugs for s in b.symptoms)


def engine_version(setup: Setup, obs: Observations | None) -> tuple[str | None, str]:
    """(the engine's version as it was written, where it came from): what the running engine, its log or
    the person said; else the llama.cpp release folder the person's command runs from; (None, "") if none."""
    if obs is not None and obs.engine_version and obs.engine_version.strip():
        return obs.engine_version.strip(), "as your app, its log or you gave it"
    build = build_in_command(setup.command)
    if build is not None:
        return build, "from the release folder your command runs it from"
    return None, ""
