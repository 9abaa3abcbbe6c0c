"""What the person sees is what is true (issue 24, item 3): the diagnosed file is the one the engine or the
log ran, by exact path, size or shape — never by a substring — and evidence from another model is refused
(`diagnose FILE --from-log/--from-engine`) or withheld and flagged first (the session, the window, the
reports), never silently applied; a fix names the file diagnosed, never the log's path.

Logs are llama-server's own (tests/fixtures/engines/llamacpp-logs: a real run of the demo model and the
documented sample of a 28-layer Llama 3.2 3B); LM Studio is faked only at its HTTP seam with the answer
shape of its docs (tests/fixtures/engines/lmstudio/SOURCES.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import FIXTURES, fake_engine, json_bytes, routes_for

from core.app.engines import log_setup
from core.app.report import to_markdown, write_diagnosis_report
from core.app.session import Session
from core.cli.main import main
from core.engines.live import connect
from core.errors import EngineLogError

LOGS = FIXTURES / "llamacpp-logs"
SAMPLE_PATH = "/home/alex/models/Llama-3.2-3B-Instruct-Q4_K_M.gguf"  # the 28-layer model of the sample log
DEMO_PATH = "/root/.cache/quantdoctor/demo/SmolLM2-135M-Instruct.Q4_1.gguf"  # the real run's model (30 layers)


def _log_of(tmp_path: Path, source: str, model_path: str | None = None, name: str = "run.log") -> Path:
    """A recorded log, with the model path it names changed to `model_path` (the rest as recorded)."""
    text = (LOGS / source).read_text()
    if model_path is not None:
        text = text.replace(DEMO_PATH, model_path).replace(SAMPLE_PATH, model_path)
    out = tmp_path / name
    out.write_text(text)
    return out


def test_a_log_of_another_model_is_refused_by_diagnose_with_a_plain_message(demo, tmp_path, capsys) -> None:
    """The 80-layer-log case: a log of a 28-layer Llama applied to the 30-layer demo file is refused, exit 2."""
    log = _log_of(tmp_path, "llama-server.sample.log")
    assert main(["diagnose", str(demo.candidates["Q4_0"]), "--from-log", str(log)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "from another model" in err and "28 layers (this file: 30)" in err
    assert "131,072 tokens of training context (this file: 8,192)" in err
    assert SAMPLE_PATH in err and "Fix: Import the log of SmolLM2-135M-Instruct.Q4_0.gguf's run" in err


def test_a_log_of_this_model_is_applied_and_the_fix_names_the_file_diagnosed(demo, tmp_path, capsys) -> None:
    model = str(demo.candidates["Q4_0"])
    log = _log_of(tmp_path, "llama-server.real.lv4.log", model)
    assert main(["diagnose", model, "--from-log", str(log), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["engine"]["other_model"] is None and data["engine"]["log"]["n_layer"] == 30
    assert not any("Not about this model" in n or "names another file" in n for n in data["notes"])
    assert data["setup"]["model_path"] == model


def test_a_log_naming_another_file_of_the_same_shape_is_flagged_and_the_fix_uses_this_file(
    demo, tmp_path, capsys
) -> None:
    """Same layers and training context (a sibling quant whose file is not here): applied, but said first,
    and no copy field carries the log's path."""
    model = str(demo.candidates["Q4_0"])
    elsewhere = "/srv/other-machine/SmolLM2-135M-Instruct.IQ2_XXS.gguf"
    log = _log_of(tmp_path, "llama-server.real.lv4.log", elsewhere)
    assert main(["diagnose", model, "--from-log", str(log), "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["notes"][0].startswith(f"The log run.log names another file ({elsewhere})")
    assert data["engine"]["other_file"] == data["notes"][0] and data["engine"]["log"]["n_layer"] == 30
    assert data["setup"]["model_path"] == model
    commands = [s.get("command") or "" for f in data["findings"] for s in f["fix"]]
    assert not any(elsewhere in c for c in commands)


def test_a_log_of_a_sibling_quant_here_is_refused_by_its_size(demo, tmp_path) -> None:
    """The log ran the Q2_0 next to it: same shape, but the file at the log's path is another size."""
    log = _log_of(tmp_path, "llama-server.real.lv4.log", str(demo.candidates["Q2_0"]))
    with pytest.raises(EngineLogError, match=r"a file of [\d,]+ bytes \(this file: [\d,]+\)"):
        log_setup(str(log), model=str(demo.candidates["Q4_0"]))


def test_the_session_withholds_and_flags_a_log_of_another_model_in_every_view(demo, tmp_path) -> None:
    """The window's path: the log is imported before (or without) the file it ran; the model on screen is
    another. Nothing of the log reaches a check, and the flag leads the notes, the JSON and the reports."""
    setup, evidence = log_setup(str(_log_of(tmp_path, "llama-server.sample.log")))  # its model is not here
    assert evidence.log is not None and evidence.log.offloaded == (20, 29)
    session = Session()
    session.load_model(str(demo.candidates["Q4_0"]))
    assert session.take_settings(setup, evidence) is None  # nothing to open: the log's model is not here
    d = session.diagnose()
    flag = d.notes[0]
    assert flag.startswith("Not about this model: the log run.log is from another model")
    assert "28 layers (this file: 30)" in flag
    assert d.engine.log is None and d.engine.warnings == [] and d.engine.vs_estimate is None
    assert d.setup.model_path == str(demo.candidates["Q4_0"]) and d.setup.command is None
    assert d.to_dict()["engine"]["other_model"] == flag
    assert "Not about this model" in to_markdown(d)
    html = write_diagnosis_report(d, tmp_path / "report.html").read_text()
    assert "Not about this model" in html
    assert not any(SAMPLE_PATH in (s.command or "") for f in d.findings for s in f.fix)


# --- LM Studio: the file it loaded, not the first one whose name contains the key -------------------------


def _lm_studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any]) -> Any:
    """A home with two quants of the model in one LM Studio folder, and LM Studio answering `answer`."""
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / ".lmstudio" / "models" / "lmstudio-community" / "Llama-3.2-3B-Instruct-GGUF"
    folder.mkdir(parents=True)
    (folder / "Llama-3.2-3B-Instruct-IQ2_XXS.gguf").write_bytes(b"GGUF" + b"\0" * 1000)  # sorts first
    (folder / "Llama-3.2-3B-Instruct-Q8_0.gguf").write_bytes(b"GGUF" + b"\0" * 3000)
    routes = routes_for("lmstudio") | {"GET /api/v1/models": json_bytes(answer)}
    return routes, folder


