"""What an engine's own process carries that its API leaves out: its command line and environment.

llama-server's API does not report the KV cache types or flash attention, but `-ctk q4_0 -fa on`
are on its command line; Ollama's cache type and context come from OLLAMA_* variables in its
server's environment. The process is found by the port it listens on (psutil), read only if it
belongs to the same user (never signalled, never written), and the environment only where the
platform lets a user read it. Anything that cannot be read is said plainly in `notes`.

This module is the only reader of another process's command line and environment (tests/test_doors.py
holds it to that), and what it reads passes core.redact first: API keys, tokens, passwords and the
credentials inside URLs never leave here, so no engine, report, JSON or copy field can show them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import redact

ENV_PREFIXES = ("OLLAMA_", "LLAMA_ARG_")


@dataclass
class EngineProcess:
    pid: int
    name: str = ""
    cmdline: list[str] = field(default_factory=list)  # redacted (core.redact.command)
    env: dict[str, str] = field(default_factory=dict)  # OLLAMA_* and LLAMA_ARG_* only, redacted
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "name": self.name, "cmdline": list(self.cmdline), "env": dict(self.env),
                "notes": list(self.notes)}  # fmt: skip


def listening_pid(port: int) -> int | None:
    """The process listening on `port` on this machine, if this user may see it."""
    import psutil

    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):  # macOS needs root for other processes' sockets
        conns = []
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            return int(c.pid)
    return None


ANY_ADDRESSES = ("0.0.0.0", "::")  # listening on every interface, loopback included
MAX_LISTENERS = 32  # a scan knocks on at most this many discovered ports (it must end within seconds)
DENIED_NOTE = (
    "This system did not let Quant Doctor see which ports your apps listen on (macOS asks for administrator "
    "rights for that), so only each app's usual port was tried. If yours uses another one, type its address."
)


@dataclass(frozen=True)
class Listener:
    """A port one of the person's own processes listens on, reachable on loopback, with who listens."""

    host: str  # the loopback address to ask: 127.0.0.1, or ::1 for an IPv6-only socket
    port: int
    pid: int
    name: str


@dataclass
class Listening:
    """What the listening sockets said: the engine-like listeners, and anything worth a plain note."""

    listeners: list[Listener] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    denied: bool = False  # the sockets could not be read at all: only the default ports are known


def looks_like(name: str, cmdline: Iterable[str], words: Iterable[str]) -> bool:
    """Whether a process's name or command line names an engine (`words`: the engines' program names).

    The whole command line counts, not only the program: text-generation-webui and TabbyAPI run as
    `python server.py` / `python main.py` from a folder named after them, vLLM as `python -m vllm...`.
    A false match costs one probe of the port; the engine is still recognised by its answers."""
    text = " ".join([name, *cmdline]).lower()
    return any(w.lower() in text for w in words if w)


def _probe_host(ip: str) -> str | None:
    """The loopback address that reaches a socket bound to `ip`, or None (bound to another interface only)."""
    if ip in ANY_ADDRESSES:
        return "::1" if ip == "::" else "127.0.0.1"
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return None
    if addr.is_loopback:
        return "::1" if addr.version == 6 else "127.0.0.1"
    return None


def _own_connections() -> tuple[list[tuple[int | None, Any]], bool]:
    """Every inet socket this user may see, with its pid: ([(pid, connection)], denied).

    psutil.net_connections() reads the whole system's table; on macOS (and AIX) that needs root and
    raises AccessDenied (psutil's documentation of net_connections), while each of the person's own
    processes can still be asked for its sockets one by one (Process.net_connections)."""
    import psutil

    try:
        return [(c.pid or None, c) for c in psutil.net_connections(kind="inet")], False
    except (psutil.AccessDenied, PermissionError):
        pass
    conns: list[tuple[int | None, Any]] = []
    readable = 0
    try:
        me = psutil.Process().username()
        procs = list(psutil.process_iter(["username"]))
    except (psutil.Error, OSError):
        return [], True
    for proc in procs:
        if proc.info.get("username") != me:
            continue
        try:
            own = proc.net_connections(kind="inet")
        except (psutil.Error, OSError):
            continue
        readable += 1
        conns += [(proc.pid, c) for c in own]
    return conns, readable == 0


