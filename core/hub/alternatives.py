"""Better quants of the expected model: found through the Hub's model tree, ranked for this person.

Ranking, in order (the issue's rules): it is a quant of the expected model; it fits this machine with
the person's context and a q8_0 KV cache (`FitFn`, core.hub.fit); its tier (≥ Q4_K_M, ≥ Q5_K_M for
MoE; EXL2 ≥ 4.0 bpw); calibration / imatrix data matching the workload. Ties: higher quality first,
then the more downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import HubError, HubNotFoundError, HubOfflineError, HubRateLimitedError
from core.hub import _client
from core.hub.card import GGUFEntry, HubCard, fetch_card, parse_repo_id, same_repo
from core.hub.fit import FitFn, SizeInfo, default_fit
from core.hub.quants import QuantType, gguf_type
from core.hub.resolve import _listing, resolve_expected, resolve_repo
from core.model.profile import ModelProfile

DEFAULT_CTX = 4096

# Calibration datasets by what they cover. Broad mixes (bartowski's calibration_datav3, the
# "groups_merged" sets) count for every workload; generic prose sets count for prose-like ones only.
_BROAD = ("calibration_datav3", "groups_merged", "calibration_data_v5", "mixed", "multilingual+code")
_COVERS: dict[str, tuple[str, ...]] = {
    "code": ("code", "python", "starcoder", "the-stack", "evol", "humaneval", "magicoder"),
    "multilingual": ("multilingual", "mc4", "cc100", "oscar", "wiki-", "aya", "xlsum"),
    "math": ("math", "gsm8k", "numina", "metamath"),
    "chat": ("ultrachat", "sharegpt", "chat", "alpaca", "openhermes", "oasst", "slimorca", "lmsys"),
    "roleplay": ("roleplay", "rp", "pippa", "chat", "sharegpt"),
    "long-documents": ("pg19", "book", "long", "wikitext", "arxiv"),
}
_GENERIC = ("wikitext", "c4", "pile", "redpajama", "fineweb", "refinedweb", "openwebtext")
_MOE_NAME = re.compile(r"\d+(?:\.\d+)?B-A\d+(?:\.\d+)?B", re.IGNORECASE)


def calibration_match(dataset: str | None, workload: str, calibrated: bool) -> tuple[bool | None, str]:
    """Does a quant's calibration suit the workload? (True / False / None: unknown) and a label."""
    if not calibrated:
        return True, "none (static quant: nothing to mismatch)"
    if not dataset:
        return None, "imatrix, dataset not published"
    low = dataset.lower()
    if any(b in low for b in _BROAD):
        return True, f"{dataset} (broad mix)"
    if any(k in low for k in _COVERS.get(workload, ())):
        return True, dataset
    if any(g in low for g in _GENERIC):
        return (None if workload in ("chat", "roleplay", "long-documents") else False), f"{dataset} (general prose)"
    covers = [w for w, keys in _COVERS.items() if any(k in low for k in keys)]
    if covers:
        return False, f"{dataset} ({', '.join(covers)})"
    return None, dataset


@dataclass
class HubCandidate:
    """One downloadable quant, with its badges."""

    repo_id: str
    file: str | None  # the GGUF to download (first part of a split one); None for a folder repo
    files: tuple[str, ...]
    size: int | None
    quant: QuantType | None
    method: str
    is_expected: bool | None  # the Hub's model tree says it quantizes the expected model
    fits: bool | None
    meets_floor: bool | None
    tier: str
    calibration: str
    calibration_match: bool | None
    downloads: int | None = None
    gated: bool = False
    peeked: bool = False  # the type comes from the file's header, not only its name
    notes: list[str] = field(default_factory=list)

    def sort_key(self) -> tuple[Any, ...]:
        def tri(v: bool | None) -> int:
            return 2 if v is True else 1 if v is None else 0

        rank = self.quant.rank if self.quant else (0.0, 0)
        # Among those that fit, the best quality first; among those too big, the nearest to fitting.
        quality = (float(self.size or 0), 0) if self.fits is False else (-rank[0], -rank[1])
        return (
            -tri(self.is_expected), -tri(self.fits), -tri(self.meets_floor), -tri(self.calibration_match),
            *quality, -(self.downloads or 0), self.repo_id, self.file or "",
        )  # fmt: skip

    def badges(self) -> list[str]:
        out = []
        if self.is_expected:
            out.append("expected model")
        out.append({True: "fits", False: "too big", None: "fit unknown"}[self.fits])
        out.append(self.tier)
        if self.calibration_match is False:
            out.append("calibration mismatch")
        if self.gated:
            out.append("gated")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "file": self.file,
            "files": list(self.files),
            "size": self.size,
            "quant_type": self.quant.name if self.quant else None,
            "method": self.method,
            "nominal_bpw": round(self.quant.bpw, 4) if self.quant and self.quant.bpw else None,
            "is_expected": self.is_expected,
            "fits": self.fits,
            "meets_floor": self.meets_floor,
            "tier": self.tier,
            "calibration": self.calibration,
            "calibration_match": self.calibration_match,
            "downloads": self.downloads,
            "gated": self.gated,
            "peeked": self.peeked,
            "badges": self.badges(),
            "notes": self.notes,
        }


