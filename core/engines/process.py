"""What an engine's own process carries that its API leaves out: its command line and environment.

llama-server's API does not report the KV cache types or flash attention, but `-ctk q4_0 -fa on`
are on its command line; Ollama's cache type and context come from OLLAMA_* variables in its
server's environment. The process is found by the port it listens on (psutil), read only if it
belongs to the same user (never signalled, never written), and the environment only where the
platform lets a user read it. Anything that cannot be read is said plainly in `notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENV_PREFIXES = ("OLLAMA_", "LLAMA_ARG_")
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
_SECRET_FLAGS = {
    "--api-key",
    "--api-key-file",
    "--password",
    "--ssl-key-file",
    "--hf-token",
    "-hft",
    "--admin-password",
}


@dataclass
class EngineProcess:
    pid: int
    name: str = ""
    cmdline: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # OLLAMA_* and LLAMA_ARG_* only
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
        found.cmdline = hide_secrets(list(proc.cmdline()))
    except (psutil.Error, OSError):
        found.notes.append("Its command line could not be read.")
    try:
        found.env = {k: ("(hidden)" if any(w in k for w in _SECRET_WORDS) else v)
                     for k, v in proc.environ().items() if k.startswith(ENV_PREFIXES)}  # fmt: skip
    except (psutil.Error, OSError):
        found.notes.append("Its environment could not be read on this system.")
    return found


def hide_secrets(cmdline: list[str]) -> list[str]:
    """The command line with API keys and passwords replaced: it is shown, printed and saved in reports."""
    out: list[str] = []
    hide_next = False
    for tok in cmdline:
        flag, eq, _ = tok.partition("=")
        if hide_next:
            out.append("(hidden)")
            hide_next = False
        elif flag in _SECRET_FLAGS and eq:
            out.append(f"{flag}=(hidden)")
        else:
            out.append(tok)
            hide_next = tok in _SECRET_FLAGS
    return out
