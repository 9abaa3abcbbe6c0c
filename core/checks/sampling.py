"""sampling: settings that make any model loop or ramble, whatever its quant.

Greedy decoding (temperature 0) on a thinking model loops: Qwen's own model cards say not to use
greedy decoding with thinking models. A very high temperature rambles. No repetition control on a
small model repeats itself. These come from the running engine, the person's settings, or the
defaults the file recommends (`general.sampling.*`), and the finding says plainly that the loop is
the sampler's, not the quant's.
"""

from __future__ import annotations

from core.checks.base import Check, CheckInput, Explains
from core.checks.engine_observations import sampling_from_setup
from core.checks.finding import NOT_CHECKED, Finding, FixStep
from core.checks.fixes import settings_fix
from core.engines.base import Change
from core.model.chat_formats import mentions_thinking
from core.model.profile import ModelProfile
from core.settings.observations import Observations, SamplingSeen
from core.settings.setup import Setup

ID = "sampling"
GREEDY = 0.05  # at or below this temperature decoding is effectively greedy
HOT = 1.5  # above this most models ramble
SMALL_MODEL = 4_000_000_000  # parameters: small models repeat themselves without a penalty
THINKING_TEMP = 0.6  # Qwen3's card: temperature 0.6, top_p 0.95 for thinking mode


def _sampling(profile: ModelProfile, setup: Setup, obs: Observations) -> SamplingSeen | None:
    """The person's or the engine's sampler first, then the file's recommendation."""
    if obs.sampling is not None:
        return obs.sampling
    from_setup = sampling_from_setup(setup)
    if from_setup is not None:
        return from_setup
    d = profile.sampling_defaults
    if d:
        return SamplingSeen(
            "the file's recommended sampling",
            temperature=d.get("temp"),
            top_p=d.get("top_p"),
            repeat_penalty=d.get("repeat_penalty"),
        )
    return None


def run(inputs: CheckInput) -> Finding:
    profile, setup = inputs.profile, inputs.setup
    obs = inputs.observations or Observations()
    s = _sampling(profile, setup, obs)
    thinking = mentions_thinking(profile.chat_template) or bool(
        profile.tokenizer and "<think>" in profile.tokenizer.markers
    )
    why = (
        "The sampler picks each next token. Greedy decoding makes a thinking model repeat its reasoning "
        "forever; a very high temperature turns any model into noise. This is the sampler, not the quant: "
        "the same file answers well with sane settings."
    )
    if s is None:
        return Finding(
            id=ID,
            severity="ok",
            title="Not checked: no sampling settings known",
            evidence=["no temperature or penalties from the engine, your settings or the file"],
            why="The sampler picks each next token; with no temperature or penalty known, it could not be checked.",
            fix=[FixStep("Give your temperature (in the Setup page's Sampling box, or connect to your app) to check it.")],
            status=NOT_CHECKED,
        )
    sure = "confirmed" if s.reported else "likely"
    evidence = [f"{s.source}: " + ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in _values(s).items())]
    if thinking:
        evidence.append("the chat template writes <think>: a thinking model")
    severity, confidence, title = "ok", sure, "The sampling settings are sane"
    fix: list[FixStep] = []
    t = s.temperature
    if t is not None and t <= GREEDY and thinking:
        severity, title = "warning", "Greedy decoding (temperature 0) on a thinking model: it loops"
        fix = settings_fix(setup, profile, Change(temperature=THINKING_TEMP))
        why = (
            f"Your temperature is {t:g}: the sampler always takes the likeliest token, and a thinking model then "
            "repeats its reasoning forever (its makers say not to decode it greedily; 0.6 is their setting). "
            "This is the sampler, not the quant: the same file answers well at 0.6."
        )
    elif t is not None and t > HOT:
        severity, title = "warning", f"A temperature of {t:g} makes any model ramble"
        fix = settings_fix(setup, profile, Change(temperature=0.7))
        why = (
            f"Your temperature is {t:g}: the sampler often picks unlikely tokens, and any model, at any quant, "
            "drifts into noise. This is the sampler, not the quant: the same file answers well at 0.7."
        )
    elif s.repeat_penalty is not None and s.repeat_penalty <= 1.0 and 0 < profile.parameters < SMALL_MODEL:
        severity, confidence = "info", "suspected"
        title = "No repetition penalty on a small model: it may repeat itself"
        fix = settings_fix(setup, profile, Change(repeat_penalty=1.1))
        why = (
            f"Your repeat penalty is {s.repeat_penalty:g} (none): small models fall into loops of the same "
            "phrase without one. This is the sampler, not the quant: a penalty of 1.1 stops it."
        )
    elif t is None:  # penalties known, the temperature not: the loops and the rambling were not checked
        return Finding(
            id=ID,
            severity="ok",
            title="Not checked: no temperature known",
            evidence=evidence,
            why="The sampler picks each next token; with no temperature known, greedy looping or rambling could "
            "not be checked.",
            fix=[FixStep("Give your temperature (in the Setup page's Sampling box, or connect to your app) to check it.")],
            confidence=confidence,
            status=NOT_CHECKED,
        )
    else:
        why = (
            "The sampler picks each next token; your temperature and penalties are in the range models answer well in."
        )
    return Finding(id=ID, severity=severity, title=title, evidence=evidence, why=why, fix=fix, confidence=confidence)


def _values(s: SamplingSeen) -> dict[str, float]:
    named = {
        "temperature": s.temperature,
        "top_p": s.top_p,
        "top_k": s.top_k,
        "min_p": s.min_p,
        "repeat_penalty": s.repeat_penalty,
    }
    return {k: float(v) for k, v in named.items() if v is not None}


# The symptoms its causes produce, each link with where it is documented (issue 21).
EXPLAINS = (
    Explains("loops", "greedy decoding (temperature 0) on a thinking model", "https://huggingface.co/Qwen/Qwen3-8B"),
    Explains(
        "loops",
        "a temperature below the model card's on a reasoning model",
        "https://huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    ),
    Explains(
        "loops",
        "no repeat penalty on a small model",
        "https://github.com/ggml-org/llama.cpp/blob/master/tools/main/README.md",
    ),
    Explains(
        "nonsense", "a very high temperature", "https://github.com/ggml-org/llama.cpp/blob/master/tools/main/README.md"
    ),
)

CHECK = Check(
    id=ID,
    order=53,
    run=run,
    needs=frozenset(("profile", "setup", "observations")),
    explains=EXPLAINS,
)
