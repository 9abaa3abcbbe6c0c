"""Drop-in engines and checks for the proof that one is "one module plus one registry line".

tests/test_dropin.py writes modules into a temporary package and runs the parametrized suites in a
child pytest with `QD_DROPINS` set; conftest.py calls `register_dropins()` before collection, so every
test parametrized over the registries is collected for the drop-ins too.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

ENV = "QD_DROPINS"  # JSON: {"path": folder on sys.path, "engines": [modules], "checks": [modules]}


def register_dropins() -> list[str]:
    """Import and register the drop-ins named in the environment (one registry call each); their ids."""
    spec = os.environ.get(ENV)
    if not spec:
        return []
    from core.checks import registry as checks
    from core.engines import registry as engines

    data = json.loads(spec)
    sys.path.insert(0, data["path"])
    ids = []
    for name in data.get("engines", []):
        ids.append(engines.register(importlib.import_module(name).ENGINE).id)
    for name in data.get("checks", []):
        ids.append(checks.register(importlib.import_module(name).CHECK).id)
    return ids