def _v1(**model: Any) -> dict[str, Any]:
    recorded = json.loads((FIXTURES / "lmstudio" / "api_v1_models.json").read_text())
    recorded["models"][0].update(model)
    return recorded


def test_lm_studio_diagnoses_the_file_of_the_size_it_reports(tmp_path, monkeypatch) -> None:
    routes, folder = _lm_studio(tmp_path, monkeypatch, _v1(quantization={"name": "Q8_0", "bits_per_weight": 8},
                                                           size_bytes=3004))  # fmt: skip
    with fake_engine(routes) as (port, _):
        e = connect(f"lmstudio:{port}")
    assert e.setup is not None and e.setup.model_path == str(folder / "Llama-3.2-3B-Instruct-Q8_0.gguf")


def test_lm_studio_without_a_size_takes_the_quantization_as_a_whole_word(tmp_path, monkeypatch) -> None:
    routes, folder = _lm_studio(tmp_path, monkeypatch, _v1(quantization={"name": "Q8_0"}, size_bytes=None))
    with fake_engine(routes) as (port, _):
        e = connect(f"lmstudio:{port}")
    assert e.setup is not None and e.setup.model_path == str(folder / "Llama-3.2-3B-Instruct-Q8_0.gguf")


def test_lm_studio_names_no_file_when_its_answer_does_not_pin_one_down(tmp_path, monkeypatch) -> None:
    """A size that matches neither quant: no file is guessed (the IQ2_XXS sorts first), and it says why."""
    routes, _ = _lm_studio(tmp_path, monkeypatch, _v1(quantization={"name": "Q4_K_M"}, size_bytes=2019377696))
    with fake_engine(routes) as (port, _):
        e = connect(f"lmstudio:{port}")
    assert e.setup is not None and e.setup.model_path is None and e.loaded is not None and e.loaded.path is None
    said = next(m for m in e.missing if "does not pin down" in m)
    assert "2,019,377,696 bytes" in said and "Llama-3.2-3B-Instruct-IQ2_XXS.gguf" in said


def test_diagnose_refuses_an_app_that_runs_another_model(demo, tmp_path, monkeypatch, capsys) -> None:
    """`diagnose FILE --from-engine`: an app whose loaded model was trained for another context is not about FILE."""
    monkeypatch.setenv("HOME", str(tmp_path))
    with fake_engine(routes_for("lmstudio")) as (port, _):
        code = main(["diagnose", str(demo.candidates["Q4_0"]), "--from-engine", f"lmstudio:{port}"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "131,072 tokens of training context (this file: 8,192)" in err
