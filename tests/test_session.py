"""The session layer, headless (core.app): what a person does, with no Qt. An answer that finishes late
never wins, a machine chosen by hand wins over a detection, settings from an app keep what the person
said about their work, and a damaged saved setup is the defaults."""

from __future__ import annotations

import json
from pathlib import Path

from windowkit import llama8b, what_if

from core.app.advice import advice_view
from core.app.session import Session, saved_setup, saved_symptoms
from core.progress import run_job
from core.settings.setup import Setup


def test_a_late_answer_never_wins(tmp_path: Path, demo):
    session = Session()
    first = session.open_model(str(demo.reference))
    second = session.open_model(str(demo.candidates["Q2_0"]))
    later = run_job(second.job())
    earlier = run_job(first.job())
    assert second.apply(later) and not first.apply(earlier)  # the first finished last: dropped
    assert session.case.profile is not None and session.case.profile.path == str(demo.candidates["Q2_0"])
    op = session.diagnose_op()
    assert op is not None
    d = run_job(op.job())
    assert op.apply(d) and session.diagnosis is d and d.findings[0].id == "quant-tier"


def test_a_machine_chosen_by_hand_wins_over_a_detection(demo):
    session = Session()
    detection = session.detect_machine()
    session.set_hardware(what_if("GeForce RTX 4060"))
    assert not detection.apply(what_if("H200"))
    assert session.case.hardware is not None and session.case.hardware.gpus[0].name == "GeForce RTX 4060"
    # "what if I had…" keeps this computer's CPU and RAM; back to this machine as detected
    session.detected = what_if("H200", cpu="Threadripper")
    assert session.choose_machine("GeForce RTX 4090") is not None
    assert session.case.hardware.cpu.model == "Threadripper" and session.what_if == "GeForce RTX 4090"
    assert session.choose_machine(None) is session.detected and session.what_if is None


def test_settings_from_an_app_keep_what_the_person_said(tmp_path: Path):
    model = llama8b(tmp_path / "Llama-3.1-8B-Instruct-Q4_K_M.gguf")
    session = Session()
    session.set_setup(Setup.of(workload="code", expected="meta-llama/Llama-3.1-8B-Instruct"))
    to_open = session.import_settings("command", f"llama-server -m {model} -c 16384 --temp 0.2")
    assert to_open == str(model)  # the command names a model on this computer: open that one
    s = session.case.setup
    assert (s.workload, s.expected, s.run.n_ctx, s.sampling.temperature) == (
        "code", "meta-llama/Llama-3.1-8B-Instruct", 16384, 0.2
    )  # fmt: skip
    session.load_model(to_open)
    assert session.import_settings("command", f"llama-server -m {model} -c 8192") is None  # already open


def test_the_advice_is_decided_in_core(tmp_path: Path):
    session = Session()
    session.load_model(str(llama8b(tmp_path / "Llama-3.1-8B-Instruct-Q4_K_M.gguf")))
    session.set_setup(Setup.of(ctx=131072))
    session.set_hardware(what_if("GeForce RTX 4060"))
    view = advice_view(session.diagnose(), machine_known=True)
    assert view.answer.severity in ("warning", "critical") and "does not fit" in view.answer.text
    assert view.devices and all(d.room.endswith(("can use", "does not fit")) for d in view.devices)
    assert all(o.severity in ("ok", "warning", "critical") and o.text.startswith(o.words) for o in view.options)


def test_what_the_window_saved_is_read_at_the_door():
    good = json.dumps(Setup.of(ctx=8192, engine="ollama").comparable())
    assert saved_setup(good) is not None and saved_setup(good).engine == "ollama"
    assert saved_setup('{"engine": "exllama-classic"}') is None  # an engine this version does not know
    assert saved_setup("{not json") is None and saved_setup('{"ctx": "lots"}') is None
    assert saved_symptoms('["loops", "gone-in-a-later-version", 3, "loops", "forgets"]') == ("loops", "forgets")
    assert saved_symptoms("[[[[") == () and saved_symptoms('{"loops": 1}') == ()
