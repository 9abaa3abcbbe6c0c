"""What an engine found running on this machine said: the shared shapes of the live answers.

Each engine module (core.engines.<engine>) turns its own API's answers into a `FoundEngine`; the scan
(core.engines.live) finds the engines and calls them through their `LiveApi`. The helpers read an
untrusted answer defensively: anything of the wrong kind is treated as "not reported".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.engines.loopback import Answer, Loopback
from core.engines.process import EngineProcess
from core.settings.setup import Setup
from core.textnum import Quantity, json_whole, whole_or_none

GIB = 1024**3
Answers = dict[str, Answer]


@dataclass
class FoundModel:
    name: str
    loaded: bool = False
    context: int | None = None  # what one conversation gets, where the engine says
    n_ctx_train: int | None = None
    path: str | None = None  # the model file on disk, where it was found
    quantization: str | None = None
    size_bytes: int | None = None
    size_vram: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FoundEngine:
    """One engine that answered: what it is, what it runs, and what it would not say."""

    key: str  # "ollama", "llama-server", "lm-studio", "koboldcpp", "text-generation-webui", "tabbyapi", "vllm"...
    label: str
    url: str
    version: str | None = None
    models: list[FoundModel] = field(default_factory=list)
    setup: Setup | None = None  # the settings of the loaded (or asked-for) model
    facts: list[str] = field(default_factory=list)  # what its API and process said
    missing: list[str] = field(default_factory=list)  # settings its API does not report, and where they live
    warnings: list[str] = field(default_factory=list)  # worth a look (a model partly in system RAM...)
    process: EngineProcess | None = None

    @property
    def loaded(self) -> FoundModel | None:
        return next((m for m in self.models if m.loaded), None)

    @property
    def model_path(self) -> str | None:
        return self.setup.model_path if self.setup else None

    def summary(self) -> str:
        m = self.loaded
        what = (
            f"{m.name}" + (f", {m.context:,} tokens of context" if m and m.context else "") if m else "no model loaded"
        )
        return f"{self.label} at {self.url}: {what}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.key,
            "label": self.label,
            "url": self.url,
            "version": self.version,
            "models": [m.to_dict() for m in self.models],
            "setup": self.setup.to_dict() if self.setup else None,
            "facts": list(self.facts),
            "missing": list(self.missing),
            "warnings": list(self.warnings),
            "process": self.process.to_dict() if self.process else None,
        }


@dataclass
class ScanResult:
    found: list[FoundEngine]
    problems: list[str]  # ports that answered badly, in words
    seconds: float
    notes: list[str] = field(default_factory=list)  # how the looking went (sockets not readable here...)
    ports: list[int] = field(default_factory=list)  # every port knocked on, default and discovered

    def to_dict(self) -> dict[str, Any]:
        return {"engines": [e.to_dict() for e in self.found], "problems": list(self.problems),
                "notes": list(self.notes), "ports": list(self.ports), "seconds": round(self.seconds, 3)}  # fmt: skip


Query = Callable[[Loopback, Answers, FoundEngine, str | None], None]


Recognise = Callable[[Answers], bool]


@dataclass(frozen=True)
class LiveApi:
    """One kind of server an engine runs: its default ports, how to recognise it by the *shape* of its
    answers (not the port: TabbyAPI answers like koboldcpp and like llama-server, and
    text-generation-webui shares port 5000 with it), and how to read what it runs.

    `recognise` is asked in ascending `precedence` (core.engines.live.identify), each with the answers
    to every registered API's `asks` paths; a server whose answers also fit a more general shape
    goes first (TabbyAPI at 10, before koboldcpp and llama-server)."""

    key: str  # "llama-server", "ollama"... (what `--from-engine` takes)
    label: str
    ports: tuple[int, ...]
    query: Query
    aliases: tuple[str, ...] = ()
    recognise: Recognise | None = None  # None: never recognised by a scan (only named with --from-engine)
    asks: tuple[str, ...] = ()  # the GET paths its recognition reads
    precedence: int = 50
    # what its process is called (name or command line), for finding it on a port of the person's
    # choosing through the listening sockets (core.engines.process.engine_listeners); () means its key
    programs: tuple[str, ...] = ()


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def positive_int(value: Any, quantity: Quantity) -> int | None:
    """A positive whole number an answer gave, within `quantity`'s plain range (core.textnum); None for
    anything else: a string, a bool, null, a float, a 400-digit size."""
    n = json_whole(value, quantity)
    return n if n is not None and n > 0 else None


def as_list(value: Any) -> list[Any]:
    """A JSON list, or [] for anything else (`"models": null`, `"models": 5`)."""
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[dict[str, Any]]:
    """The objects in a JSON list; [] when it is not a list (an answer of the wrong shape says nothing)."""
    return [v for v in as_list(value) if isinstance(v, dict)]


def exists_here(path: str) -> bool:
    """Whether a path an engine named exists on this machine; a path no system takes (too long, a NUL byte,
    no permission on the way) simply does not."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def text_of(value: Any, limit: int = 1000) -> str | None:
    """A JSON string (at most `limit` characters), or None: a number, a list or an object is not a name."""
    return value[:limit] if isinstance(value, str) and value else None


def gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def answer_data(a: Answers, path: str) -> list[dict[str, Any]]:
    """The OpenAI-style `data` list of an answer, its entries that are objects."""
    items = a[path].json_dict().get("data") if path in a else None
    return [d for d in items if isinstance(d, dict)] if isinstance(items, list) else []


def owned_by(a: Answers) -> set[str]:
    return {str(d.get("owned_by")) for d in answer_data(a, "/v1/models")}


def process_is(proc: EngineProcess, *words: str) -> bool:
    """Whether the process on the port is the engine's own program (not a proxy or a test's Python)."""
    name = " ".join([proc.name, Path(proc.cmdline[0]).name if proc.cmdline else ""]).lower()
    return any(w in name for w in words)


def unreadable(e: FoundEngine) -> str:
    if e.process and e.process.notes:
        return f" ({'; '.join(e.process.notes)})"
    return " (its process was not found)" if e.process is None else ""


def first_int(value: Any, quantity: Quantity) -> int | None:
    """The first of a setting's values (Ollama's /api/show parameters list each), read as a whole number of
    `quantity` through core.textnum; None when it is absent or not one."""
    text = value[0] if isinstance(value, list) and value else value
    return whole_or_none(text, quantity) if isinstance(text, str) else json_whole(text, quantity)
