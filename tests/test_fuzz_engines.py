"""Seeded mutational fuzzing of engine logs and engine answers (issue 24, item 5): every mutation of a
recorded log or a recorded answer ends in a reading (or a plain EngineLogError / not-reported field),
within a time and a memory bound, never a traceback.

Bases are the recorded files of tests/fixtures/engines (their shapes cited in each SOURCES.md): llama-server's
real logs and its documented sample, Ollama's server log, koboldcpp's console, and every engine's live
answers. Mutations change numbers into what no engine prints (`1.2.3`, 400 digits, Unicode digits, 10^21),
cut, repeat and garble lines, and put a value of every wrong JSON type into a random place of an answer.
The answers are served by a fake server at the HTTP seam and read through `probe_port`, the scan's own entry
point; the scan's last wall (a note for an answer no reader foresaw) must never be what caught a case.
"""

from __future__ import annotations

import json
import random
import time
import tracemalloc
from contextlib import ExitStack
from typing import Any

from engine_fakes import FIXTURES, fake_engine, json_bytes, routes_for

from core.engines.evidence import log_evidence
from core.engines.live import probe_port
from core.engines.logs import read_log_text
from core.errors import EngineLogError, EngineNotFoundError

SEED = 2424
LOG_CASES = 240
ANSWER_CASES = 140
CASE_SECONDS = 2.0
CASE_BYTES = 64 * 1024 * 1024  # peak Python allocation of one case (a log is read whole: at most 20 MiB)

LOGS = {
    "llama-server (real, -lv 4)": FIXTURES / "llamacpp-logs" / "llama-server.real.lv4.log",
    "llama-server (real, default)": FIXTURES / "llamacpp-logs" / "llama-server.real.default.log",
    "llama-server (sample)": FIXTURES / "llamacpp-logs" / "llama-server.sample.log",
    "ollama": FIXTURES / "ollama" / "server.log",
    "koboldcpp": FIXTURES / "koboldcpp" / "console.v1.76.txt",
}
NUMBERS = ["1.2.3", "9" * 400, "١٢٣", "٣", "²", "1e999", "-1", "0", "1_000", "1000000000000000000000", "", "NaN",
           "18446744073709551616", ".", "0x10", "4096" * 20]  # fmt: skip
HOSTILE_JSON: list[Any] = [None, 5, -1, 0, True, "x", "", "١٢٣", "1.2.3", 10**400, 1e308, -1e308, [], {}, [None],
                           {"models": None}, "9" * 400, "\x1b]52;c;ZXZpbA==\x07", [[[[[]]]]], {"loaded_instances": 5}]  # fmt: skip


def _mutate_log(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines()
    kind = rng.choice(["numbers", "numbers", "numbers", "cut", "repeat", "garble", "long", "drop", "binary"])
    if kind == "numbers":  # every number of a few lines becomes one no engine prints
        import re

        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(lines))
            lines[i] = re.sub(r"\d+(?:\.\d+)?", lambda _: rng.choice(NUMBERS), lines[i])
    elif kind == "cut":
        lines = lines[: rng.randrange(1, len(lines) + 1)]
        if lines:
            lines[-1] = lines[-1][: rng.randrange(len(lines[-1]) + 1)]
    elif kind == "repeat":
        i = rng.randrange(len(lines))
        lines[i:i] = [lines[i]] * rng.randint(2, 5000)
    elif kind == "garble":
        i = rng.randrange(len(lines))
        chars = list(lines[i])
        for _ in range(rng.randint(1, 10)):
            if chars:
                chars[rng.randrange(len(chars))] = chr(rng.choice([0x202E, 0x1B, 0x661, 0xB2, 0xFFFD, 0x2028, 0x7]))
        lines[i] = "".join(chars)
    elif kind == "binary":  # a log file overwritten by something else: refused as "not a text log"
        lines.insert(rng.randrange(min(5, len(lines))), "\x00" * rng.randint(1, 100))
    elif kind == "long":
        i = rng.randrange(len(lines))
        lines[i] = lines[i] + "9" * rng.choice([400, 5000, 100_000])
    else:
        del lines[rng.randrange(len(lines))]
    return "\n".join(lines), kind


def _bounded(run: Any) -> tuple[Any, float, int]:
    tracemalloc.start()
    start = time.monotonic()
    try:
        result = run()
    finally:
        seconds = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, seconds, peak


