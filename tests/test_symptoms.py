"""Listen first (issue 21): the person's symptom weighs the ranking, the headline speaks to it, and what
could not be checked says how to give it. Each symptom has a crafted case whose top finding is the
cause that produces it; one model with two causes ranks whichever the person saw first."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import pytest
from test_differential import ALPACA, CHATML_TOKENS, THINKING, make, qwen
from windowkit import base_model, llama8b, what_if

from core.app.session import Session
from core.checks import registry as checks
from core.cli.main import main
from core.errors import SetupError
from core.settings.setup import Setup
from core.settings.symptoms import NOT_SURE, parse_symptoms, symptom_ids

Q = gguf.GGMLQuantizationType
R1_COMMAND = "llama-server -m {path} --temp 0 -c 32768"


def r1(tmp: Path) -> Path:
    """A DeepSeek-R1-Distill-Qwen-7B-shaped header: a thinking template (it writes <think>)."""
    meta = {"tokenizer.ggml.pre": "qwen2", "tokenizer.ggml.eos_token_id": 3, "tokenizer.ggml.bos_token_id": 1}
    return make(tmp, "DeepSeek R1 Distill Qwen 7B", "qwen2", THINKING, CHATML_TOKENS, meta, n_ctx=131072)


def diagnose_case(path: Path, setup: Setup, symptoms: tuple[str, ...], hardware=None):
    session = Session()
    session.set_setup(setup)
    session.set_symptoms(symptoms)
    session.load_model(str(path))
    if hardware is not None:
        session.set_hardware(hardware)
    return session.diagnose()


def test_r1_loops_at_temperature_zero_from_the_cli(tmp_path: Path, capsys):
    path = r1(tmp_path)
    command = R1_COMMAND.format(path=path)
    assert main(["diagnose", "--from-command", command, "--symptom", "loops", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["symptoms"] == ["loops"]
    assert out["findings"][0]["id"] == "sampling" and out["findings"][0]["status"] == "found"
    assert out["headline"].startswith("For loops, the most likely cause: greedy decoding")
    assert out["setup"]["sampling"]["temperature"] == 0.0  # --temp was read, not dropped


def test_loops_with_no_temperature_known_asks_for_it(tmp_path: Path, capsys):
    path = r1(tmp_path)
    assert main(["diagnose", "--from-command", f"llama-server -m {path} -c 32768", "--symptom", "loops", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    sampling = next(f for f in out["findings"] if f["id"] == "sampling")
    assert sampling["status"] == "not-checked"  # never "fine"
    assert out["headline"] == (
        "Nothing found so far explains loops. Give your temperature (in the Setup page's Sampling box, "
        "or connect to your app) to check it."
    )


def test_the_text_output_says_what_went_wrong(tmp_path: Path, capsys):
    path = r1(tmp_path)
    assert main(["diagnose", "--from-command", R1_COMMAND.format(path=path), "--symptom", "loops"]) == 0
    text = capsys.readouterr().out
    assert "What went wrong: It repeats itself or loops" in text
    assert "=> For loops, the most likely cause: greedy decoding" in text


# -- one crafted case per symptom: its top finding is the cause that produces it ----------------------------


def two_causes(tmp: Path) -> Path:
    """A ChatML model run with an Alpaca template, and with a q4_0 cache at 32K: two warnings."""
    return qwen(tmp, "Qwen2.5 7B Instruct", template=ALPACA, n_ctx=32768)


CASES = {
    "loops": (
        lambda tmp: r1(tmp),
        lambda p: Setup.of(ctx=8192, engine="llama.cpp", sampling={"temperature": 0.0, "source": "your settings"}),
        "sampling",
    ),
    "nonsense": (
        lambda tmp: make(tmp, "Mistral 7B Instruct", qtype=Q.Q2_K, file_type=gguf.LlamaFileType.MOSTLY_Q2_K),
        lambda p: Setup.of(ctx=4096),
        "quant-tier",
    ),
    "forgets": (two_causes, lambda p: Setup.of(ctx=32768, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True), "kv-cache"),
    "ignores-format": (
        two_causes,
        lambda p: Setup.of(ctx=32768, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True),
        "chat-template",
    ),
    "worse-than-original": (
        lambda tmp: make(tmp, "Mistral 7B Instruct", qtype=Q.Q3_K, file_type=gguf.LlamaFileType.MOSTLY_Q3_K_M),
        lambda p: Setup.of(ctx=4096),
        "quant-tier",
    ),
    "lost-finetune": (
        lambda tmp: base_model(tmp / "Llama-3.1-8B.gguf"),
        lambda p: Setup.of(ctx=4096, expected="meta-llama/Llama-3.1-8B-Instruct"),
        "finetune",
    ),
    "memory-crash-slow": (
        lambda tmp: llama8b(tmp / "Llama-3.1-8B-Instruct-Q4_K_M.gguf"),
        lambda p: Setup.of(ctx=131072),
        "vram",
    ),
}


@pytest.mark.parametrize("symptom", list(CASES))
def test_each_symptom_leads_to_its_cause(tmp_path: Path, symptom: str):
    make_model, make_setup, cause = CASES[symptom]
    path = make_model(tmp_path)
    d = diagnose_case(path, make_setup(path), (symptom,), what_if("GeForce RTX 4060"))
    assert d.findings[0].id == cause, [(f.id, f.severity) for f in d.findings[:4]]
    assert d.headline is not None and d.headline.startswith("For ")
    assert checks.get(cause).explains_any((symptom,))


def test_the_symptom_decides_between_two_causes(tmp_path: Path):
    path = two_causes(tmp_path)
    setup = Setup.of(ctx=32768, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True)
    first = {s: diagnose_case(path, setup, (s,)).findings[0].id for s in ("forgets", "ignores-format")}
    assert first == {"forgets": "kv-cache", "ignores-format": "chat-template"}


def test_not_sure_weighs_nothing(tmp_path: Path):
    path = two_causes(tmp_path)
    setup = Setup.of(ctx=32768, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True)
    plain, unsure = diagnose_case(path, setup, ()), diagnose_case(path, setup, (NOT_SURE,))
    assert [f.id for f in plain.findings] == [f.id for f in unsure.findings] and plain.headline == unsure.headline


def test_every_symptom_is_explained_by_some_check_with_a_source():
    for symptom in symptom_ids():
        if symptom == NOT_SURE:
            continue
        links = [e for c in checks.CHECKS.values() for e in c.explains if e.symptom == symptom]
        assert links, symptom
        assert all(e.source.startswith("https://") and e.cause for e in links)


def test_symptoms_are_checked_at_the_door():
    assert parse_symptoms(["Loops", "loops", "forgets"]) == ("loops", "forgets")
    with pytest.raises(SetupError, match="'hallucinates' is not a symptom"):
        parse_symptoms(["hallucinates"])


# -- every import fills the sampler; the window reaches the same answers ----------------------------------


def test_a_modelfile_and_an_lm_studio_config_fill_the_sampler(tmp_path: Path):
    from core.engines.lmstudio import from_lmstudio
    from core.engines.ollama import from_ollama

    s = from_ollama(env={}, modelfile="FROM x\nPARAMETER temperature 0\nPARAMETER repeat_penalty 1.0\n")
    assert (s.sampling.temperature, s.sampling.repeat_penalty, s.unknown) == (0.0, 1.0, [])
    config = tmp_path / "model.json"
    config.write_text(json.dumps({
        "load": {"fields": [{"key": "llm.load.contextLength", "value": 8192}]},
        "operation": {"fields": [
            {"key": "llm.prediction.temperature", "value": 0},
            {"key": "llm.prediction.topKSampling", "value": 40},
            {"key": "llm.prediction.repeatPenalty", "value": {"checked": False, "value": 1.1}},
        ]},
    }))  # fmt: skip
    s = from_lmstudio(config)
    assert (s.sampling.temperature, s.sampling.top_k, s.sampling.repeat_penalty, s.run.n_ctx) == (0.0, 40, 1.0, 8192)


def test_the_window_hears_loops_from_the_setup_page_and_from_an_imported_command(qtbot, tmp_path: Path):
    from windowkit import make_window, wait_diagnosis

    path = r1(tmp_path)
    w = make_window(qtbot, tmp_path)
    w.start_page.symptoms.boxes["loops"].setChecked(True)
    assert w.state.symptoms == ("loops",)
    wait_diagnosis(qtbot, w, lambda: w.state.open_model(str(path)))
    d = w.state.diagnosis
    assert d.headline.startswith("Nothing found so far explains loops. Give your temperature")
    assert next(f for f in d.findings if f.id == "sampling").status == "not-checked"
    w.show_page("setup")
    wait_diagnosis(qtbot, w, lambda: w.setup_page.samplers["temperature"].setValue(0.0))
    d = w.state.diagnosis
    assert d.findings[0].id == "sampling" and d.headline.startswith("For loops, the most likely cause")
    assert w.verdict.text.startswith("For loops, the most likely cause: greedy decoding")
    # the same answer from an imported command: --temp is read, not dropped
    wait_diagnosis(qtbot, w, lambda: w.setup_page.import_command(R1_COMMAND.format(path=path)))
    assert w.state.setup.sampling.temperature == 0.0 and w.setup_page.samplers["temperature"].value() == 0.0
    assert w.state.diagnosis.findings[0].id == "sampling"
    w.show_page("advice")
    assert w.advice_page.lead.isVisibleTo(w.advice_page)
    assert w.advice_page.lead_text.text().startswith("First: Greedy decoding")


def test_the_window_counts_a_pasted_prompt_and_compares_a_pasted_template(qtbot, tmp_path: Path, demo):
    """The Setup page's "What your app sends the model": the prompt counted with the model's own tokenizer
    (llama.cpp, in a child) against the context; the app's template against the file's."""
    from test_differential import ALPACA
    from windowkit import make_window, wait_diagnosis

    w = make_window(qtbot, tmp_path)
    wait_diagnosis(qtbot, w, lambda: w.state.open_model(str(demo.reference)))
    w.show_page("setup")
    wait_diagnosis(qtbot, w, lambda: w.setup_page.ctx.setValue(512))
    w.start_page.symptoms.boxes["forgets"].setChecked(True)
    w.setup_page.prompt.setPlainText("The water cycle moves water between the sea, the air and the land. " * 60)

    def counted() -> bool:
        d = w.state.diagnosis
        return w.state.session.case.prompt is not None and d is not None and d.findings[0].id == "context-truncation"

    qtbot.waitUntil(counted, timeout=60_000)
    count = w.state.session.case.prompt
    assert count.exact and count.tokens > 512  # llama.cpp's own count, beyond the context
    assert w.state.diagnosis.headline.startswith("For long chats falling apart, the most likely cause")
    w.setup_page.template_source.setCurrentIndex(1)
    w.setup_page.app_template.setPlainText(ALPACA)
    qtbot.waitUntil(lambda: any(f.id == "chat-template" and f.is_problem for f in w.state.diagnosis.findings), timeout=30_000)
    f = next(f for f in w.state.diagnosis.findings if f.id == "chat-template")
    assert "Alpaca" in f.title and any("pasted" in e for e in f.evidence)
