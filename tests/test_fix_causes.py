"""Each finding's why and fix follow the cause that fired, and every fix is the person's own (issue 16
items 3 and 4).

The general defence: for every check and each of its causes, the fix sets only settings that are
actually wrong, never to the value the person already has, and a corrected llama.cpp command differs
from the person's own only in those flags. Every copy field of every engine pastes as it is.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from test_differential import ALPACA, CHATML, LLAMA3_BOS, LLAMA3_TOKENS, make, qwen
from windowkit import what_if

from core.checks.finding import Finding
from core.diagnosis import diagnose
from core.engines import llamacpp, paste
from core.engines import registry as engines
from core.engines.base import Change, CopyKind, FixBase, FixStep
from core.model.inspection import inspect_model
from core.settings.observations import Observation, Observations, PromptCount
from core.settings.sampling import Sampling
from core.settings.setup import Setup

COMMAND = "llama-server -m {model} --port 8080 -t 8 {flags}"

# (current value in the Setup, as a fix would write it) for the settings a fix may set
_CURRENT = {
    "n_ctx": lambda s: str(s.run.n_ctx) if s.run.n_ctx else None,
    "cache_type_k": lambda s: s.run.cache_type_k,
    "cache_type_v": lambda s: s.run.cache_type_v,
    "flash_attn": lambda s: s.run.flash_attn.value,
    "n_gpu_layers": lambda s: str(s.run.n_gpu_layers) if s.run.n_gpu_layers is not None else None,
    "temperature": lambda s: f"{s.sampling.temperature:g}" if s.sampling.temperature is not None else None,
    "repeat_penalty": lambda s: f"{s.sampling.repeat_penalty:g}" if s.sampling.repeat_penalty is not None else None,
}
# llama.cpp's flags for those settings (what a corrected command may change)
_FLAGS = {
    "-c": "n_ctx", "--ctx-size": "n_ctx", "-ctk": "cache_type_k", "--cache-type-k": "cache_type_k",
    "-ctv": "cache_type_v", "--cache-type-v": "cache_type_v", "-fa": "flash_attn", "--flash-attn": "flash_attn",
    "-ngl": "n_gpu_layers", "--temp": "temperature", "--repeat-penalty": "repeat_penalty",
    "--rope-scaling": "rope_scaling", "--jinja": "jinja", "--chat-template": "chat_template",
    "--chat-template-file": "chat_template", "-r": "stop",
}  # fmt: skip


def _flag_values(command: str) -> dict[str, str]:
    tokens = shlex.split(command)
    out: dict[str, str] = {}
    for i, t in enumerate(tokens):
        if t.startswith("-"):
            nxt = tokens[i + 1] if i + 1 < len(tokens) and not tokens[i + 1].startswith("-") else ""
            out[t] = nxt
    return out


def assert_fix_follows_the_cause(f: Finding, setup: Setup) -> None:
    """The general defence: a fix sets nothing to the value in use, and a corrected command changes
    only the flags of the settings the step says it sets."""
    for step in f.fix:
        assert paste.problems(step) == [], (f.id, step)
        for name, value in step.sets:
            current = _CURRENT.get(name, lambda s: None)(setup)
            assert value != current, f"{f.id}: recommends {name}={value}, which the person already has"
        if setup.command and step.copy_kind is CopyKind.COMMAND and step.engine == "llama.cpp":
            before, after = _flag_values(setup.command), _flag_values(step.command or "")
            changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
            named = {_FLAGS.get(k, k) for k in changed}
            assert named <= {n for n, _ in step.sets}, f"{f.id}: the command changes {named}, the step says {step.sets}"
            assert all(k in after for k in before), f"{f.id}: the person's own flags were dropped"


def run(path: Path, setup: Setup, obs: Observations | None = None, hardware: Any = None) -> dict[str, Finding]:
    d = diagnose(inspect_model(path), setup, hardware, observations=obs)
    for f in d.findings:
        assert_fix_follows_the_cause(f, d.setup)
    return {f.id: f for f in d.findings}


def cmd(model: Path, flags: str) -> Setup:
    return llamacpp.from_command(COMMAND.format(model=shlex.quote(str(model)), flags=flags))


def sets(f: Finding) -> set[str]:
    return {name for step in f.fix for name, _ in step.sets}


# --- the kv-cache check, cause by cause -------------------------------------------------------------


def test_context_beyond_training_with_an_f16_cache_changes_only_the_context(demo):
    """The case seen in issue 16: fix 1 said to switch the cache to q8_0, why talked about a 4-bit cache."""
    f = run(demo.reference, cmd(demo.reference, "-c 32768 -fa on"))["kv-cache"]
    assert f.severity == "warning" and "longer than the 8,192" in f.title
    assert sets(f) == {"n_ctx"} and f.fix[0].sets == (("n_ctx", "8192"),)
    assert "4-bit" not in f.why and "q8_0" not in f.why and "8,192" in f.why
    assert f.fix[0].command == f"llama-server -m {demo.reference} --port 8080 -t 8 -c 8192 -fa on"


def test_a_4bit_cache_changes_only_the_cache(demo):
    f = run(demo.reference, cmd(demo.reference, "-c 8192 -ctk q4_0 -ctv q4_0 -fa on"))["kv-cache"]
    assert sets(f) == {"cache_type_k", "cache_type_v"}
    assert "K and V halves at 4-bit" in f.why and "trained" not in f.why
    assert f.fix[0].command == f"llama-server -m {demo.reference} --port 8080 -t 8 -c 8192 -ctk q8_0 -ctv q8_0 -fa on"


def test_only_the_low_half_of_the_cache_is_raised(demo):
    f = run(demo.reference, cmd(demo.reference, "-c 8192 -ctv q4_0 -fa on"))["kv-cache"]
    assert sets(f) == {"cache_type_v"}  # K is f16 already: never "lowered" to q8_0
    assert "V half" in f.why and "K and V" not in f.why


def test_a_quantized_v_cache_without_flash_attention_turns_it_on(demo):
    f = run(demo.reference, cmd(demo.reference, "-c 4096 -ctk q8_0 -ctv q8_0 -fa off"))["kv-cache"]
    assert f.severity == "critical" and sets(f) == {"flash_attn"}
    assert "flash attention" in f.why and "4-bit" not in f.why
    assert f.fix[0].command.endswith("-fa on")


def test_ollama_ignoring_a_4bit_cache_needs_q8_0_before_flash_attention(demo):
    setup = Setup.of(engine="ollama", ctx=8192, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=False)
    f = run(demo.reference, setup)["kv-cache"]
    assert "not in effect" in f.title and sets(f) == {"cache_type_k", "cache_type_v", "flash_attn"}
    assert [s.command for s in f.fix] == ["OLLAMA_KV_CACHE_TYPE=q8_0\nOLLAMA_FLASH_ATTENTION=1"]


def test_a_measured_loss_with_a_q8_0_cache_recommends_f16_not_q8_0(demo):
    from core.evaluation.compare import Comparison
    from core.evaluation.metrics import DomainMetrics

    def m(kld: float, top1: float) -> DomainMetrics:
        return DomainMetrics(10.0, 10.0 * (1 + kld), 1 + kld, kld, kld * 5, top1, 0.01, 500)

    setup = cmd(demo.reference, "-c 4096 -ctk q8_0 -ctv q8_0 -fa on")
    # the same file with an f16 cache as the reference and the person's q8_0 cache as the candidate
    measured = Comparison("f16 cache", "your cache", "settings", {"general": m(0.2, 0.8)}, [])
    d = diagnose(inspect_model(demo.reference), setup, comparison=measured)
    f = next(x for x in d.findings if x.id == "kv-cache")
    assert_fix_follows_the_cause(f, setup)
    assert f.confidence == "confirmed-by-measurement" and dict(f.fix[0].sets) == {
        "cache_type_k": "f16",
        "cache_type_v": "f16",
    }
    assert "Measured on this model" in f.why and "4-bit" not in f.why


# --- the other checks, cause by cause --------------------------------------------------------------


def test_context_truncation_sets_a_larger_context_in_the_engines_words(demo):
    prompt = Observations(prompt=PromptCount(6000, "llama.cpp's tokenizer", True))
    f = run(demo.reference, Setup.of(engine="ollama"), prompt)["context-truncation"]
    assert f.severity == "critical" and sets(f) == {"n_ctx"} and f.fix[0].command == "PARAMETER num_ctx 8192"
    assert "6,000 tokens" in f.why and "Ollama drops the front" in f.why
    own = cmd(demo.reference, "-c 8192")
    f = run(demo.reference, own, Observations(prompt=PromptCount(9000, "llama.cpp's tokenizer", True)))
    cut = f["context-truncation"]
    assert sets(cut) == set() and "already the 8,192 tokens" in cut.fix[0].text  # nothing larger to set


def test_rope_beyond_training_and_yarn_where_none_is_needed(tmp_path):
    plain = make(tmp_path, "Llama 3 8B Instruct", template=CHATML)
    f = run(plain, cmd(plain, "-c 16384 -fa on"))["rope"]
    assert sets(f) == {"n_ctx"} and "16,384" in f.why and "YaRN" not in f.why
    yarn = qwen(tmp_path, "Qwen3 8B YaRN", meta={"qwen2.rope.scaling.type": "yarn", "qwen2.rope.scaling.factor": 4.0,
                                                  "qwen2.rope.scaling.original_context_length": 32768}, n_ctx=131072)  # fmt: skip
    f = run(yarn, cmd(yarn, "-c 8192"))["rope"]
    assert sets(f) == {"rope_scaling"} and "YaRN" in f.why and f.fix[0].command.endswith("--rope-scaling none")


@pytest.mark.parametrize(
    ("sampling", "wanted", "words"),
    [(Sampling(temperature=2.0), {"temperature": "0.7"}, "Your temperature is 2"),
     (Sampling(temperature=0.7, repeat_penalty=1.0), {"repeat_penalty": "1.1"}, "repeat penalty is 1")],
)  # fmt: skip
def test_sampling_sets_only_the_setting_at_fault(demo, sampling, wanted, words):
    setup = Setup(**{**vars(cmd(demo.reference, "-c 4096")), "sampling": sampling})
    f = run(demo.reference, setup)["sampling"]
    assert dict(s for step in f.fix for s in step.sets) == wanted and words in f.why


def test_chat_template_and_bos_fixes_follow_their_cause(tmp_path):
    alpaca = qwen(tmp_path, "Qwen2.5 7B Alpaca Instruct", template=ALPACA)
    f = run(alpaca, cmd(alpaca, "-c 4096"))["chat-template"]
    assert "Alpaca" in f.why and "ChatML" in f.why and f.fix[0].command.endswith("--jinja --chat-template chatml")
    ollama = run(
        alpaca, Setup.of(engine="ollama"), Observations(engine_template=Observation(ALPACA, "Ollama /api/show"))
    )
    assert ollama["chat-template"].fix[0].copy_kind is CopyKind.MODELFILE
    meta = {"tokenizer.ggml.pre": "llama-bpe", "tokenizer.ggml.bos_token_id": 0, "tokenizer.ggml.add_bos_token": True}
    bos = make(tmp_path, "Llama 3.1 8B Instruct", template=LLAMA3_BOS, tokens=LLAMA3_TOKENS, meta=meta)
    f = run(bos, Setup.of(engine="lm-studio"))["tokenizer"]
    assert "two" in f.why and "pre-tokenizer" not in f.why


def test_calibration_why_names_the_data_and_the_work(tmp_path):
    from foldermaker import make_folder

    gptq = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128, "dataset": "wikitext2"})
    f = run(gptq, Setup.of(workload="code"))["calibration"]
    assert f.severity == "warning" and "wikitext2" in f.why and "code" in f.why
    chat = run(gptq, Setup.of(workload="chat"))["calibration"]
    assert chat.severity == "ok" and "wikitext2" in chat.why and "rounded harder" not in chat.why


def test_the_memory_options_set_only_what_differs(tmp_path):
    from windowkit import llama8b

    model = llama8b(tmp_path / "Llama-3.1-8B-Instruct-Q4_K_M.gguf")
    setup = cmd(model, "-c 32768 -fa on")
    f = run(model, setup, hardware=what_if("NVIDIA GeForce RTX 4060"))["vram"]
    assert f.is_problem and any(s.command for s in f.fix)
    assert all(s.command.startswith(f"llama-server -m {model} --port 8080 -t 8") for s in f.fix if s.command)


# --- the engine: where the model was found, or the person's own --------------------------------------


def test_a_model_in_lm_studios_folder_gets_lm_studio_fixes(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / ".lmstudio" / "models" / "HuggingFaceTB" / "SmolLM2"
    folder.mkdir(parents=True)
    model = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    model.symlink_to(demo.reference)  # the path says where it was found
    d = diagnose(inspect_model(model), Setup())
    assert d.setup.engine == "lm-studio" and "LM Studio" in d.setup.source
    typed = diagnose(inspect_model(model), Setup.of(ctx=32768, source="typed in the app"))
    assert typed.setup.engine == "lm-studio" and typed.setup.run.n_ctx == 32768
    kv = next(f for f in typed.findings if f.id == "kv-cache")
    assert [s.command for s in kv.fix] == ["Context Length: 8192"]
    pasted = diagnose(inspect_model(model), cmd(model, "-c 32768"))
    assert pasted.setup.engine == "llama.cpp"  # their own llama-server command: their engine
    assert engines.engine_where_found(str(tmp_path / "elsewhere.gguf")) is None
    blob = tmp_path / ".ollama" / "models" / "blobs" / "sha256-abc"
    assert engines.engine_where_found(str(blob)) == "ollama"


def test_an_lm_studio_context_fix_names_its_own_setting(demo):
    f = run(demo.reference, Setup.of(engine="lm-studio", ctx=32768))["kv-cache"]
    assert [(s.command, s.copy_kind) for s in f.fix] == [("Context Length: 8192", CopyKind.SETTING)]


# --- every copy field of every engine pastes as it is ----------------------------------------------

CHANGES = [
    Change(n_ctx=8192),
    Change(cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True),
    Change(cache_type_v="f16"),
    Change(flash_attn=True),
    Change(n_gpu_layers=20),
    Change(temperature=0.6, repeat_penalty=1.1),
    Change(rope_none=True),
    Change(stop="<|im_end|>"),
    Change(jinja=True),
    Change(chat_template="ChatML", jinja=True),
    Change(chat_template="Alpaca", jinja=True),
]
BASES = [FixBase(), FixBase("llama-server -m '/m/my model.gguf' -c 4096 -fa --port 8080 -ctk q4_0", "/m/my model.gguf")]


@pytest.mark.parametrize("engine_id", list(engines.ENGINES))
def test_every_copy_field_pastes_as_it_is(engine_id):
    engine = engines.get(engine_id)
    steps: list[FixStep] = []
    for base in BASES:
        for change in CHANGES:
            steps += engine.apply(change, base)
        steps += [*engine.chat_template("ChatML", base), *engine.chat_template(None, base)]
        steps += [engine.stop_token("<|im_end|>", base), engine.bos_once(base), engine.rope_default(4096, base)]
    assert steps
    for step in steps:
        assert step.text and paste.problems(step) == [], (engine_id, step)
        assert step.engine in (None, engine_id)
        if step.copy_kind is CopyKind.COMMAND:
            assert "model" in (step.command or "").lower() or "/m/my model.gguf" in shlex.split(step.command or "")


def test_the_paste_checks_catch_prose():
    prose = [
        FixStep("x", "OLLAMA_CONTEXT_LENGTH=8192  (or PARAMETER num_ctx 8192 in the Modelfile)", CopyKind.ENV),
        FixStep("x", 'PARAMETER stop "<|im_end|>"  (in the Modelfile)', CopyKind.MODELFILE),
        FixStep("x", "--rope-scaling none  (at -c 32768 or less the model needs no extension)"),
        FixStep("x", "Context Length: 8192 (the model's load settings)", CopyKind.SETTING),
        FixStep("x", 'TEMPLATE """...the model card\'s template..."""', CopyKind.MODELFILE),
        FixStep("x", "--cache-type-k q8_0"),  # flags without a program
    ]
    assert all(paste.problems(s) for s in prose)


def test_the_corrected_command_keeps_everything_else():
    own = "./llama-server --model=/x/m.gguf -c 4096 --cache-type-k q4_0 -fa -ngl 99 --host 0.0.0.0 --jinja"
    out = paste.corrected_command(own, [], [(("-c", "--ctx-size"), ["8192"]), (("-ctk", "--cache-type-k"), ["q8_0"]),
                                            (("-fa", "--flash-attn"), ["on"])])  # fmt: skip
    assert out == "./llama-server --model=/x/m.gguf -c 8192 --cache-type-k q8_0 -fa on -ngl 99 --host 0.0.0.0 --jinja"