def engine_listeners(words: Iterable[str], skip_ports: Iterable[int] = ()) -> Listening:
    """The ports the person's own engine-like processes listen on, on loopback or every interface.

    Only this user's processes count (another user's sockets have no pid here, and their command lines
    are not read); a socket bound to a LAN address only is named in a note, never contacted."""
    import psutil

    words = tuple(words)
    skip = set(skip_ports)
    out = Listening()
    conns, out.denied = _own_connections()
    if out.denied:
        out.notes.append(DENIED_NOTE)
        return out
    try:
        me = psutil.Process().username()
    except (psutil.Error, OSError):
        return out
    seen: dict[int, tuple[str, bool]] = {}  # pid: (name, looks like an engine)
    ports: dict[int, Listener] = {}
    elsewhere: dict[int, str] = {}  # port: a note, for a socket bound to another interface only
    for pid, c in conns:
        if c.status != psutil.CONN_LISTEN or not c.laddr or pid is None or c.laddr.port in skip:
            continue
        if pid not in seen:
            try:
                proc = psutil.Process(pid)
                mine = proc.username() == me
                name = proc.name()
                cmd = command_line(proc) if mine else []
            except (psutil.Error, OSError):
                mine, name, cmd = False, "", []
            seen[pid] = (name, mine and looks_like(name, cmd, words))
        name, engine = seen[pid]
        if not engine:
            continue
        host = _probe_host(c.laddr.ip)
        if host is None:
            elsewhere[c.laddr.port] = (
                f"{name} (process {pid}) listens on port {c.laddr.port} only at {c.laddr.ip}, not on this "
                "machine's loopback: Quant Doctor does not contact other addresses."
            )
            continue
        ports.setdefault(c.laddr.port, Listener(host, c.laddr.port, pid, name))
    out.notes += [note for port, note in sorted(elsewhere.items()) if port not in ports]
    out.listeners = sorted(ports.values(), key=lambda li: li.port)[:MAX_LISTENERS]
    return out


def engine_process(port: int) -> EngineProcess | None:
    """The engine's process (found by its port): command line, and OLLAMA_*/LLAMA_ARG_* variables."""
    import psutil

    pid = listening_pid(port)
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        me = psutil.Process().username()
        owner = proc.username()
        name = proc.name()
    except (psutil.Error, OSError):
        return None
    if owner != me:
        return EngineProcess(
            pid, name, notes=[f"The engine runs as user '{owner}', not as you: its command line and settings "
                              "were not read (Quant Doctor reads only your own processes)."],
        )  # fmt: skip
    found = EngineProcess(pid, name)
    try:
        found.cmdline = command_line(proc)
    except (psutil.Error, OSError):
        found.notes.append("Its command line could not be read.")
    try:
        found.env = environment(proc)
    except (psutil.Error, OSError):
        found.notes.append("Its environment could not be read on this system.")
    return found


# --- the only reads of another process: redacted before anything else sees them -----------------------------


def command_line(proc: Any) -> list[str]:
    """A psutil.Process's command line, redacted (raises psutil.Error / OSError as psutil does)."""
    return redact.command([str(t) for t in proc.cmdline()])


def environment(proc: Any) -> dict[str, str]:
    """A psutil.Process's OLLAMA_* and LLAMA_ARG_* variables, redacted (raises as psutil does)."""
    return redact.environment({k: v for k, v in proc.environ().items() if str(k).startswith(ENV_PREFIXES)})


def child_command_line(pid: int, program: str) -> list[str] | None:
    """The redacted command line of the first child (at any depth) of process `pid` whose program's name
    holds `program` (text-generation-webui's llama-server child), or None."""
    import psutil

    try:
        for child in psutil.Process(pid).children(recursive=True):
            cmd = command_line(child)
            if cmd and program in Path(cmd[0]).name:
                return cmd
    except (psutil.Error, OSError):
        return None
    return None
