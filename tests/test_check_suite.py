"""Every check, from the registry: one suite of properties that each registered check must keep, run on a
range of real inputs (issue 20 items 4 and 5). No check id is listed here: a check added to
core.checks.registry is in this suite at once, and `test_a_new_check_is_one_module_and_one_registry_call`
drops a new check module into a temporary package and runs this whole suite against it.

What the suite holds each check to:
- one entry point, `run(inputs)`, declared by the module's one `CHECK`; no older `check()` beside it;
- its finding carries its own id and a status (found / fine / not checked) that agrees with its severity;
- it reads only the inputs it declares, and runs without each optional one it declares;
- it names no engine: it runs with every registered engine, and no engine id is a string in its source;
- the diagnosis, the Markdown report, the JSON and the CLI's text place it by its status alone.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import io
import json
import sys
import tokenize
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_differential import qwen
from windowkit import what_if

from core.checks import registry as checks
from core.checks.base import OPTIONAL_INPUTS, Check, CheckInput, Outcome
from core.checks.finding import FINE, FOUND, NOT_CHECKED, STATUSES, Finding
from core.checks.measurements import Measurements
from core.cli.diagnose import _print_text
from core.diagnosis import Diagnosis, diagnose
from core.engines import registry as engines
from core.engines.base import FixStep, NoFlashAttnCache
from core.evaluation.compare import Comparison
from core.evaluation.metrics import DomainMetrics
from core.model.inspection import inspect_model
from core.report.diagnosis_report import to_json, to_markdown
from core.settings.observations import Observation, Observations, PromptCount, SamplingSeen
from core.settings.setup import Setup

# --- the inputs every check is run on -----------------------------------------------------------------


def _cases(demo: Any, tmp: Path) -> dict[str, CheckInput]:
    """Real model files and setups that make the checks take their different paths."""
    f16, q2 = inspect_model(demo.reference), inspect_model(demo.candidates["Q2_0"])
    chat = inspect_model(qwen(tmp))  # a ChatML model with a tokenizer and its template
    base = inspect_model(qwen(tmp, name="Qwen2.5 7B", template=None))  # no template: a base model
    heavy = Comparison("f16", "Q2_0", "quant", {"general": DomainMetrics.of(10.0, 13.0, 0.6, 0.55, 512)}, [])
    cache = Comparison(
        "f16 cache", "q4_0 cache", "settings", {"general": DomainMetrics.of(10.0, 10.9, 0.2, 0.8, 512)}, []
    )
    seen = Observations(
        log=[
            Observation("truncating input prompt limit=4096 prompt=9000", "llama.cpp log"),
            Observation("load_tensors: offloaded 20/33 layers to GPU", "llama.cpp log"),
        ],
        prompt=PromptCount(9000, "the model's own tokenizer (llama.cpp)", True),
        sampling=SamplingSeen("your setting", temperature=0.0, repeat_penalty=1.0),
        engine_version="0.6.6",
    )
    cases = {
        "f16-defaults": CheckInput(f16, Setup()),
        "q2-4bit-cache-no-fa": CheckInput(
            q2, Setup.of(ctx=32768, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=False)
        ),
        "on-a-4060": CheckInput(q2, Setup.of(ctx=16384), hardware=what_if("GeForce RTX 4060")),
        "measured-quant": CheckInput(q2, Setup(), measurements=_measured(heavy)),
        "measured-cache": CheckInput(
            f16, Setup.of(cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True), measurements=_measured(cache)
        ),
        "observed": CheckInput(chat, Setup.of(workload="roleplay"), observations=seen),
        "chat-expected": CheckInput(
            chat,
            Setup.of(expected="Qwen/Qwen2.5-7B-Instruct", workload="code"),
            hub_evidence=["the Hub: Qwen/Qwen2.5-7B-Instruct is a fine-tune of Qwen/Qwen2.5-7B"],
        ),
        "base-chatting": CheckInput(base, Setup.of(workload="chat")),
    }
    for engine_id in engines.ids():  # every registered engine, the same settings: checks ask the engine
        setup = Setup.of(engine=engine_id, ctx=8192, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=False)
        cases[f"engine-{engine_id}"] = CheckInput(chat, setup, observations=Observations(engine_version="0.15.6"))
    return cases


_COMPARED: dict[int, Comparison] = {}  # id(Measurements) -> the Comparison it came from (for diagnose)


def _measured(c: Comparison) -> Measurements:
    m = Measurements.of(c)
    _COMPARED[id(m)] = c
    return m


@pytest.fixture(scope="module")
def cases(demo: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, CheckInput]:
    return _cases(demo, tmp_path_factory.mktemp("suite"))


def _run(check: Check, given: CheckInput) -> Finding:
    """What diagnose does: the check sees only what it declared."""
    out = check.run(given.only(check.needs))
    return out.finding if isinstance(out, Outcome) else out


def _runnable(check: Check, given: CheckInput) -> bool:
    return not given.missing(check.requires)


# --- the properties -------------------------------------------------------------------------------------


def one_entry_point(check: Check, given: CheckInput) -> None:
    module = sys.modules[check.run.__module__]
    assert module.CHECK is check and module.run is check.run, "the module's CHECK declares its own run()"
    assert not hasattr(module, "check"), "one entry point: run(inputs), no older check(...) beside it"
    assert list(inspect.signature(check.run).parameters) == ["inputs"]


def finds_under_its_own_id_with_a_status(check: Check, given: CheckInput) -> None:
    f = _run(check, given)
    assert isinstance(f, Finding) and f.id == check.id
    assert f.status in STATUSES and (f.status == FOUND) == f.is_problem
    assert f.title.strip() and (f.evidence or f.why), "a finding says what it saw"
    assert all(isinstance(s, FixStep) and s.text for s in f.fix)
    if f.status == NOT_CHECKED:
        assert f.severity == "ok" and (f.why or f.evidence), "not checked says what was missing"


def reads_only_what_it_declares(check: Check, given: CheckInput) -> None:
    """Given everything or only what it declared, a check concludes the same: its `needs` are true."""
    whole = check.run(given)
    whole = whole.finding if isinstance(whole, Outcome) else whole
    assert whole.to_dict() == _run(check, given).to_dict()


def runs_without_each_optional_input(check: Check, given: CheckInput) -> None:
    """Each optional input it declares may be missing: it then still says something (often "not checked")."""
    for name in OPTIONAL_INPUTS:
        if name in check.needs and name not in check.requires:
            f = _run(check, dataclasses.replace(given, **{name: None}))
            assert f.id == check.id and f.status in STATUSES


def is_the_same_twice(check: Check, given: CheckInput) -> None:
    assert _run(check, given).to_dict() == _run(check, given).to_dict()


def keeps_the_json_keys(check: Check, given: CheckInput) -> None:
    data = json.loads(json.dumps(_run(check, given).to_dict()))
    assert set(data) >= {"id", "severity", "title", "evidence", "why", "fix", "confidence", "rank", "details", "status"}


def names_no_engine(check: Check, given: CheckInput) -> None:
    """No engine id is a string in the check's source (its engine facts come from the Engine declaration);
    and it runs with every registered engine (the cases have one each)."""
    source = Path(inspect.getfile(check.run)).read_text(encoding="utf-8")
    strings = {
        tok.string.strip("\"'")
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.STRING
    }
    assert not strings & set(engines.ids()), f"{check.id} names an engine: {strings & set(engines.ids())}"


def is_placed_by_its_status(check: Check, given: CheckInput) -> None:
    """The diagnosis, the report, the JSON and the CLI's text place the finding by its status alone."""
    d = _diagnosis(given)
    f = next(x for x in d.findings if x.id == check.id)
    assert sorted(x.rank for x in d.findings) == list(range(1, len(d.findings) + 1))
    where = {FOUND: d.problems, FINE: d.fine, NOT_CHECKED: d.unchecked}[f.status]
    assert f in where and d.is_unchecked(f) == (f.status == NOT_CHECKED)
    section = _markdown_section(to_markdown(d), f"check: {check.id} ·")
    assert section == {FOUND: "## What is wrong", FINE: "## Checked — fine", NOT_CHECKED: "## Not checked"}[f.status]
    assert next(x for x in json.loads(to_json(d))["findings"] if x["id"] == check.id)["status"] == f.status
    out = io.StringIO()
    _print_to(out, d)
    line = next(x for x in out.getvalue().splitlines() if x.startswith("[") and f"({check.id}" in x)
    assert line.startswith("[--]") == (f.status == NOT_CHECKED)