@dataclass
class Alternatives:
    expected: str
    expected_how: str
    ctx: int
    workload: str
    moe: bool
    candidates: list[HubCandidate]
    repos_seen: list[str]
    notes: list[str] = field(default_factory=list)

    def best(self) -> HubCandidate | None:
        return self.candidates[0] if self.candidates else None

    def reference(self) -> HubCandidate | None:
        """A Q8_0 (else F16/BF16) GGUF of the expected model: the side-by-side comparison's reference."""
        for names in (("Q8_0",), ("F16", "BF16")):
            hits = [c for c in self.candidates if c.quant and c.quant.name in names and c.is_expected is not False]
            if hits:
                return sorted(hits, key=lambda c: (-(c.fits is True), -(c.downloads or 0)))[0]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "expected_how": self.expected_how,
            "ctx": self.ctx,
            "workload": self.workload,
            "moe": self.moe,
            "repos_seen": self.repos_seen,
            "notes": self.notes,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def _looks_moe(profile: ModelProfile | None, cards: list[HubCard], expected: str) -> bool:
    if profile is not None and profile.is_moe:
        return True
    if _MOE_NAME.search(expected):
        return True
    return any("moe" in (t.lower() for t in c.tags) or _MOE_NAME.search(c.repo_id) for c in cards)


def _target(profile: ModelProfile | None, expected: str | None) -> tuple[str, str, list[str]]:
    """The model whose quants to list: the expected one, else what the local file is a quant of."""
    notes: list[str] = []
    if expected:
        guess = resolve_expected(expected)
        target, how = guess.repo_id, guess.how
        card = fetch_card(target)  # not found / gated / offline: say so rather than list nothing
        if card.quantizes:
            notes.append(f"{target} is itself a quantization of {card.quantizes[0]}; listing quants of that model.")
            target, how = card.quantizes[0], f"what {target} quantizes"
        return target, how, notes
    if profile is None:
        raise HubNotFoundError("Quant Doctor needs a model file or an expected model to look for alternatives.")
    for guess in resolve_repo(profile):
        if guess.role == "download repo":
            try:
                card = fetch_card(guess.repo_id)
            except (HubOfflineError, HubRateLimitedError):
                raise
            except HubError:
                continue
            if card.quantizes:
                return card.quantizes[0], f"what {card.repo_id} ({guess.how}) quantizes", notes
        else:
            return guess.repo_id, guess.how, notes
    raise HubNotFoundError(
        "Quant Doctor could not tell which model this file is a quantization of.",
        "Type the name of the model you want as on its model page (owner/name).",
    )


def list_quant_repos(base: str, limit: int = 50) -> list[str]:
    """Repositories the Hub's model tree lists as quantizations of `base`, most downloaded first."""
    what = f"list quantizations of {base}"
    _client.ensure_online(what)
    with _client.translated(what, base):
        infos = _listing([
            ("filter", f"base_model:quantized:{base}"), ("sort", "downloads"), ("limit", limit),
            ("expand", "downloads"), ("expand", "tags"), ("expand", "gated"),
        ])  # fmt: skip
    infos.sort(key=lambda i: -(i.downloads or 0))
    return [i.id for i in infos]


def _imatrix(card: HubCard, entry: GGUFEntry | None) -> bool:
    names = [f.path.lower() for f in card.files]
    if any("imatrix" in n for n in names) or "imatrix" in (t.lower() for t in card.tags):
        return True
    if entry is not None:
        low = entry.name.lower()
        if ".i1-" in low or "-i1-" in low or (entry.quant is not None and entry.quant.name.startswith("IQ")):
            return True
    return False


def _candidates_of(card: HubCard, expected: str, profile: ModelProfile | None, ctx: int, workload: str,
                   moe: bool, fits: FitFn) -> list[HubCandidate]:  # fmt: skip
    is_expected = any(same_repo(q, expected) for q in card.quantizes) if card.quantizes else None
    out: list[HubCandidate] = []
    entries = card.gguf_models()
    if entries:
        for e in entries:
            if e.quant is None:
                continue
            calibrated = _imatrix(card, e)
            match, label = calibration_match(None, workload, calibrated)
            info = SizeInfo(e.size, profile, "q8_0", moe, e.name)
            out.append(HubCandidate(
                card.repo_id, e.name, e.files, e.size, e.quant, "gguf", is_expected, fits(info, ctx),
                e.quant.meets_floor(moe), e.quant.tier(moe), label, match, card.downloads, card.is_gated,
            ))  # fmt: skip
        return out
    quant = card.folder_quant()
    if quant is None:
        return out
    qc = card.quantization_config or {}
    calib = qc.get("dataset") or (qc.get("calibration") or {}).get("dataset") if isinstance(qc, dict) else None
    match, label = calibration_match(str(calib) if calib else None, workload, True)
    size = sum(f.size or 0 for f in card.files if f.path.endswith(".safetensors")) or None
    info = SizeInfo(size, profile, "q8_0", moe, card.repo_id)
    out.append(HubCandidate(
        card.repo_id, None, tuple(f.path for f in card.files), size, quant, quant.method, is_expected,
        fits(info, ctx), quant.meets_floor(moe), quant.tier(moe), label, match, card.downloads, card.is_gated,
    ))  # fmt: skip
    return out