def test_mutated_logs_end_in_a_reading_or_a_plain_error() -> None:
    rng = random.Random(SEED)
    texts = {name: path.read_text() for name, path in LOGS.items()}
    outcomes: dict[str, int] = {"read": 0, "refused": 0}
    kinds: set[str] = set()
    unread_numbers = 0
    for case in range(LOG_CASES):
        base = rng.choice(sorted(texts))
        text, kind = _mutate_log(texts[base], rng)
        kinds.add(kind)

        def run(text: str = text) -> str:
            try:
                reading = read_log_text(text, "fuzzed.log")
            except EngineLogError as err:
                assert err.message and err.fix
                return "refused"
            try:
                reading.setup()
            except EngineLogError as err:
                assert err.message
            lines = reading.describe() + log_evidence(reading, None).lines()
            json.dumps(reading.to_dict())
            assert all(isinstance(line, str) for line in lines)
            for value in (reading.n_ctx, reading.n_ctx_seq, reading.n_ctx_train, reading.n_batch):
                assert value is None or 0 <= value <= 100_000_000
            assert all(0 <= b.mib <= 2**30 for b in reading.buffers)
            return "read:" + str(sum("was not read as" in n for n in reading.notes))

        outcome, seconds, peak = _bounded(run)
        assert seconds < CASE_SECONDS, (case, base, kind, seconds)
        assert peak < CASE_BYTES, (case, base, kind, peak)
        if outcome.startswith("read"):
            outcomes["read"] += 1
            unread_numbers += int(outcome.split(":")[1])
        else:
            outcomes["refused"] += 1
    # the run reaches both outcomes, every kind of mutation, and numbers the one door refused
    assert outcomes["read"] > LOG_CASES // 2 and outcomes["refused"] > 0, outcomes
    assert kinds == {"numbers", "cut", "repeat", "garble", "long", "drop", "binary"}
    assert unread_numbers > 20, unread_numbers


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _places(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _places(v, (*path, i))
    return out


def _put(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node[path[0]] = _put(node[path[0]], path[1:], value)
    return node


def test_mutated_engine_answers_are_read_by_their_shape() -> None:
    """One value of every recorded answer replaced by one of the wrong type or size: the reader says "not
    reported" (or names the model it cannot find), it never falls through to the scan's last wall."""
    rng = random.Random(SEED)
    engines = ["ollama", "lmstudio", "koboldcpp", "textgen-webui", "tabbyapi", "vllm", "llama-server"]
    reached: set[str] = set()
    recognised = 0
    with ExitStack() as stack:  # one server per engine; each case swaps one of its answers in place
        served = {name: routes_for(name) for name in engines}
        ports = {name: stack.enter_context(fake_engine(served[name]))[0] for name in engines}
        for case in range(ANSWER_CASES):
            engine = engines[case % len(engines)]
            routes, recorded = served[engine], routes_for(engine)
            routes.update(recorded)
            json_routes = sorted(r for r, body in recorded.items()
                                 if isinstance(body, bytes) and body.lstrip()[:1] in (b"{", b"["))  # fmt: skip
            route = rng.choice(json_routes)
            answer = json.loads(recorded[route])
            place = rng.choice(_places(answer))
            value = rng.choice(HOSTILE_JSON)
            routes[route] = json_bytes(_put(answer, place, value))
            recognised += _probe(ports[engine], (engine, route, place, repr(value)[:40]), reached)
    assert recognised > ANSWER_CASES // 2 and len(reached) >= 6, (recognised, reached)


def _probe(port: int, what: tuple[Any, ...], reached: set[str]) -> int:
    """One mutated engine through the scan's own entry point: 1 when it was recognised and read."""

    def run() -> Any:
        try:
            return probe_port("127.0.0.1", port, time.monotonic() + 10, None, read_process=False, probe_seconds=5)
        except EngineNotFoundError:
            return None, "not found"

    (found, _problem), seconds, peak = _bounded(run)
    assert seconds < 5 * CASE_SECONDS, (what, seconds)
    assert peak < CASE_BYTES, (what, peak)
    if found is None:
        return 0
    reached.add(found.key)
    assert not any("could not be read" in w for w in found.warnings), (what, found.warnings)
    json.dumps(found.to_dict())
    for m in found.models:
        assert isinstance(m.name, str)
        assert m.context is None or 0 < m.context <= 100_000_000, (what, m.context)
        assert m.size_bytes is None or 0 < m.size_bytes <= 2**50, (what, m.size_bytes)
    return 1