SUITE: list[Callable[[Check, CheckInput], None]] = [
    one_entry_point,
    finds_under_its_own_id_with_a_status,
    reads_only_what_it_declares,
    runs_without_each_optional_input,
    is_the_same_twice,
    keeps_the_json_keys,
    names_no_engine,
    is_placed_by_its_status,
]

# diagnose() once per case and set of registered checks (the suite asks for it per check); the case is kept
# beside its diagnosis, so that an id reused by a later object never finds a stale one
_DIAGNOSES: dict[tuple[int, tuple[str, ...]], tuple[CheckInput, Diagnosis]] = {}


def _diagnosis(given: CheckInput) -> Diagnosis:
    key = (id(given), tuple(checks.CHECKS))
    kept = _DIAGNOSES.get(key)
    if kept is None or kept[0] is not given:
        obs = given.observations
        compared = _COMPARED.get(id(given.measurements)) if given.measurements is not None else None
        d = diagnose(given.profile, given.setup, given.hardware, compared, given.hub_evidence,
                     observations=dataclasses.replace(obs) if obs else None)  # fmt: skip
        kept = _DIAGNOSES[key] = (given, d)
    return kept[1]


def _markdown_section(md: str, needle: str) -> str:
    heading = ""
    for line in md.splitlines():
        if line.startswith("## "):
            heading = line
        if needle in line:
            return heading
    raise AssertionError(f"{needle!r} not in the report")


