"""A new engine is one module plus one registry line, and nothing else (issue 20, "the build proves
the claim"): the engine of docs/ARCHITECTURE.md, written into a temporary package and registered with one
call, shows up in the CLI, the window's import menu, the scan and the log reader, and the whole suite
parametrized over the registries runs against it in a child pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dropins import ENV
from engine_fakes import fake_engine

from core.cli.main import main
from core.engines import registry as engines
from core.engines.live import scan
from core.engines.logs import read_log_text

ROOT = Path(__file__).resolve().parent.parent


def doc_block(first_line: str) -> str:
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    return next(b for b in doc.split("```python\n")[1:] if b.startswith(first_line)).split("```")[0]


@pytest.fixture
def dropin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The documented engine as a module of its own package, registered with one call."""
    package = tmp_path / "qd_dropins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "exllamav3.py").write_text(doc_block("# core/engines/exllamav3.py"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(engines, "ENGINES", dict(engines.ENGINES))
    import importlib

    module = importlib.import_module("qd_dropins.exllamav3")
    engines.register(module.ENGINE)  # the one registry line
    yield tmp_path
    sys.modules.pop("qd_dropins.exllamav3", None)
    sys.modules.pop("qd_dropins", None)


def test_the_cli_reads_its_settings_and_spells_its_fixes(dropin: Path, demo, capsys):
    config = dropin / "config.yml"
    config.write_text("max_seq_len: 16384\ncache_mode: Q4\n")
    assert main(["diagnose", str(demo.reference), "--from-exl3-config", str(config), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["setup"]["engine"], out["setup"]["ctx"], out["setup"]["cache_type_k"]) == ("exllamav3", 16384, "q4_0")
    kv = next(f for f in out["findings"] if f["id"] == "kv-cache")
    assert any("cache_mode: Q8" in (step["command"] or "").splitlines() for step in kv["fix"])  # its own words


def test_a_scan_recognises_its_server(dropin: Path):
    routes = {"GET /v1/models": json.dumps({"data": [{"id": "m-exl3", "owned_by": "exllamav3", "max_seq_len": 8192}]}).encode()}
    with fake_engine(routes) as (port, _seen):
        result = scan(ports=[port], defaults=False, read_process=False, seconds=5, probe_seconds=2)
    assert [e.key for e in result.found] == ["exllamav3"], result.problems
    found = result.found[0]
    assert found.setup is not None and found.setup.engine == "exllamav3" and found.setup.run.n_ctx == 8192


def test_its_log_is_recognised(dropin: Path):
    log = "exllamav3 server 0.0.9 starting\nllama_context: n_ctx = 4096\n"
    reading = read_log_text(log)
    assert reading.engine == "exllamav3" and reading.setup().engine == "exllamav3"
    assert reading.describe()[0] == "pasted log: a ExLlamaV3 log"


def test_the_window_offers_its_import(dropin: Path, qtbot):
    from gui.pages.setup_page import SetupPage
    from gui.state import AppState

    page = SetupPage(AppState())
    qtbot.addWidget(page)
    entries = [a.text() for a in page.import_button.menu().actions()]
    assert "An ExLlamaV3 config.yml…" in entries and page.engine.findText("exllamav3") >= 0
    config = dropin / "config.yml"
    config.write_text("max_seq_len: 12288\n")
    page.import_with("exl3-config", str(config))
    assert page.state.setup.engine == "exllamav3" and page.state.setup.run.n_ctx == 12288


def test_the_parametrized_suites_run_against_it(tmp_path: Path):
    """The registries', the checks' and the fixes' suites, parametrized over every engine and every check,
    in a child pytest that has the documented engine and check registered before collection
    (tests/dropins.py): one module and one registry call each, nothing else edited."""
    package = tmp_path / "qd_dropins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "exllamav3.py").write_text(doc_block("# core/engines/exllamav3.py"))
    (package / "sampler.py").write_text(doc_block("# core/checks/sampler.py"))
    spec = {"path": str(tmp_path), "engines": ["qd_dropins.exllamav3"], "checks": ["qd_dropins.sampler"]}
    env = {**os.environ, ENV: json.dumps(spec)}
    suites = ["tests/test_registries.py", "tests/test_fix_causes.py", "tests/test_check_suite.py"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "exllamav3 or sampler", *suites],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    passed = int(run.stdout.rsplit(" passed", 1)[0].split()[-1])
    # the engine: every hook, its own facts, every copy field of every cause; the check: every property of
    # the check suite, reached from its declaration
    assert passed >= 3 + 2, run.stdout[-1000:]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider", "-k", "exllamav3 or sampler", *suites],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    ids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert sum("exllamav3" in i for i in ids) == 3 and sum("sampler" in i for i in ids) == passed - 3, ids
