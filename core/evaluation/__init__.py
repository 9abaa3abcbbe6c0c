"""Side-by-side evaluation: run a quant and a reference on the same texts and prompts, measure the loss.

`compare(...)` is the job (a generator of Progress returning a `Comparison`); the engines run
llama.cpp in child processes (`LocalEngine`) or talk to an OpenAI-compatible server
(`RemoteEngine`); the metrics follow llama.cpp's `llama-perplexity --kl-divergence`.
"""

from core.evaluation.compare import Comparison, compare
from core.evaluation.metrics import DomainMetrics
from core.evaluation.remote import RemoteEngine
from core.evaluation.runners import LocalEngine, TokenProgress
from core.evaluation.samples import Sample
from core.evaluation.scoring import EvalSettings
from core.settings.run import RunSettings

__all__ = [
    "Comparison",
    "DomainMetrics",
    "EvalSettings",
    "LocalEngine",
    "RemoteEngine",
    "RunSettings",
    "Sample",
    "TokenProgress",
    "compare",
]