def find_alternatives(
    profile: ModelProfile | None = None,
    expected: str | None = None,
    *,
    ctx: int | None = None,
    workload: str = "chat",
    fits: FitFn = default_fit,
    max_repos: int = 8,
    peek: int = 0,
    limit: int = 30,
) -> Alternatives:
    """Quants of the expected model (or of what the local file quantizes), ranked for this person.

    `fits(info, ctx)` decides the "fits this machine" badge (core.hub.fit; plug core.memory.estimate in there).
    `max_repos` bounds the Hub requests (one card per repository). `peek` reads the header of the top
    N GGUF candidates with a Range request to replace the name-based type with the real one.
    """
    _client.ensure_online("look for other quants on the Hub")
    n_ctx = ctx or DEFAULT_CTX
    target, how, notes = _target(profile, expected)
    repos = list_quant_repos(target)
    if not repos:
        notes.append(f"The Hub lists no quantizations of {target}.")
    cards: list[HubCard] = []
    for repo in repos[:max_repos]:
        try:
            cards.append(fetch_card(repo))
        except (HubOfflineError, HubRateLimitedError):
            raise
        except HubError as err:
            notes.append(f"Skipped {repo}: {err.message}")
    if len(repos) > max_repos:
        notes.append(f"Looked at the {max_repos} most downloaded of {len(repos)} repositories.")
    moe = _looks_moe(profile, cards, target)
    candidates: list[HubCandidate] = []
    for card in cards:
        candidates += _candidates_of(card, target, profile, n_ctx, workload, moe, fits)
    candidates.sort(key=HubCandidate.sort_key)
    if peek:
        _peek(
            candidates,
            peek,
            workload,
            moe,
            lambda alt, prof: fits(SizeInfo(alt.size, profile, "q8_0", moe, alt.file or "", prof), n_ctx),
        )
        candidates.sort(key=HubCandidate.sort_key)
    return Alternatives(target, how, n_ctx, workload, moe, candidates[:limit], [c.repo_id for c in cards], notes)


def _peek(candidates: list[HubCandidate], n: int, workload: str, moe: bool,
          refit: Callable[[HubCandidate, ModelProfile], bool | None]) -> None:  # fmt: skip
    from core.hub.peek import peek_gguf

    for alt in [c for c in candidates if c.method == "gguf" and c.file][:n]:
        try:
            prof = peek_gguf(alt.repo_id, alt.file or "")
        except HubError as err:
            alt.notes.append(f"Header not read: {err.message}")
            continue
        except Exception as err:  # a broken header on the Hub must not break the list
            alt.notes.append(f"Header not readable ({type(err).__name__}).")
            continue
        alt.peeked = True
        alt.fits = refit(alt, prof)
        named = gguf_type(prof.nominal_type or "") if prof.nominal_type else None
        if named is not None and alt.quant is not None and named.name != alt.quant.name:
            alt.notes.append(f"The name says {alt.quant.name}; the header says {named.name}.")
        if named is not None:
            alt.quant = QuantType(named.name, "gguf", prof.effective_bpw or named.bpw, named.variant,
                                  named.ggml_type, alt.quant.dynamic if alt.quant else False)  # fmt: skip
        is_moe = moe or prof.is_moe
        if alt.quant is not None:
            alt.meets_floor = alt.quant.meets_floor(is_moe)
            alt.tier = alt.quant.tier(is_moe)
        if prof.imatrix is not None:
            alt.calibration_match, alt.calibration = calibration_match(prof.imatrix.dataset, workload, True)
        elif alt.quant is not None and not alt.quant.name.startswith("IQ"):
            alt.calibration_match, alt.calibration = calibration_match(None, workload, False)


def reference_file(repo: str) -> tuple[str, str]:
    """(repo, file) of a Q8_0 GGUF of the same model — the reference for a side-by-side comparison.

    Looks in `repo` first, then among the quants of the model `repo` quantizes.
    """
    repo_id = parse_repo_id(repo) or repo
    card = fetch_card(repo_id)
    for names in (("Q8_0",), ("F16", "BF16")):
        for e in card.gguf_models():
            if e.quant is not None and e.quant.name in names:
                return card.repo_id, e.name
    base = card.quantizes[0] if card.quantizes else card.repo_id
    alts = find_alternatives(expected=base, fits=lambda _i, _c: None)
    ref = alts.reference()
    if ref is None or ref.file is None:
        raise HubNotFoundError(
            f"Found no Q8_0 (or F16) GGUF of {base} on the Hub to use as a reference.",
            "Pick a reference file yourself: `quantdoctor-cli hub card REPO` lists a repository's files.",
        )
    return ref.repo_id, ref.file
