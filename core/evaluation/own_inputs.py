"""The person's own texts and prompts: what went wrong for *them*, measured like the shipped sets.

A text is scored for PPL / KLD / top-1 with llama-perplexity's chunking (`-c`), so it must hold at
least two chunks of tokens, as llama-perplexity demands ("you need at least 2*n_ctx tokens"); that
is checked in the worker, which has the tokenizer. Everything that can be checked without a model
is checked here, before anything loads: the file exists, is not empty, not binary, not enormous
(read with a bound, so a 40 GB file picked by mistake costs nothing). Files are read through the one
file door (core.files: a FIFO, a device, `~nosuchuser`, a read error are plain errors) and a JSON
prompts file through the one JSON door (core.jsonfile: bounded depth, no NaN, no duplicate keys).
"""

from __future__ import annotations

import re
from pathlib import Path

from core import jsonfile
from core.errors import EvaluationSetupError
from core.evaluation.domains import ALIASES, DOMAINS, Prompt
from core.files import read_limited, stat_path, user_path

MAX_TEXT_BYTES = 8 * 1024 * 1024  # ~2 million tokens: hours of scoring on a CPU; more is a mistake
MAX_PROMPTS_BYTES = 1024 * 1024
OWN_PROMPTS_DOMAIN = "mine"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


def _read_bounded(path: Path, limit: int, what: str) -> str:
    path = user_path(path, EvaluationSetupError)
    if stat_path(path, f"a {what}", EvaluationSetupError).st_size > limit:
        raise EvaluationSetupError(
            f"The {what} {path.name} is larger than {limit // (1024 * 1024)} MB: too much to score on this machine.",
            "Give a part of it: a few thousand words of the kind of text that went wrong are enough.",
        )
    data = read_limited(path, limit, f"a {what}", EvaluationSetupError)  # a FIFO, a folder, a read error: plain
    if b"\x00" in data:
        raise EvaluationSetupError(
            f"The {what} {path.name} is not text (it holds binary data).",
            "Give a plain-text file (.txt, .md, source code); save a document as plain text first.",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvaluationSetupError(
            f"The {what} {path.name} is not UTF-8 text (byte {exc.start} cannot be read).",
            "Save the file as UTF-8 plain text and try again.",
        ) from exc
    if not text.strip():
        raise EvaluationSetupError(f"The {what} {path.name} is empty.", "Pick a file with some text in it.")
    return text


def parse_text_spec(spec: str) -> tuple[str, Path]:
    """`NAME=FILE` (or a bare FILE, named after its stem) as given to `compare --text`."""
    name, sep, file = spec.partition("=")
    if not sep:
        name, file = Path(spec).stem, spec
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise EvaluationSetupError(
            f"'{name}' cannot name a text: use letters, digits, '-', '_' or '.', at most 40.",
            "Write it as --text mydocs=notes.md",
        )
    if name.lower() in DOMAINS or name.lower() in ALIASES:
        raise EvaluationSetupError(
            f"'{name}' is the name of a built-in domain.", f"Name your text differently, e.g. --text my{name}={file}"
        )
    return name, Path(file)


def read_own_texts(specs: list[str]) -> dict[str, str]:
    """{name: text} for `--text NAME=FILE` options, read the way llama-perplexity -f reads a file."""
    out: dict[str, str] = {}
    for spec in specs:
        name, path = parse_text_spec(spec)
        if name in out:
            raise EvaluationSetupError(f"Two texts are named '{name}'.", "Give each --text its own name.")
        out[name] = _read_bounded(path, MAX_TEXT_BYTES, "text file").removesuffix("\n")
    return out


def own_text(name: str, text: str) -> tuple[str, str]:
    """A pasted or picked text checked like a file's (the window's "Add a text file…")."""
    if not text.strip():
        raise EvaluationSetupError(f"The text '{name}' is empty.", "Paste or pick some text.")
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise EvaluationSetupError(f"The text '{name}' is too large to score here.", "Use a few thousand words.")
    return name, text


def prompts_from(prompts: list[str], prompts_file: str | None) -> list[Prompt]:
    """`--prompt` texts and a `--prompts FILE` (one a line, or JSON) as prompts of the 'mine' domain."""
    items: list[tuple[str, str | None]] = [(p, None) for p in prompts]
    if prompts_file:
        items += _prompts_file(Path(prompts_file))
    out = []
    for i, (text, system) in enumerate(items, start=1):
        if not text.strip():
            raise EvaluationSetupError(f"Prompt {i} is empty.", "Give each --prompt some text.")
        out.append(Prompt(f"{OWN_PROMPTS_DOMAIN}-{i}", OWN_PROMPTS_DOMAIN, text, text, system))
    return out


def _prompts_file(path: Path) -> list[tuple[str, str | None]]:
    """JSON (a list of strings or of {"prompt", "system"}; or {"system", "prompts": [...]}) or one prompt a line."""
    raw = _read_bounded(path, MAX_PROMPTS_BYTES, "prompts file")
    if raw.lstrip()[:1] not in ("[", "{"):
        return [(line.strip(), None) for line in raw.splitlines() if line.strip()]
    data = jsonfile.loads(
        raw,
        f"The prompts file {path.name}",
        EvaluationSetupError,
        expect=None,
        max_bytes=MAX_PROMPTS_BYTES,
        fix='Write a list, e.g. ["first prompt", {"prompt": "second", "system": "You are terse."}], '
        "or one prompt a line.",
    )
    default_system = None
    if isinstance(data, dict):
        default_system = data.get("system")
        data = data.get("prompts")
    if not isinstance(data, list) or not data:
        raise EvaluationSetupError(f"The prompts file {path.name} holds no prompts.", 'Write {"prompts": [...]}.')
    out: list[tuple[str, str | None]] = []
    for item in data:
        if isinstance(item, str):
            out.append((item, default_system))
        elif isinstance(item, dict) and isinstance(item.get("prompt"), str):
            system = item.get("system", default_system)
            out.append((item["prompt"], str(system) if system is not None else None))
        else:
            raise EvaluationSetupError(
                f'The prompts file {path.name} has an entry that is neither a text nor {{"prompt": ...}}: {item!r:.80}.',
                'Each entry is "a prompt" or {"prompt": "...", "system": "..."}.',
            )
    return out
