"""Engine answers of the wrong JSON type, numbers no engine prints, and one bad source among good ones
(issue 24, items 1 and 4): a plain note, never a crash, and the other sources still answered.

Engines are faked only at the HTTP seam, with their recorded answer shapes (tests/fixtures/engines/*/SOURCES.md)
changed in one field; logs are the recorded ones with one number changed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import FIXTURES, fake_engine, json_bytes, routes_for

from core.cli.main import main
from core.engines.live import scan
from core.engines.logs import read_log_text
from core.errors import EngineLogError
from core.model.discovery import default_locations, discover

LOG = (FIXTURES / "llamacpp-logs" / "llama-server.real.lv4.log").read_text()


def _recorded(engine: str, name: str) -> Any:
    return json.loads((FIXTURES / engine / name).read_text())


def _ollama(**answers: Any) -> dict[str, Any]:
    routes = routes_for("ollama")
    for path, body in answers.items():
        routes[f"GET /api/{path}"] = json_bytes(body)
    return routes


def test_the_engines_command_lists_the_good_server_and_a_note_for_each_bad_one(tmp_path, monkeypatch, capsys) -> None:
    """Ollama answering `"models": null` and `"models": 5`, LM Studio `loaded_instances: 5`, and a good
    llama-server beside them: `quantdoctor-cli engines` exits 0, lists all three, and says what it could not read."""
    monkeypatch.setenv("HOME", str(tmp_path))
    v1 = _recorded("lmstudio", "api_v1_models.json")
    v1["models"][0]["loaded_instances"] = 5
    lms = routes_for("lmstudio") | {"GET /api/v1/models": json_bytes(v1)}
    ollama = _ollama(tags={"models": None}, ps={"models": 5}) | {"GET /api/tags": json_bytes({"models": []})}
    with fake_engine(ollama) as (o, _), fake_engine(lms) as (m, _), fake_engine(routes_for("llama-server")) as (s, _):
        code = main(["engines", "--port", str(o), "--port", str(m), "--port", str(s), "--seconds", "20", "--json"])
    out = capsys.readouterr()
    assert code == 0 and "Traceback" not in out.err
    found = {int(e["url"].rsplit(":", 1)[1]): e for e in json.loads(out.out)["engines"]}
    assert found[o]["engine"] == "ollama" and found[o]["models"] == []
    assert any("/api/ps answered models of the wrong kind (int)" in w for w in found[o]["warnings"])
    assert found[m]["engine"] == "lm-studio"
    assert any("loaded_instances of the wrong kind for llama-3.2-3b-instruct (int)" in w for w in found[m]["warnings"])
    assert found[s]["engine"] == "llama-server" and found[s]["setup"]["ctx"] == 8192  # the good one, whole


@pytest.mark.parametrize(
    "field, value",
    [("context_length", "4096"), ("context_length", 10**400), ("context_length", True), ("size", -5),
     ("size_vram", 1e308), ("name", {"a": 1}), ("name", None), ("details", [1, 2])],
)  # fmt: skip
def test_an_ollama_model_entry_of_the_wrong_type_is_not_reported(field: str, value: Any) -> None:
    ps = _recorded("ollama", "api_ps.json")
    ps["models"][0][field] = value
    with fake_engine(_ollama(ps=ps)) as (port, _):
        result = scan(ports=[port], defaults=False, read_process=False, seconds=20, probe_seconds=10)
    assert result.problems == [] and len(result.found) == 1
    e = result.found[0]
    assert not any("could not be read" in w for w in e.warnings), e.warnings  # the readers held, not the wall
    for m in e.models:
        assert m.context is None or 0 < m.context <= 100_000_000
        assert m.size_bytes is None or 0 < m.size_bytes <= 2**50


def test_numbers_no_engine_prints_are_left_out_of_a_log_with_a_note() -> None:
    """`1.2.3 MiB`, a 400-digit count, Arabic-Indic digits, a batch of 10^21."""
    text = (
        LOG.replace("CPU_Mapped model buffer size =    92.10 MiB", "CPU_Mapped model buffer size =    1.2.3 MiB")
        .replace("n_layer               = 30", "n_layer               = " + "9" * 400)
        .replace("n_ctx_train           = 8192", "n_ctx_train           = ١٢٣")
        .replace("n_batch               = 2048", "n_batch               = 1000000000000000000000")
    )
    assert text.count("1.2.3 MiB") == 1 and text.count("9" * 400) == 1 and "١٢٣" in text
    r = read_log_text(text, "changed.log")
    assert r.n_layer is None and r.n_ctx_train is None and r.n_batch is None
    assert all(b.mib < 2**30 for b in r.buffers) and not any(b.device == "CPU_Mapped" and b.component == "weights"
                                                             for b in r.buffers)  # fmt: skip
    said = "\n".join(r.notes)
    assert "'1.2.3' was not read as a size (it has more than one decimal point)" in said
    assert "was not read as a layer count (it is too long to be a number (more than 30 digits))" in said
    assert "'\\u0661\\u0662\\u0663' was not read as a context (it uses a digit other than 0-9 (U+0661))" in said
    assert "1 more numbers in the log were not read." in said  # three named, the rest counted
    assert r.n_ctx_seq == 8192 and r.n_ctx == 16384  # the lines with sensible numbers are still read, as recorded


def test_diagnose_from_a_log_with_broken_numbers_exits_0_with_the_rest_read(demo, tmp_path, capsys) -> None:
    model = str(demo.candidates["Q4_0"])
    text = LOG.replace("/root/.cache/quantdoctor/demo/SmolLM2-135M-Instruct.Q4_1.gguf", model)
    log = tmp_path / "broken.log"
    log.write_text(text.replace("n_ctx_seq             = 16384", "n_ctx_seq             = ١٦٣٨٤")
                   .replace("92.10 MiB", "9.2.10 MiB"))  # fmt: skip
    assert main(["diagnose", model, "--from-log", str(log), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any("was not read as a context" in n for n in data["notes"])
    assert any("'9.2.10' was not read as a size" in n for n in data["notes"])


@pytest.mark.parametrize(
    "flag, value, said",
    [("-c", "1.2.3", "-c should be a whole number of tokens, not '1.2.3': it has more than one decimal point."),
     ("-c", "4" * 400, "it is too long to be a number (more than 30 digits)"),
     ("-c", "١٦٣٨٤", "it uses a digit other than 0-9 (U+0661)"),
     ("-c", "1000000000000000000000", "it is larger than a context can be (at most 100,000,000 tokens)"),
     ("-ngl", "²", "-ngl should be a whole number of layers, not '\\u00b2'")],
)  # fmt: skip
def test_a_pasted_command_with_an_impossible_number_is_a_plain_error(demo, capsys, flag, value, said) -> None:
    command = f"llama-server -m {demo.candidates['Q4_0']} {flag} {value}"
    assert main(["diagnose", "--from-command", command]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err


def test_an_ollama_modelfile_number_goes_through_the_door(tmp_path) -> None:
    from core.engines.ollama import from_ollama
    from core.errors import SetupError

    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM x.gguf\nPARAMETER num_ctx 8192\nPARAMETER temperature ٠.٧\nPARAMETER seed 1_000\n")
    s = from_ollama(env={}, modelfile=modelfile)
    assert s.run.n_ctx == 8192 and s.sampling.temperature is None and s.sampling.seed is None
    assert "PARAMETER temperature ٠.٧: not a number" in s.unknown
    with pytest.raises(SetupError, match="OLLAMA_CONTEXT_LENGTH should be a whole number of tokens, not '8k'"):
        from_ollama(env={"OLLAMA_CONTEXT_LENGTH": "8k"})


def test_a_log_of_only_broken_numbers_is_still_a_plain_error_when_unrecognised() -> None:
    with pytest.raises(EngineLogError, match="does not look like a log"):
        read_log_text("n_ctx = 1.2.3\nbuffer size = ١ MiB\n", "noise.log")


# --- model discovery: one unreadable place costs that place only -----------------------------------------


def _unreadable_folder(tmp_path: Path) -> Path:
    """A folder whose look-up fails with EACCES here: a folder without permissions for a normal user, and for
    root (who ignores permissions) another process's root through /proc. One of the two holds on Linux."""
    locked = tmp_path / "locked"
    (locked / "models").mkdir(parents=True)
    os.chmod(locked, 0)
    for candidate in (locked / "models", Path("/proc/1/root/usr/share/ollama/.ollama/models")):
        try:
            candidate.is_dir()
        except PermissionError:
            return candidate
    os.chmod(locked, 0o700)
    raise AssertionError("no folder on this machine refuses to be looked into")


