"""The model Hub: which repository a file is, its card, better quants, and downloads.

Every request goes through the one HTTP door (core.net: same-origin redirects, capped answers, a
deadline), with `huggingface_hub`'s headers, error meanings, `ModelInfo` parser and cache layout
(core.hub._client), and every failure is a typed error from core.errors with a plain message and a fix.
Offline mode (HF_HUB_OFFLINE) is honoured before any request; the person's token is read by the
client the standard way and never stored, logged or shown by Quant Doctor.

- `fetch_card(repo)` → `HubCard`: card front matter, gated state, model-tree relation, files with
  sizes and LFS sha256.
- `resolve_repo(profile)` / `resolve_expected(text)` → `RepoGuess`es.
- `hub_finetune_evidence(profile, expected)` → `FinetuneEvidence` for the finetune check.
- `find_alternatives(profile, expected, ctx=, workload=, fits=)` → ranked `Alternatives`.
- `download(repo, file)` → a job (yields `Progress`, returns `Downloaded`) into the standard cache.
- `peek_gguf(repo, file)` → `ModelProfile` from the header alone (HTTP Range).
"""

from __future__ import annotations

from core.hub.alternatives import Alternatives, HubCandidate, calibration_match, find_alternatives, reference_file
from core.hub.card import GGUFEntry, HubCard, HubFile, fetch_card, parse_repo_id
from core.hub.download import Downloaded, download
from core.hub.evidence import FinetuneEvidence, hub_finetune_evidence
from core.hub.fit import FitFn, SizeInfo, default_fit, simple_fit
from core.hub.peek import peek_gguf
from core.hub.quants import QuantType, type_from_filename
from core.hub.resolve import RepoGuess, resolve_expected, resolve_repo

__all__ = [
    "Alternatives",
    "Downloaded",
    "FinetuneEvidence",
    "FitFn",
    "GGUFEntry",
    "HubCandidate",
    "HubCard",
    "HubFile",
    "QuantType",
    "RepoGuess",
    "SizeInfo",
    "calibration_match",
    "default_fit",
    "download",
    "fetch_card",
    "find_alternatives",
    "hub_finetune_evidence",
    "parse_repo_id",
    "peek_gguf",
    "reference_file",
    "resolve_expected",
    "resolve_repo",
    "simple_fit",
    "type_from_filename",
]
