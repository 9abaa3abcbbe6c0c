"""A stand-in engine process whose command line and environment hold secrets (tests/test_redact.py).

koboldcpp and text-generation-webui cannot run here, so their processes are stood in for at the seam
psutil reads: a process whose argv has the engine's own shape (argv[0] named as the engine's program,
its flags as its argparse spells them) and whose environment carries OLLAMA_* / LLAMA_ARG_* variables,
serving the engine's recorded answers (tests/engine_fakes.py). text-generation-webui's llama-server
child is a second such process, started by the first (modules/llama_cpp_server.py starts it so).

Run as `python secret_engines.py` with QD_SECRET_KIND (an engine of engine_fakes.routes_for),
QD_SECRET_ROUTES (JSON: extra routes), QD_SECRET_CHILD (JSON: the child's argv); prints its port.
Standard library only: argv[0] is the engine's name, not Python's, so nothing else is assumed found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> None:
    if os.environ.get("QD_SECRET_ROLE") == "child":
        parent = os.getppid()
        while os.getppid() == parent:  # ends with its parent, as llama-server does with text-generation-webui
            time.sleep(0.2)
        return
    from engine_fakes import fake_engine, routes_for

    routes = routes_for(os.environ["QD_SECRET_KIND"])
    routes.update({k: v.encode() for k, v in json.loads(os.environ.get("QD_SECRET_ROUTES") or "{}").items()})
    child = json.loads(os.environ.get("QD_SECRET_CHILD") or "null")
    if child:
        # the test's own interpreter: this one's sys.executable was guessed from an argv[0] that is not Python's
        python = os.environ.get("QD_SECRET_PYTHON") or sys.executable
        subprocess.Popen(child, executable=python, env={**os.environ, "QD_SECRET_ROLE": "child"})
    with fake_engine(routes) as (port, _):
        print(port, flush=True)
        while True:
            time.sleep(60)


if __name__ == "__main__":
    main()
