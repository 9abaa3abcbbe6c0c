"""The engine and check registries: every engine gives every hook, and a new engine or check is one
module plus one registry entry (here: registered at run time, as a plug-in would)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from core.checks import registry as checks
from core.checks.base import Check, CheckInput
from core.checks.finding import Finding
from core.cli.main import main
from core.diagnosis import diagnose
from core.engines import koboldcpp, llamacpp, lmstudio, ollama, tabbyapi, textgen, vllm
from core.engines import registry as engines
from core.engines.base import Engine, FixStep, NoFlashAttnCache, ReadsFrom
from core.errors import SetupError
from core.evaluation.compare import Comparison
from core.evaluation.metrics import DomainMetrics
from core.hardware import HardwareProfile, SystemMemory
from core.hardware.catalog import catalog_profile
from core.model.inspection import inspect_model
from core.settings.run import RunSettings
from core.settings.setup import Setup

GIB = 1024**3
MODULES = (llamacpp, ollama, lmstudio, koboldcpp, textgen, tabbyapi, vllm)


# --- engines -----------------------------------------------------------------------------------------


def test_the_registry_lists_every_engine_module_in_menu_order():
    assert engines.ids()[: len(MODULES)] == (
        "llama.cpp", "ollama", "lm-studio", "koboldcpp", "text-generation-webui", "tabbyapi", "vllm"
    )  # fmt: skip  (a drop-in engine follows them)
    assert [engines.get(m.ENGINE.id) for m in MODULES] == [m.ENGINE for m in MODULES]


@pytest.mark.parametrize("engine", list(engines.ENGINES.values()), ids=lambda e: e.id)
def test_every_engine_provides_every_hook(engine: Engine):
    assert engine.name and isinstance(engine.without_flash_attn, NoFlashAttnCache) and engine.without_flash_attn_note
    for cache in ("q8_0", "q4_0", "f16"):
        steps = engine.kv_cache(cache, flash_attn=True)
        assert steps and all(isinstance(s, FixStep) and s.text for s in steps)
    ctx = engine.context(12288)
    assert "12,288" in ctx.text and ctx.command and "12288" in ctx.command
    layers = engine.gpu_layers(17)  # an engine with no layer split by count says what to do instead
    assert "GPU" in layers.text and (layers.command is None or "17" in layers.command)
    assert engine.default_ctx is None or engine.default_ctx > 0
    for r in engine.readers:  # the CLI's --from-<option> and the window's import menu are made of these
        assert r.option and r.menu.endswith("…") and r.help and callable(r.read)
        assert r.source is not ReadsFrom.ENVIRONMENT or r.file_option
    for api in engine.live:  # a scan recognises it by its answers, and asks only paths some engine declared
        assert api.recognise is not None and api.asks and api.ports


def test_reader_options_and_live_keys_are_unique():
    options = [r.option for e in engines.ENGINES.values() for r in e.readers]
    keys = [api.key for e in engines.ENGINES.values() for api in e.live]
    assert len(options) == len(set(options)) and len(keys) == len(set(keys))
    assert len({api.precedence for e in engines.ENGINES.values() for api in e.live}) == len(keys)


def test_the_context_an_engine_really_uses():
    unset, set_ = RunSettings(), RunSettings(n_ctx=2048)
    assert engines.get("llama.cpp").effective_ctx(unset, 131072) == 131072  # -c 0: the model's own
    assert engines.get("llama.cpp").effective_ctx(unset, None) == 4096
    assert engines.get("ollama").effective_ctx(unset, 131072) == 4096
    assert engines.get("koboldcpp").effective_ctx(unset, 131072) == 4096
    assert engines.get("lm-studio").effective_ctx(unset, 131072) == 4096
    assert all(e.effective_ctx(set_, 131072) == 2048 for e in engines.ENGINES.values())


def test_koboldcpp_cache_table_reads_both_ways(tmp_path: Path):
    for n, cache in koboldcpp.QUANTKV.items():
        f = tmp_path / f"{n}.kcpps"
        f.write_text(json.dumps({"quantkv": n, "flashattention": True}))
        s = koboldcpp.from_kcpps(f)
        assert (s.run.cache_type_k, s.run.cache_type_v) == (cache, cache)
        assert (
            koboldcpp.ENGINE.kv_cache(cache, True)[0].command
            == f"koboldcpp --model model.gguf --quantkv {n} --flashattention"
        )
    assert koboldcpp.ENGINE.kv_cache("q5_0", False)[0].command.endswith("--quantkv 1")  # nothing closer: q8_0


def test_an_unknown_engine_is_a_plain_error():
    with pytest.raises(SetupError, match="'exllama-classic' is not an engine") as err:
        engines.of(Setup(engine="exllama-classic"))
    assert "llama.cpp" in err.value.fix


def test_a_registered_engine_shows_up_everywhere(monkeypatch: pytest.MonkeyPatch, demo, capsys):
    monkeypatch.setattr(engines, "ENGINES", dict(engines.ENGINES))
    fake = Engine(
        id="fakerun",
        name="FakeRun",
        default_ctx=1024,
        without_flash_attn=NoFlashAttnCache.K_ONLY,
        without_flash_attn_note="FakeRun keeps V at f16 without flash attention",
        spell=lambda change, base: (
            [FixStep("Start FakeRun with:", f"fakerun --kv {change.cache_type_v}")] if change.cache_type_v else []
        ),
    )
    engines.register(fake)
    assert engines.ids()[-1] == "fakerun" and engines.get("fakerun") is fake
    with pytest.raises(ValueError, match="already registered"):
        engines.register(fake)
    # the check uses its default context and its own wording
    p = inspect_model(demo.reference)
    d = diagnose(p, Setup.of(engine="fakerun", cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=False))
    kv = next(f for f in d.findings if f.id == "kv-cache")
    assert "context 1,024 tokens (fakerun's default)" in kv.evidence
    assert "FakeRun keeps V at f16 without flash attention" in kv.evidence
    assert kv.severity == "info" and [s.command for s in kv.fix] == ["fakerun --kv q8_0"]
    # the CLI offers it (its --engine choices come from the registry)
    assert main(["diagnose", str(demo.reference), "--engine", "fakerun", "-ctk", "q4_0", "-ctv", "q4_0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["setup"]["engine"] == "fakerun"


@pytest.mark.parametrize(
    ("engine", "severity", "words"),
    [("llama.cpp", "critical", "refuses"), ("koboldcpp", "info", "never above 4K"), ("ollama", "info", "4-bit")],
)
def test_each_engine_says_what_it_does_without_flash_attention(demo, engine, severity, words):
    p = inspect_model(demo.reference)
    s = Setup.of(ctx=4096, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=False, engine=engine)
    f = checks.get("kv-cache").run(CheckInput(p, s))
    assert isinstance(f, Finding) and f.severity == severity and words in f.title
    assert engines.get(engine).without_flash_attn_note in f.evidence


@pytest.mark.parametrize("engine", list(engines.ENGINES.values()), ids=lambda e: e.id)
def test_every_engine_is_asked_for_its_own_facts(demo, engine: Engine):
    """The checks ask the engine (its context, its flash-attention behaviour, its words): none names it."""
    p = inspect_model(demo.reference)
    d = diagnose(p, Setup.of(engine=engine.id, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=False))
    kv = next(f for f in d.findings if f.id == "kv-cache")
    assert engine.without_flash_attn_note in kv.evidence
    ctx = engine.effective_ctx(RunSettings(), p.context_length)
    assert any(f"{ctx:,}" in line for line in kv.evidence)
    assert all(step.engine in (None, engine.id) for f in d.findings for step in f.fix)


# --- checks ------------------------------------------------------------------------------------------


def test_the_registry_keeps_the_diagnostic_order_and_hub_fixes():
    ordered = checks.ordered()
    assert sorted(c.id for c in ordered) == sorted(checks.CHECKS) and len(ordered) == len(checks.CHECKS)
    assert [c.order for c in ordered] == sorted({c.order for c in ordered})  # one place each, in order
    # what some checks declare (the parametrized suite in test_check_suite.py covers every one)
    assert {"quant-tier", "finetune", "architecture", "calibration"} <= checks.hub_fixable()
    assert checks.get("vram").requires == {"hardware"}
    assert checks.get("quant-tier").blames_quant and not checks.get("kv-cache").blames_quant
    # the first causes to rule out are the ones that look most like a broken quant
    assert ordered[0].id == "context-truncation" and checks.order_of("quant-tier") < checks.order_of("kv-cache")


def test_a_registered_check_runs_in_diagnose_and_ranks(monkeypatch: pytest.MonkeyPatch, demo):
    monkeypatch.setattr(checks, "CHECKS", dict(checks.CHECKS))
    seen: list[CheckInput] = []

    def run(inputs: CheckInput) -> Finding:
        seen.append(inputs)
        return Finding(id="sampler", severity="warning", title="Temperature 2.0 is too hot", evidence=["temp 2.0"])

    checks.register(Check(id="sampler", order=25, run=run, needs=frozenset(("profile", "setup")), hub_fixable=False))
    with pytest.raises(ValueError, match="order 25 is taken"):
        checks.register(Check(id="other", order=25, run=run))
    with pytest.raises(ValueError, match="already registered"):
        checks.register(Check(id="sampler", order=26, run=run))

    p = inspect_model(demo.reference)  # an f16 file: nothing else is wrong
    m = Comparison("f16", "f16 again", "quant", {"general": DomainMetrics.of(10, 10, 0.001, 0.99)}, [])
    d = diagnose(p, Setup.of(ctx=8192, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True), comparison=m)
    assert seen and seen[0].measurements is None  # it did not declare measurements, so it gets none
    ids = [f.id for f in d.findings]
    # both warnings: the kv-cache check (order 20) before the new one (order 25); then the others (all "ok"
    # on this file) in the diagnostic order: every registered check that needs no machine profile
    assert ids[:2] == ["kv-cache", "sampler"] and [f.rank for f in d.findings[:2]] == [1, 2]
    assert all(f.severity == "ok" for f in d.findings[2:])
    rest = [c.id for c in checks.ordered() if c.id not in ids[:2] and not c.requires]
    unchecked = {f.id for f in d.unchecked}  # fine ones first, then those that could not look, each in order
    assert ids[2:] == [i for i in rest if i not in unchecked] + [i for i in rest if i in unchecked]
    assert d.to_dict()["findings"][1]["title"] == "Temperature 2.0 is too hot"
    # a more severe finding from a later check still ranks first
    checks.CHECKS["sampler"] = dataclasses.replace(
        checks.CHECKS["sampler"],
        run=lambda i: Finding(id="sampler", severity="critical", title="Temperature 9", evidence=[]),
    )
    assert (
        diagnose(p, Setup.of(ctx=8192, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True)).top.id == "sampler"
    )


def test_a_check_that_requires_the_machine_is_skipped_without_one(demo):
    p = inspect_model(demo.reference)
    d = diagnose(p, Setup())
    assert "vram" not in [f.id for f in d.findings] and d.memory is None
    assert "The memory check was skipped: no machine profile was available." in d.notes
    machine = catalog_profile("RTX 4090", HardwareProfile(ram=SystemMemory(64 * GIB, 48 * GIB)))
    d = diagnose(p, Setup(), hardware=machine)
    assert d.memory is not None and next(f for f in d.findings if f.id == "vram").severity == "ok"
    assert not any("skipped" in n for n in d.notes)


def test_a_check_cannot_require_what_it_does_not_need():
    with pytest.raises(ValueError, match="requires"):
        Check(id="x", order=99, run=lambda i: Finding("x", "ok", "t"), requires=frozenset(("hardware",)))


# --- the examples in docs/ARCHITECTURE.md work as written ---------------------------------------------


def _doc_module(first_line: str) -> dict[str, object]:
    doc = (Path(__file__).parent.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = next(b for b in doc.split("```python\n")[1:] if b.startswith(first_line))
    namespace: dict[str, object] = {"__name__": "doc_example"}
    exec(compile(block.split("```")[0], "ARCHITECTURE.md", "exec"), namespace)
    return namespace


def test_the_documented_engine_and_check_work(monkeypatch: pytest.MonkeyPatch, demo):
    monkeypatch.setattr(engines, "ENGINES", dict(engines.ENGINES))
    monkeypatch.setattr(checks, "CHECKS", dict(checks.CHECKS))
    engine = engines.register(_doc_module("# core/engines/exllamav3.py")["ENGINE"])  # type: ignore[arg-type]
    check = checks.register(_doc_module("# core/checks/sampler.py")["CHECK"])  # type: ignore[arg-type]
    assert engines.get("exllamav3") is engine and checks.get("sampler") is check
    p = inspect_model(demo.reference)
    d = diagnose(p, Setup.of(engine="exllamav3", cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=False, ctx=8192))
    fine = [f.id for f in d.findings if f.status == "fine"]
    unchecked = [f.id for f in d.findings if f.status == "not-checked"]
    # every check but kv-cache (the one problem) and vram (no machine), fine ones first, each group in the
    # diagnostic order; the documented sampler had no temperature to look at: not checked, at its order 25
    expected = [c.id for c in checks.ordered() if c.id != "kv-cache" and not c.requires]
    assert fine + unchecked == [i for i in expected if i in fine] + [i for i in expected if i in unchecked]
    assert set(fine + unchecked) == set(expected) and "sampler" in unchecked
    assert unchecked.index("sampler") == 0 or checks.order_of(unchecked[unchecked.index("sampler") - 1]) < 25
    kv = next(f for f in d.findings if f.id == "kv-cache")
    assert "ExLlamaV3 keeps V at f16 without flash attention" in kv.evidence
    assert [s.command for s in kv.fix] == ["cache_mode: Q8"]


def test_llamacpp_reads_parallel_slots_with_a_context():
    # -np splits the context between slots: said, never a crash (it raised KeyError before)
    s = llamacpp.from_command("llama-server -m m.gguf -c 8192 -np 4 -fa on")
    assert s.run.n_ctx == 8192 and s.engine == "llama.cpp"
    assert "--parallel 4: each of the 4 slots gets 2048 tokens" in s.unknown