def _print_to(out: io.StringIO, d: Diagnosis) -> None:
    real, sys.stdout = sys.stdout, out
    try:
        _print_text(d)
    finally:
        sys.stdout = real


def run_suite(check: Check, cases: dict[str, CheckInput]) -> int:
    """Every property on every case the check can run on; returns how many it held."""
    held = 0
    for name, given in cases.items():
        if not _runnable(check, given):
            continue
        for prop in SUITE:
            try:
                prop(check, given)
            except AssertionError as err:
                raise AssertionError(f"{check.id} on {name}: {prop.__name__}: {err}") from err
            held += 1
    return held


# --- the suite over the registry --------------------------------------------------------------------------


@pytest.mark.parametrize("prop", SUITE, ids=lambda p: p.__name__)
@pytest.mark.parametrize("check", checks.ordered(), ids=lambda c: c.id)
def test_every_registered_check(check: Check, prop: Callable[[Check, CheckInput], None], cases):
    ran = 0
    for name, given in cases.items():
        if _runnable(check, given):
            try:
                prop(check, given)
            except AssertionError as err:
                raise AssertionError(f"on {name}: {err}") from err
            ran += 1
    assert ran >= 1 and (check.requires or ran == len(cases))  # only a check that requires an input skips a case


@pytest.mark.parametrize("check", checks.ordered(), ids=lambda c: c.id)
def test_every_check_is_reached_from_its_declaration(check: Check):
    """The registry is the one list: the check's own module declares it (core.checks.<its module>, or a
    drop-in's module: tests/test_dropin.py), and it ranks by `order`."""
    import sys

    assert checks.get(check.id) is check and checks.order_of(check.id) == check.order
    assert getattr(sys.modules[check.run.__module__], "CHECK", None) is check


# --- a new check is one module and one registry call --------------------------------------------------------

