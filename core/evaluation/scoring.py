"""How the metric pass is chunked and scored.

`EvalSettings`' defaults are llama-perplexity's, which is what makes our numbers comparable with the
ones people quote from that tool. How each model is *run* (context, cache types, flash attention,
GPU layers) is the person's `core.settings.run.RunSettings`, shared with the rest of the app.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.errors import EvaluationSetupError

EVAL_DEFAULT_CTX = 4096  # a comparison's context when the person's settings do not give one


@dataclass(frozen=True)
class EvalSettings:
    """How evaluation texts are scored (llama-perplexity's definitions).

    Each text is tokenized once (with BOS), cut into `chunk`-token chunks (BOS put back at the start
    of each), and only the second half of each chunk is scored, so every scored token has at least
    chunk/2 tokens of context. `n_batch` // `chunk` chunks run side by side in one batch, like
    llama-perplexity's n_seq. `top_k` and `tail_samples` are how much of the reference's distribution
    is kept per token: see metrics.py for why 64 + 64 keeps mean KLD within 1% of the full sum.
    """

    chunk: int = 512
    long_chunk: int = 0  # 0: the person's context, capped by this machine's memory (core.evaluation.long_context)
    max_chunks: int = 0  # 0: every whole chunk of the text
    n_batch: int = 2048
    n_ubatch: int = 512
    top_k: int = 64
    tail_samples: int = 64
    sample_tokens: int = 96
    seed: int = 1234
    remote_top_k: int = 20

    def __post_init__(self) -> None:
        if self.chunk < 8 or self.chunk % 2:
            raise EvaluationSetupError(f"The evaluation chunk must be an even number of tokens ≥ 8, not {self.chunk}.")
        if self.long_chunk and (self.long_chunk < 8 or self.long_chunk % 2):
            raise EvaluationSetupError(
                f"The long-context chunk must be an even number of tokens ≥ 8, not {self.long_chunk}."
            )
        if self.top_k < 1:
            raise EvaluationSetupError("top_k must be at least 1.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
