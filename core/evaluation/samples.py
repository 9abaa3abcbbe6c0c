"""Sample outputs side by side, and where they part.

Both models answer the same prompt greedily (the most likely token each step, which needs no
sampler and so no luck: a fixed seed is passed to servers for those that sample anyway). Greedy
texts are identical until the two models' top-1 tokens first differ, so the first divergence is a
concrete, showable point of the damage: "up to token 14 they agree; then the quant says ...".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Sample:
    domain: str
    prompt_id: str
    prompt: str
    reference: str
    candidate: str
    first_divergence: int | None  # index of the candidate's token where the texts part; None if equal
    first_divergence_char: int | None  # character where they part
    reference_tokens: int = 0
    candidate_tokens: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def first_divergence(reference: list[str], candidate: list[str]) -> tuple[int | None, int | None]:
    """(token index in the candidate's stream, character) where the two texts first differ.

    Works on text, not token ids, so a server's deltas and a local model's pieces compare alike; with
    a shared tokenizer it is exactly the first token whose id differs.
    """
    a = "".join(reference)
    b = "".join(candidate)
    if a == b:
        return None, None
    c = 0
    limit = min(len(a), len(b))
    while c < limit and a[c] == b[c]:
        c += 1
    pos = 0
    for i, piece in enumerate(candidate):
        if pos + len(piece) > c:
            return i, c
        pos += len(piece)
    return len(candidate), c
