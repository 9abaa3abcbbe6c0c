"""The domains a comparison covers, and the texts and prompts for each (data in resources/).

A quant can hold up on English prose and fall apart on code or on other languages (its calibration
data, or the few bits left for rare tokens, decide that), so every number is reported per domain.
Evaluation texts live in `resources/eval/` (scored for PPL/KLD), prompt sets in `resources/prompts/`
(answered greedily by both models, shown side by side).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core import jsonfile
from core.errors import EvaluationSetupError
from core.files import read_text_limited
from core.paths import resources_dir


@dataclass(frozen=True)
class Domain:
    id: str
    title: str
    eval_file: str | None  # under resources/eval/
    prompts_file: str  # under resources/prompts/
    long: bool = False


DOMAINS: dict[str, Domain] = {
    "general": Domain("general", "General chat and knowledge (prose)", "prose.txt", "general.json"),
    "code": Domain("code", "Code", "code.txt", "code.json"),
    "multilingual": Domain("multilingual", "Multilingual", "multilingual.txt", "multilingual.json"),
    "math": Domain("math", "Math and reasoning", "math.txt", "math.json"),
    "long": Domain(
        "long", "Long context (at your context length)", "long_document.txt", "long_context.json", long=True
    ),
}
DEFAULT_DOMAINS = ("general", "code", "multilingual", "math")
ALIASES = {"prose": "general", "chat": "general", "knowledge": "general", "reasoning": "math",
           "long-context": "long", "long_context": "long"}  # fmt: skip


@dataclass(frozen=True)
class Prompt:
    id: str
    domain: str
    text: str  # what the model is asked (for long context: the document, then the question)
    shown: str  # what a person is shown (the long document is abbreviated)
    system: str | None = None


def resolve_domains(names: list[str] | None, long_context: bool) -> list[Domain]:
    """Domain objects for names the person typed (aliases allowed); the long one only when asked."""
    chosen: list[str] = []
    for raw in names or list(DEFAULT_DOMAINS):
        key = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if key not in DOMAINS:
            raise EvaluationSetupError(
                f"There is no '{raw}' domain.", "Pick from: " + ", ".join([*DOMAINS, *ALIASES]) + "."
            )
        if key not in chosen:
            chosen.append(key)
    if long_context and "long" not in chosen:
        chosen.append("long")
    return [DOMAINS[k] for k in chosen]


MAX_RESOURCE_BYTES = 16 * 1024 * 1024  # the shipped texts and prompt sets are a few hundred KB each


def _read(path: Path) -> str:
    try:  # a shipped resource, still read through the file door (bounded, a regular file only)
        return read_text_limited(path, MAX_RESOURCE_BYTES, "an evaluation data file", EvaluationSetupError)
    except EvaluationSetupError as exc:
        raise EvaluationSetupError(
            f"The evaluation data file {path} is missing.", "Reinstall Quant Doctor: its resources are incomplete."
        ) from exc


def eval_text(domain: Domain) -> str | None:
    """The domain's evaluation text, as llama-perplexity reads a -f file (one trailing newline dropped)."""
    if domain.eval_file is None:
        return None
    return _read(resources_dir() / "eval" / domain.eval_file).removesuffix("\n")


def prompts(domain: Domain) -> list[Prompt]:
    data = jsonfile.loads(_read(resources_dir() / "prompts" / domain.prompts_file), domain.prompts_file,
                          EvaluationSetupError, fix="Reinstall Quant Doctor: its resources are incomplete.")  # fmt: skip
    document = ""
    if data.get("document"):
        document = _read(resources_dir() / "prompts" / data["document"]).strip()
    out = []
    for item in data["prompts"]:
        question = str(item["prompt"])
        if document:
            text = f"{data.get('preamble', '')}{document}\n\n{question}".strip()
            shown = f"[the {len(document):,}-character document {Path(data['document']).name}]\n\n{question}"
        else:
            text = shown = question
        out.append(Prompt(str(item["id"]), domain.id, text, shown, item.get("system", data.get("system"))))
    return out
