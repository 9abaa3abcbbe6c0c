"""What went wrong, in the person's words: the symptoms they can name (resources/symptoms.json).

A doctor starts from the complaint. The checks declare which symptoms their causes produce
(core.checks.base.Explains, with a source for each link); the ranking weighs the person's symptoms and
the headline speaks to them. "I'm not sure" is a symptom too: it asks for nothing to be weighed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from core import jsonfile
from core.errors import SetupError
from core.paths import resources_dir

NOT_SURE = "not-sure"


@dataclass(frozen=True)
class Symptom:
    id: str
    words: str  # the start page's choice: "It repeats itself or loops"
    short: str  # in a sentence: "For loops, the most likely cause is …"
    ask: str  # the one input that would let Quant Doctor look further


@cache
def symptoms() -> dict[str, Symptom]:
    """Every symptom, in the order the start page lists them."""
    data = jsonfile.load(resources_dir() / "symptoms.json", "the list of symptoms", SetupError)
    out: dict[str, Symptom] = {}
    for item in data.get("symptoms", []):
        s = Symptom(str(item["id"]), str(item["words"]), str(item["short"]), str(item["ask"]))
        out[s.id] = s
    return out


def symptom_ids() -> tuple[str, ...]:
    return tuple(symptoms())


def parse_symptoms(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The person's symptoms, each known, each once, in the order given; an unknown one is a plain error."""
    known = symptoms()
    out: list[str] = []
    for value in values or ():
        v = value.strip().lower()
        if v not in known:
            raise SetupError(f"'{value}' is not a symptom Quant Doctor knows.", f"Use one of: {', '.join(known)}.")
        if v not in out:
            out.append(v)
    return tuple(out)


def weighed(values: tuple[str, ...]) -> tuple[str, ...]:
    """The symptoms that say something about the cause ("I'm not sure" does not)."""
    return tuple(v for v in values if v != NOT_SURE)


def short_words(values: tuple[str, ...]) -> str:
    """ "loops and long chats falling apart" """
    words = [symptoms()[v].short for v in weighed(values)]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1] if words else ""
