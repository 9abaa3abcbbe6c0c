"""Find the engines running on this machine and ask each what it runs: the person's settings, untyped.

People run Ollama, LM Studio, koboldcpp, text-generation-webui, TabbyAPI, vLLM or llama-server;
their running app knows its settings exactly. The scan knocks on each engine's default port, on any
port the person's own engine processes listen on (psutil), and on any address they type, on
loopback only, identifies the engine by the *shape* of its answers — not
the port: TabbyAPI answers like koboldcpp and like llama-server, and text-generation-webui shares
port 5000 with it — and turns what it reports into a `Setup`, the model file on disk where it can
be found, and a plain list of what the API does not say (with where that setting lives instead).

Every answer shape below follows the engine's own source or documentation; each fixture in
tests/fixtures/engines/<engine>/ cites the file it follows (SOURCES.md there). The whole scan takes
at most `SCAN_SECONDS`, each request at most one second, and only reads (GET, and Ollama's
read-only POST /api/show): nothing is loaded, unloaded or generated.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait

from core.engines import registry
from core.engines.found import Answers, FoundEngine, LiveApi, ScanResult
from core.engines.loopback import Loopback, loopback_host, parse_url, port_open
from core.engines.process import engine_listeners, engine_process
from core.errors import EngineNotFoundError, QuantDoctorError
from core.textnum import PORT, whole_or_none

SCAN_SECONDS = 2.0


PROBE_SECONDS = 1.0


def identify_paths() -> tuple[str, ...]:
    """Every path some registered engine's recognition reads, each asked once."""
    return tuple(dict.fromkeys(p for api in live_apis().values() for p in api.asks))


def identify(a: Answers) -> str | None:
    """Which engine gave these answers: each registered API's own `recognise`, most specific first
    (SUMMARY of tests/fixtures/engines: the order matters)."""
    for api in sorted(live_apis().values(), key=lambda api: api.precedence):
        if api.recognise is not None and api.recognise(a):
            return api.key
    return None


def live_apis() -> dict[str, LiveApi]:
    """Every kind of server the registered engines run, by key (core.engines.<engine>.ENGINE.live)."""
    return {api.key: api for engine in registry.ENGINES.values() for api in engine.live}


def default_ports() -> tuple[int, ...]:
    return tuple(sorted({p for api in live_apis().values() for p in api.ports}))


def program_words() -> tuple[str, ...]:
    """What every registered engine's process is called (its `programs`, else its key): how a listening
    socket's owner is recognised as an engine before its port is asked anything."""
    return tuple(dict.fromkeys(w for api in live_apis().values() for w in (api.programs or (api.key,))))


def parse_address(text: str) -> tuple[str, int]:
    """(loopback host, port) from what a person types: `8091`, `127.0.0.1:8091`, `http://localhost:8091`,
    `[::1]:8091`. Anything off this machine is refused with a plain error (core.engines.loopback)."""
    t = text.strip()
    if not t:
        raise EngineNotFoundError("Type the address your app listens on.", "For example 8091 or http://127.0.0.1:8091.")
    host, port = parse_url(t, 0)
    if not 0 < port < 65536:
        raise EngineNotFoundError(f"'{text.strip()}' has no port number.", "Add the port, e.g. http://127.0.0.1:8091.")
    return host, port


def kind_named(name: str) -> LiveApi:
    n = name.strip().lower()
    for api in live_apis().values():
        if n == api.key or n in api.aliases:
            return api
    raise EngineNotFoundError(f"'{name}' is not an engine Quant Doctor can connect to.",
                              f"Use one of: {', '.join(live_apis())}.")  # fmt: skip


def probe_port(host: str, port: int, deadline: float, want: str | None = None, read_process: bool = True,
               probe_seconds: float = PROBE_SECONDS) -> tuple[FoundEngine | None, str | None]:  # fmt: skip
    """(the engine on this port, or None; a problem in words, or None)."""
    if not port_open(host, port, min(0.3, deadline - time.monotonic())):
        return None, None
    client = Loopback(host, port, deadline=min(deadline, time.monotonic() + probe_seconds), timeout=probe_seconds)
    paths = identify_paths()
    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        answers = dict(zip(paths, pool.map(client.get, paths), strict=True))
    key = identify(answers)
    if key is None:
        said = sorted({a.describe() for a in answers.values() if a.error or a.status == 200})[:3]
        return None, f"port {port}: something answered, but not like an engine Quant Doctor knows ({'; '.join(said)})"
    kind = live_apis()[key]
    client = Loopback(host, port, deadline=deadline, timeout=probe_seconds)
    found = FoundEngine(key, kind.label, client.url)
    if read_process:
        found.process = engine_process(port)
    try:
        kind.query(client, answers, found, want)
    except EngineNotFoundError:
        raise
    except QuantDoctorError as err:
        found.warnings.append(f"Its settings could not be used: {err.message}")
    except Exception as exc:  # an answer no reader foresaw costs this one server, never the scan
        # Each reader validates the shapes it reads (tests/test_fuzz_engines.py mutates every recorded answer
        # against them); this is the wall behind them: one server, however odd, is one plain note.
        found.setup = None
        found.warnings.append(f"Its answers could not be read ({type(exc).__name__}): its settings were not used.")
    return found, None