DROP_IN = '''"""repetition: does the engine's log show the answer repeating itself? (a check dropped in by a test)"""

from __future__ import annotations

from core.checks.base import Check, CheckInput
from core.checks.evidence import quote
from core.checks.finding import NOT_CHECKED, Finding, FixStep

ID = "repetition"
WHY = "An answer that repeats itself looks like a broken quant; the sampler's repeat penalty stops it."


def run(inputs: CheckInput) -> Finding:
    obs = inputs.observations
    if obs is None or not obs.log:
        return Finding(id=ID, severity="ok", title="Not checked: no engine log to read",
                       evidence=["no log lines from the engine"], why=WHY, status=NOT_CHECKED)
    loops = obs.lines("repetition detected")
    if loops:
        return Finding(id=ID, severity="warning", title="The engine's log shows the answer repeating",
                       evidence=[quote(o) for o in loops[:2]], why=WHY, confidence="confirmed",
                       fix=[FixStep("Set a repeat penalty of 1.1 in your app's sampler settings.")])
    return Finding(id=ID, severity="ok", title="No repetition in the engine's log",
                   evidence=[f"{len(obs.log)} log lines read"], why=WHY)


CHECK = Check(id=ID, order=59, run=run, needs=frozenset(("profile", "setup", "observations")))
'''


def test_a_new_check_is_one_module_and_one_registry_call(monkeypatch: pytest.MonkeyPatch, tmp_path, cases):
    package = tmp_path / "more_checks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "repetition.py").write_text(DROP_IN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(checks, "CHECKS", dict(checks.CHECKS))
    module = importlib.import_module("more_checks.repetition")

    checks.register(module.CHECK)  # the one registry line

    assert checks.ordered()[-2:] == [module.CHECK, checks.get("vram")]  # order 59: before the memory check
    # the whole suite, as for a built-in check
    assert run_suite(module.CHECK, cases) == len(SUITE) * len(cases)
    # its three statuses, each shown where it belongs with no edit to the diagnosis, the reports or the CLI
    looping = Observations(log=[Observation("sampler: repetition detected at token 812", "llama.cpp log")])
    for obs, status in ((None, NOT_CHECKED), (Observations(log=[Observation("all is well", "log")]), FINE),
                        (looping, FOUND)):  # fmt: skip
        given = CheckInput(cases["f16-defaults"].profile, Setup(), observations=obs)
        f = _run(module.CHECK, given)
        assert f.status == status
        is_placed_by_its_status(module.CHECK, given)
    d = diagnose(cases["f16-defaults"].profile, Setup(), observations=looping)
    assert (
        d.top is not None
        and d.top.id == "repetition"
        and d.headline == ("Your quant looks fine; the engine's log shows the answer repeating")
    )
    sys.modules.pop("more_checks.repetition", None)
    sys.modules.pop("more_checks", None)


# --- the declarations the diagnosis reads --------------------------------------------------------------------


def test_whether_a_check_blames_the_quant_is_its_declaration(monkeypatch: pytest.MonkeyPatch, demo):
    p = inspect_model(demo.candidates["Q2_0"])  # the quant-tier check finds the file too coarse
    before = diagnose(p, Setup())
    assert before.top is not None and before.top.id == "quant-tier" and before.headline == before.top.title
    monkeypatch.setattr(checks, "CHECKS", dict(checks.CHECKS))
    checks.CHECKS["quant-tier"] = dataclasses.replace(checks.CHECKS["quant-tier"], blames_quant=False)
    after = diagnose(p, Setup())
    assert after.headline is not None and after.headline.startswith("Your quant looks fine; ")


# --- a check that lacked its input says "not checked", never "fine" ---------------------------------------------


def _status(check_id: str, given: CheckInput) -> Finding:
    return _run(checks.get(check_id), given)


