"""Base vs fine-tune, from the Hub's model tree: evidence for the diagnosis's `finetune` check."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import HubError, HubOfflineError
from core.hub import _client
from core.hub.card import HubCard, fetch_card, same_repo
from core.hub.resolve import RepoGuess, resolve_expected, resolve_repo
from core.model.profile import ModelProfile


@dataclass
class FinetuneEvidence:
    """What the Hub says this file is a quantization of, compared with the model the person expected.

    verdict:
      - "match": the file quantizes the expected model.
      - "base-instead-of-finetune": it quantizes the model the expected one was fine-tuned (or merged,
        or adapted) from — the classic mistake this check exists for.
      - "finetune-instead-of-base": it quantizes a fine-tune of the expected model.
      - "different-model": neither.
      - "unknown": no expected model given, the file could not be tied to a repository, or the Hub
        could not be asked (`available` is False and `reason` says why: offline, not found, ...).
    """

    available: bool
    verdict: str = "unknown"
    reason: str | None = None
    repo_id: str | None = None  # the repository the file was tied to
    repo_how: str | None = None
    relation: str | None = None  # that repository's relation to its base (quantized / finetune / ...)
    relation_source: str | None = None  # "card", "hub model tree", "inferred", "file metadata"
    quantizes: list[str] = field(default_factory=list)  # what the file is a quantization of
    expected: str | None = None
    expected_how: str | None = None
    expected_derived_from: list[str] = field(default_factory=list)  # the expected model's own bases
    expected_relation: str | None = None
    lines: list[str] = field(default_factory=list)  # plain sentences for the finding

    @property
    def mismatch(self) -> bool:
        return self.verdict in ("base-instead-of-finetune", "finetune-instead-of-base", "different-model")

    def evidence_lines(self) -> list[str]:
        """Lines for the finetune finding's evidence (`core.checks.finetune.check(..., hub_evidence=)`)."""
        if not self.available:
            return [f"Hub: not consulted ({self.reason})"] if self.reason else []
        lines = [f"Hub: {line}" for line in self.lines]
        if self.verdict == "unknown" and self.reason:
            lines.append(f"Hub: {self.reason}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mismatch"] = self.mismatch
        return d


def _card_or_none(repo_id: str, cards: dict[str, HubCard]) -> HubCard | None:
    key = repo_id.lower()
    if key not in cards:
        try:
            cards[key] = fetch_card(repo_id)
        except HubOfflineError:
            raise
        except HubError:
            return None
    return cards[key]


def hub_finetune_evidence(profile: ModelProfile, expected: str | None, repo: str | None = None) -> FinetuneEvidence:
    """Compare what the Hub says this file quantizes with the model the person expected.

    `profile` is the local file's profile; `expected` is what the person typed (owner/name, a model
    page address, or words to search for); `repo` overrides the repository the file came from when the
    person knows it. Never raises for Hub trouble: offline, not found, gated or rate-limited all give
    `available=False` with a plain `reason`, so the diagnosis keeps working without the Hub.

    The check reads `verdict` (and `mismatch`), and shows `lines` as the finding's evidence. At most
    four Hub requests: a file-name search, the file's repository card, the expected model's card,
    and the card of what the file quantizes.
    """
    ev = FinetuneEvidence(available=True)
    cards: dict[str, HubCard] = {}
    try:
        _client.ensure_online("compare this file with the expected model on the Hub")
        if expected:
            guess = resolve_expected(expected)
            ev.expected, ev.expected_how = guess.repo_id, guess.how
        guesses = [RepoGuess(repo, "download repo", "given by you", True)] if repo else resolve_repo(profile)
        download = next((g for g in guesses if g.role == "download repo"), None)
        source = next((g for g in guesses if g.role == "source model"), None)
        if download is not None:
            card = _card_or_none(download.repo_id, cards)
            if card is not None:
                ev.repo_id, ev.repo_how = card.repo_id, download.how
                ev.relation, ev.relation_source = card.relation, card.relation_source
                if card.quantizes:
                    ev.quantizes = card.quantizes
                    ev.lines.append(
                        f"The Hub says {card.repo_id} is a quantization of {', '.join(card.quantizes)} "
                        f"({card.relation_source})."
                    )
                elif card.relation:
                    ev.lines.append(
                        f"The Hub says {card.repo_id} is a {card.relation} of {', '.join(card.base_models)}."
                    )
        if not ev.quantizes and source is not None:
            ev.repo_id = ev.repo_id or source.repo_id
            ev.repo_how = ev.repo_how or source.how
            ev.quantizes = [source.repo_id]
            ev.relation, ev.relation_source = "quantized", "file metadata"
            ev.lines.append(f"The file's metadata says it was converted from {source.repo_id}.")
        if not ev.quantizes:
            ev.verdict = "unknown"
            ev.reason = "Quant Doctor could not tie this file to a repository on the Hub."
            return ev
        if not ev.expected:
            ev.verdict = "unknown"
            ev.reason = "No expected model was given to compare with."
            return ev
        _compare(ev, ev.expected, cards)
    except HubError as err:
        ev.available = False
        ev.verdict = "unknown"
        ev.reason = err.message
    return ev


def _compare(ev: FinetuneEvidence, expected: str, cards: dict[str, HubCard]) -> None:
    if any(same_repo(q, expected) for q in ev.quantizes):
        ev.verdict = "match"
        ev.lines.append(f"That is the model you expected ({expected}).")
        return
    exp_card = _card_or_none(expected, cards)
    if exp_card is not None and exp_card.quantizes:
        # The person named a quant repository: compare with what it quantizes.
        ev.lines.append(f"{expected} is itself a quantization of {', '.join(exp_card.quantizes)}.")
        if any(same_repo(q, e) for q in ev.quantizes for e in exp_card.quantizes):
            ev.verdict = "match"
            ev.lines.append("Both are quantizations of the same model.")
            return
        expected = exp_card.quantizes[0]
        exp_card = _card_or_none(expected, cards)
    if exp_card is not None and exp_card.base_models and exp_card.relation in ("finetune", "merge", "adapter", None):
        ev.expected_derived_from = list(exp_card.base_models)
        ev.expected_relation = exp_card.relation or "finetune"
        hit = next((q for q in ev.quantizes if any(same_repo(q, b) for b in exp_card.base_models)), None)
        if hit is not None:
            ev.verdict = "base-instead-of-finetune"
            ev.lines.append(
                f"But you expected {expected}, which is a {ev.expected_relation} of {hit}: this file is a quant of "
                f"the model it was {_made(ev.expected_relation)} from, not of {expected} itself."
            )
            return
    for q in ev.quantizes:
        q_card = _card_or_none(q, cards)
        if (
            q_card is not None
            and q_card.relation in ("finetune", "merge", "adapter")
            and any(same_repo(b, expected) for b in q_card.base_models)
        ):
            ev.verdict = "finetune-instead-of-base"
            ev.lines.append(f"{q} is a {q_card.relation} of {expected}, the model you expected: not the model itself.")
            return
    ev.verdict = "different-model"
    ev.lines.append(f"You expected {expected}; the Hub shows no link between the two.")


def _made(relation: str) -> str:
    return {"finetune": "fine-tuned", "merge": "merged", "adapter": "adapted"}.get(relation, "derived")