def scan(ports: Iterable[int] = (), seconds: float = SCAN_SECONDS, host: str = "127.0.0.1",
         read_process: bool = True, defaults: bool = True, probe_seconds: float = PROBE_SECONDS,
         addresses: Iterable[tuple[str, int]] = (), listening: bool | None = None) -> ScanResult:  # fmt: skip
    """Every engine answering on this machine, within `seconds` (`probe_seconds` a request: the person's
    scan keeps both defaults; slow test machines may widen them).

    Where it looks: each engine's default port (`defaults`), the ports the person's own engine-like
    processes listen on (`listening`, as `defaults` unless given: core.engines.process.engine_listeners),
    `ports` on `host` and `addresses` ((loopback host, port), as `parse_address` gives them). When the
    system will not show the listening sockets, only the default ports are tried and a note says so."""
    start = time.monotonic()
    deadline = start + seconds
    notes: list[str] = []
    todo: dict[int, str] = {}
    for h, p in [*((host, p) for p in (default_ports() if defaults else ())), *((host, p) for p in ports),
                 *addresses]:  # fmt: skip
        todo.setdefault(p, loopback_host(h))
    if defaults if listening is None else listening:
        seen = engine_listeners(program_words(), skip_ports=todo)
        notes += seen.notes
        for li in seen.listeners:
            todo.setdefault(li.port, li.host)
    found: list[FoundEngine] = []
    problems: list[str] = []
    if not todo:
        return ScanResult(found, problems, time.monotonic() - start, notes)
    pool = ThreadPoolExecutor(max_workers=len(todo))
    futures = {pool.submit(probe_port, h, p, deadline, None, read_process, probe_seconds): p for p, h in todo.items()}
    done, late = wait(futures, timeout=max(0.0, deadline - time.monotonic()) + 0.05)
    pool.shutdown(wait=False, cancel_futures=True)  # a straggler's own deadline ends it soon after
    for fut in sorted(done, key=lambda f: futures[f]):
        try:
            engine, problem = fut.result()
        except QuantDoctorError as err:
            engine, problem = None, f"port {futures[fut]}: {err.message}"
        except Exception as exc:  # one source that fails costs that source only
            engine, problem = None, f"port {futures[fut]}: its answers could not be read ({type(exc).__name__})"
        if engine is not None:
            found.append(engine)
        if problem:
            problems.append(problem)
    problems += [f"port {futures[f]}: no answer in time" for f in late]
    return ScanResult(found, problems, time.monotonic() - start, notes, sorted(todo))


def connect(spec: str, seconds: float = 5.0) -> FoundEngine:
    """One engine, from `ollama`, `ollama:llama3.2:3b`, `lmstudio`, `llama-server:http://127.0.0.1:8081`, ...

    Without an address, its default ports are tried, then the ports its own process listens on."""
    name, _, rest = spec.partition(":")
    kind = kind_named(name)
    url: str | None = None
    model: str | None = None
    if rest.startswith(("http://", "https://", "//", "[", "127.", "localhost")) or whole_or_none(rest, PORT):
        url = rest
    elif rest:
        model = rest
    ports = [parse_url(url, kind.ports[0])] if url else [("127.0.0.1", p) for p in kind.ports]
    if not url:  # also wherever this user's own process of that engine listens (llama-server --port 8091)
        seen = engine_listeners(kind.programs or (kind.key,), skip_ports=kind.ports)
        ports += [(li.host, li.port) for li in seen.listeners]
    deadline = time.monotonic() + seconds
    said: list[str] = []
    for host, port in ports:
        # asked for by name: no 2-second scan budget, but each request still ends by the deadline
        found, problem = probe_port(host, port, deadline, model, probe_seconds=seconds)
        if found is not None and (
            found.key == kind.key or (kind.key == "llama-server" and found.key == "llama-cpp-python")
        ):
            return found
        if found is not None:
            said.append(f"port {port} runs {found.label}, not {kind.label}")
        elif problem:
            said.append(problem)
    where = ", ".join(f"{h}:{p}" for h, p in ports)
    raise EngineNotFoundError(
        f"No {kind.label} answered at {where}" + (f" ({'; '.join(said)})" if said else "") + ".",
        f"Start {kind.label} and load the model, or give its address ({kind.key}:http://127.0.0.1:PORT).",
    )
