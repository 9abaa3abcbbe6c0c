"""Every engine Quant Doctor knows, in the order menus list them.

Adding an engine is one module (see core/engines/vllm.py for the smallest) and one entry here;
docs/ARCHITECTURE.md walks through it. `Setup.engine` is a plain id string in core.settings (a lower
layer), so this registry is where an id is checked: `get` refuses an unknown one with a plain error.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.engines import koboldcpp, llamacpp, lmstudio, ollama, tabbyapi, textgen, vllm
from core.engines.base import Engine
from core.errors import SetupError
from core.model.discovery import default_locations
from core.settings.setup import Setup

ENGINES: dict[str, Engine] = {
    e.id: e
    for e in (
        llamacpp.ENGINE,
        ollama.ENGINE,
        lmstudio.ENGINE,
        koboldcpp.ENGINE,
        textgen.ENGINE,
        tabbyapi.ENGINE,
        vllm.ENGINE,
    )
}


def ids() -> tuple[str, ...]:
    return tuple(ENGINES)


def get(engine_id: str) -> Engine:
    try:
        return ENGINES[engine_id]
    except KeyError:
        raise SetupError(
            f"'{engine_id}' is not an engine Quant Doctor knows.", f"Use one of: {', '.join(ENGINES)}."
        ) from None


def of(setup: Setup) -> Engine:
    """The engine a setup runs on."""
    return get(setup.engine)


def register(engine: Engine) -> Engine:
    """Add an engine at run time (a plug-in, a test); its id must be new."""
    if engine.id in ENGINES:
        raise ValueError(f"engine id {engine.id!r} is already registered")
    ENGINES[engine.id] = engine
    return engine


def _log_kinds(e: Engine) -> tuple[str, ...]:
    """The kinds of log that are this engine's: declared, or its id when it marks its lines itself."""
    return e.log_kinds or ((e.id,) if e.log_marks else ())


def declared_log_marks() -> list[tuple[str, tuple[str, ...]]]:
    """(log kind, phrases) of every engine that marks its log lines itself (Engine.log_marks)."""
    return [(_log_kinds(e)[0], e.log_marks) for e in ENGINES.values() if e.log_marks]


def engine_of_log(kind: str | None) -> Engine | None:
    """The engine whose log this is (core.engines.logs names the kind it recognised)."""
    return next((e for e in ENGINES.values() if kind in _log_kinds(e)), None) if kind else None


def log_kind_name(kind: str | None) -> str:
    """How a person calls the program that wrote a log of this kind: the server's own name where the
    engine runs one by that key ("llama-server"), else the engine's ("Ollama"); unknown: llama.cpp."""
    engine = engine_of_log(kind)
    if engine is None:
        return "llama.cpp"
    return next((api.label for api in engine.live if api.key == kind), engine.name)


def effective_ctx(setup: Setup, model_ctx: int | None) -> int:
    """The context the setup's engine really uses for a model trained for `model_ctx` tokens."""
    return of(setup).effective_ctx(setup.run, model_ctx)


# Where core.model.discovery finds models -> the engine that keeps them there.
_ENGINE_OF_PLACE = {"LM Studio": "lm-studio", "Ollama": "ollama", "llama.cpp cache": "llama.cpp"}


def engine_where_found(model_path: str | None, locations: dict[str, list[Path]] | None = None) -> str | None:
    """The engine whose models folder holds `model_path` (LM Studio's models folder, Ollama's blob
    store, llama.cpp's download cache), or None when the file lies anywhere else."""
    if not model_path:
        return None
    try:  # as given (a link in LM Studio's folder counts) and as resolved
        paths = {Path(model_path).absolute(), Path(model_path).resolve()}
    except (OSError, RuntimeError):
        return None
    for place, roots in (locations or default_locations()).items():
        engine_id = _ENGINE_OF_PLACE.get(place)
        for root in roots:
            try:
                if engine_id and any(p.is_relative_to(r) for p in paths for r in (root.absolute(), root.resolve())):
                    return engine_id
            except (OSError, RuntimeError):
                continue
    return None


# Setups whose engine nobody chose: the defaults, or settings typed in (the window's and the CLI's
# engine start at llama.cpp). An imported command or file, or a connected engine, names its own.
UNCHOSEN_SOURCES = ("defaults", "typed in the app", "command-line flags")


def for_model(setup: Setup, model_path: str | None, locations: dict[str, list[Path]] | None = None) -> Setup:
    """A setup whose engine nobody chose runs on the engine the model was found in: a model in LM
    Studio's folder gets LM Studio's fixes and defaults. An imported or connected engine is kept."""
    if setup.source not in UNCHOSEN_SOURCES or setup.engine != "llama.cpp":
        return setup
    found = engine_where_found(model_path, locations)
    if found is None or found == setup.engine:
        return setup
    return replace(setup, engine=found, source=f"{setup.source}, for {get(found).name} (the model is in its folder)")