def test_what_each_check_could_not_look_at(cases, tmp_path):
    chat, base = cases["observed"].profile, cases["base-chatting"].profile
    # the sampler: nothing known, or penalties without a temperature
    assert _status("sampling", CheckInput(chat, Setup())).status == NOT_CHECKED
    only_penalty = Observations(sampling=SamplingSeen("your setting", repeat_penalty=1.1))
    f = _status("sampling", CheckInput(chat, Setup(), observations=only_penalty))
    assert f.status == NOT_CHECKED and f.title == "Not checked: no temperature known"
    known = Observations(sampling=SamplingSeen("your setting", temperature=0.7))
    assert _status("sampling", CheckInput(chat, Setup(), observations=known)).status == FINE
    # the fine-tune check without the model the person meant (and not a base model chatting)
    assert _status("finetune", CheckInput(chat, Setup())).status == NOT_CHECKED
    assert _status("finetune", cases["chat-expected"]).status == FINE
    # the chat template of a model whose file has none: nothing to compare
    assert _status("chat-template", CheckInput(base, Setup.of(workload="code"))).status == NOT_CHECKED
    assert _status("chat-template", CheckInput(chat, Setup())).status == FINE
    unknown = inspect_model(qwen(tmp_path, name="Odd Chat", template="{{ messages }} and nothing else"))
    assert _status("chat-template", CheckInput(unknown, Setup())).status == NOT_CHECKED
    # the context: nothing to measure against it, for a workload with no rule of thumb
    f = _status("context-truncation", CheckInput(chat, Setup()))
    assert f.status == NOT_CHECKED and "fits" not in f.title
    assert _status("context-truncation", cases["observed"]).status == FOUND
    prompt = Observations(prompt=PromptCount(500, "the model's own tokenizer (llama.cpp)", True))
    assert _status("context-truncation", CheckInput(chat, Setup(), observations=prompt)).status == FINE
    # the offload: no layer count from anywhere
    assert _status("offload", CheckInput(chat, Setup())).status == NOT_CHECKED
    assert _status("offload", CheckInput(chat, Setup.of(n_gpu_layers=99))).status == FINE
    # the memory: an estimate that cannot be made (a model that is not GGUF) is not "fits"
    assert _status("vram", cases["on-a-4060"]).status in (FOUND, FINE)


def test_the_engines_answer_what_the_checks_used_to_test_by_name():
    """The facts that moved from the checks onto the engine declarations keep their values."""
    llama, ollama = engines.get("llama.cpp"), engines.get("ollama")
    assert llama.strips_template_bos and llama.stops_at_end_of_turn_names and llama.default_ctx_for is None
    assert not engines.get("lm-studio").strips_template_bos and not ollama.stops_at_end_of_turn_names
    assert ollama.default_ctx_for is not None
    assert ollama.default_ctx_for("0.6.6", None) == (2048, "Ollama 0.6.6's default context")
    assert ollama.default_ctx_for("0.15.5", 32)[0] == 32768 and "drops the front" in ollama.overflow_words
    assert not llama.overflow_words


@pytest.mark.parametrize("engine_id", ["tabbyapi", "vllm"])
def test_exllama_and_vllm_run_a_quantized_cache_without_flash_attention(engine_id, demo):
    """Not llama.cpp's refusal: TabbyAPI (ExLlama dequantizes its cache before attention) and vLLM (it picks
    a backend that reads its fp8 cache) run the cache as set, so the finding is the cache's precision alone."""
    setup = Setup.of(engine=engine_id, ctx=4096, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=False)
    f = _status("kv-cache", CheckInput(inspect_model(demo.reference), setup))
    engine = engines.get(engine_id)
    assert engine.without_flash_attn is NoFlashAttnCache.UNAFFECTED and engine.without_flash_attn_note in f.evidence
    assert f.severity == "info" and "refuses" not in f.title and "not in effect" not in f.title
    assert "flash_attn" not in {name for s in f.fix for name, _ in s.sets}  # nothing to turn on
    llama = _status(
        "kv-cache", CheckInput(inspect_model(demo.reference), dataclasses.replace(setup, engine="llama.cpp"))
    )
    assert llama.severity == "critical" and "refuses" in llama.title