def test_discovery_skips_an_unreadable_place_with_a_note_and_lists_the_rest(demo, tmp_path) -> None:
    """Ubuntu's /usr/share/ollama belongs to the `ollama` user: discovery used to fail whole on it."""
    home = tmp_path / "home"
    lms = home / ".lmstudio" / "models" / "bartowski" / "SmolLM2-GGUF"
    lms.mkdir(parents=True)
    shutil.copy(demo.candidates["Q4_0"], lms / "smol-Q4_0.gguf")
    locked = _unreadable_folder(tmp_path)
    try:
        locations = default_locations(home, platform="linux", environ={}) | {"Ollama": [locked]}
        found = discover(locations)
    finally:
        os.chmod(tmp_path / "locked", 0o700)
    assert [(m.source, m.name) for m in found.models] == [("LM Studio", "bartowski/SmolLM2-GGUF/smol-Q4_0.gguf")]
    assert found.notes == [f"Ollama: {locked} could not be looked into (no permission); its models are not listed. "
                           "Open a model there with Open… if you can read it."]  # fmt: skip


def test_an_ollama_manifest_digest_that_is_not_a_sha256_names_no_file(demo, tmp_path) -> None:
    """A digest is a blob's name in this folder: `../` or anything but sha256:<64 hex> is skipped."""
    root = tmp_path / "ollama"
    (root / "blobs").mkdir(parents=True)
    shutil.copy(demo.candidates["Q4_0"], tmp_path / "outside.gguf")
    manifest = root / "manifests" / "registry.ollama.ai" / "library" / "smol" / "latest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [
        {"mediaType": "application/vnd.ollama.image.model", "digest": "../../outside.gguf"},
        {"mediaType": "application/vnd.ollama.image.model", "digest": 5},
    ]}))  # fmt: skip
    assert discover({"Ollama": [root]}).models == []


def test_an_imported_settings_file_with_an_impossible_context_is_a_plain_error(tmp_path) -> None:
    from core.engines.lmstudio import from_lmstudio
    from core.errors import SetupError

    config = tmp_path / "model.gguf.json"
    config.write_text('{"load": {"fields": [{"key": "llm.load.contextLength", "value": 1000000000000}]}}')
    with pytest.raises(SetupError, match=r"n_ctx should be a whole number from 0 tokens to 100,000,000 tokens"):
        from_lmstudio(config)
