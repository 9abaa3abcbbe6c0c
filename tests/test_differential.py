"""The differential diagnosis (issue 14): causes that are not the quant, ruled in or out.

Every case is a real GGUF written with the gguf writer (or the real demo model, copied with changed
metadata so llama.cpp itself prints its warnings), diagnosed end to end; each asserts the check's
id, severity, confidence and rank, and that the quant-tier finding does not outrank a confirmed
non-quant cause.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import pytest
from ggufmaker import Q, copy_with_metadata, llama_tensors, write_gguf

from core.checks import chat_template, context_truncation, finetune, offload, rope, sampling, tokenizer
from core.checks.base import CheckInput
from core.cli.main import main
from core.diagnosis import diagnose
from core.model.inspection import inspect_model
from core.model.token_probe import probe
from core.settings.observations import Observation, Observations, PromptCount, SamplingSeen
from core.settings.setup import Setup

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
THINKING = CHATML.replace("'<|im_start|>assistant\\n'", "'<|im_start|>assistant\\n<think>\\n'")
ALPACA = (
    "{% for message in messages %}{% if message['role'] == 'user' %}### Instruction:\\n{{ message['content'] }}\\n\\n"
    "{% else %}### Response:\\n{{ message['content'] }}\\n\\n{% endif %}{% endfor %}### Response:\\n"
)
LLAMA3_BOS = (
    "{{- bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] + '<|eot_id|>' }}{% endfor %}"
)
CHATML_TOKENS = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
LLAMA3_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def make(
    tmp: Path,
    name: str,
    arch: str = "llama",
    template: str | None = None,
    tokens: list[str] | None = None,
    meta: dict[str, Any] | None = None,
    qtype: Q = Q.Q4_K,
    file_type: int = gguf.LlamaFileType.MOSTLY_Q4_K_M,
    n_vocab: int = 256,
    n_ctx: int = 8192,
) -> Path:
    """A small model of the given architecture, with a real tokenizer section (≤ 4096 tokens)."""
    md: dict[str, Any] = {
        "general.name": name,
        "general.file_type": int(file_type),
        f"{arch}.block_count": 2,
        f"{arch}.context_length": n_ctx,
        f"{arch}.embedding_length": 256,
        f"{arch}.feed_forward_length": 512,
        f"{arch}.attention.head_count": 4,
        f"{arch}.attention.head_count_kv": 4,
    }
    md.update(meta or {})
    if template is not None:
        md["tokenizer.chat_template"] = template
    vocab = None
    if tokens is not None:
        vocab = tokens + [f"t{i}" for i in range(n_vocab - len(tokens))]
        md.setdefault("tokenizer.ggml.model", "gpt2")
    arrays = {"tokenizer.ggml.tokens": vocab} if vocab else None
    return write_gguf(
        tmp / f"{name.replace(' ', '-')}.gguf",
        arch=arch,
        metadata=md,
        tensors=llama_tensors(2, 256, 512, 4, 4, 256, qtype, Q.Q6_K, Q.Q6_K),
        arrays=arrays,
    )


def qwen(tmp: Path, name: str = "Qwen2.5 7B Instruct", template: str | None = CHATML, **kw: Any) -> Path:
    meta = {"tokenizer.ggml.pre": "qwen2", "tokenizer.ggml.eos_token_id": 3, "tokenizer.ggml.bos_token_id": 1}
    meta.update(kw.pop("meta", {}))
    return make(tmp, name, "qwen2", template, CHATML_TOKENS, meta, **kw)


def run(path: Path, setup: Setup | None = None, obs: Observations | None = None) -> Any:
    return diagnose(inspect_model(path), setup or Setup.of(), observations=obs)


def finding(d: Any, check_id: str) -> Any:
    return next(f for f in d.findings if f.id == check_id)


def assert_top(d: Any, check_id: str, severity: str, confidence: str) -> None:
    top = d.findings[0]
    assert (top.id, top.severity, top.confidence, top.rank) == (check_id, severity, confidence, 1), [
        (f.id, f.severity, f.confidence) for f in d.findings
    ]
    quant = finding(d, "quant-tier")
    if top.confirmed:
        assert quant.rank > top.rank


# --- the file's own facts ----------------------------------------------------------------------------


def test_profile_reads_template_tokenizer_and_rope(tmp_path):
    p = inspect_model(
        qwen(
            tmp_path,
            meta={
                "qwen2.rope.scaling.type": "yarn",
                "qwen2.rope.scaling.factor": 4.0,
                "qwen2.rope.scaling.original_context_length": 32768,
                "general.sampling.temp": 0.6,
            },
            n_ctx=131072,
        )
    )
    assert p.chat_template == CHATML and p.chat_template_chars == len(CHATML)
    assert p.tokenizer is not None
    assert (p.tokenizer.pre, p.tokenizer.eos_text, p.tokenizer.bos_text) == ("qwen2", "<|im_end|>", "<|endoftext|>")
    assert p.tokenizer.markers == ["<|im_start|>", "<|im_end|>"] and p.tokenizer.tokens == 256
    assert p.rope is not None and (p.rope.scaling_type, p.rope.factor, p.rope.original_context) == ("yarn", 4.0, 32768)
    assert p.sampling_defaults == {"temp": pytest.approx(0.6)}


def test_big_vocabulary_is_read_by_position_not_decoded(demo):
    """The demo's 49,152 tokens are skipped by the header reader; the ids and markers come from a seek."""
    tok = inspect_model(demo.reference).tokenizer
    assert tok is not None and tok.tokens == 49152
    assert (tok.bos_text, tok.eos_text, tok.add_bos, tok.pre) == ("<|im_start|>", "<|im_end|>", False, "smollm")
    assert tok.markers == ["<|im_start|>", "<|im_end|>"]


def test_a_huge_template_is_kept_bounded(tmp_path):
    big = CHATML + "{# " + "x" * 200_000 + " #}"
    p = inspect_model(qwen(tmp_path, template=big))
    # the header reader keeps the first 64 KiB of a string (core.model.gguf_reader.MAX_KEPT_STRING)
    assert p.chat_template is not None and len(p.chat_template) == 64 * 1024 and p.chat_template.startswith(CHATML)
    assert finding(run(qwen(tmp_path, "Qwen2.5 7B Instruct B", template=big)), "chat-template").severity == "ok"


# --- finetune: a base model, inferred without being told ---------------------------------------------


def test_base_model_inferred_without_expected_model(tmp_path):
    d = run(make(tmp_path, "Llama 3.1 8B", meta={"general.basename": "Llama-3.1"}))
    assert_top(d, "finetune", "warning", "likely")
    f = finding(d, "finetune")
    assert "base model" in f.title and "Which model did you mean?" in f.fix[0].text
    assert f.fix[0].command is None and "--" not in f.fix[0].text  # the window asks; no CLI flag in the text
    assert d.headline == "Your quant looks fine; this looks like a base model, not a chat/instruct model"


def test_instruct_model_and_code_completion_are_not_flagged(tmp_path):
    assert finding(run(qwen(tmp_path)), "finetune").severity == "ok"
    base = make(tmp_path, "Llama 3.1 8B")
    assert finetune.run(CheckInput(inspect_model(base), Setup.of(workload="code"))).severity == "ok"
    # Told the expected model, the critical finding stays.
    assert finding(run(base, Setup.of(expected="Llama-3.1-8B-Instruct")), "finetune").severity == "critical"


# --- chat-template ---------------------------------------------------------------------------------


def test_alpaca_template_on_chatml_model(tmp_path):
    d = run(qwen(tmp_path, "Qwen2.5 7B Alpaca Instruct", template=ALPACA))
    assert_top(d, "chat-template", "warning", "likely")
    f = finding(d, "chat-template")
    assert "Alpaca" in f.title and "ChatML" in f.title
    assert any(e.startswith("metadata tokenizer.chat_template: Alpaca") for e in f.details)  # under Details
    assert "the file's chat template: Alpaca" in f.evidence
    # the whole command, with only the template flags added (issue 16 item 4)
    assert f.fix[0].command.startswith("llama-server -m ") and f.fix[0].command.endswith(
        "--jinja --chat-template chatml"
    )


def test_engine_template_differs_from_the_file(tmp_path):
    obs = Observations(engine_template=Observation(ALPACA, "Ollama /api/show (template)"))
    d = run(qwen(tmp_path), Setup.of(engine="ollama", ctx=8192), obs)
    assert_top(d, "chat-template", "warning", "confirmed")
    assert "TEMPLATE" in d.findings[0].fix[0].command and "<|im_start|>" in d.findings[0].fix[0].command


def test_fine_tune_without_template_and_end_token_mismatch(tmp_path):
    d = run(qwen(tmp_path, template=None, meta={"general.finetune": "Instruct"}))
    assert (finding(d, "chat-template").severity, finding(d, "chat-template").confidence) == ("warning", "likely")
    # ChatML ends turns with <|im_end|>, but this file's EOS is <|endoftext|>.
    mis = qwen(tmp_path, "Qwen2.5 7B Chat", meta={"tokenizer.ggml.eos_token_id": 1})
    ollama = chat_template.run(CheckInput(inspect_model(mis), Setup.of(engine="ollama")))
    assert (ollama.severity, ollama.fix[0].command) == ("warning", 'PARAMETER stop "<|im_end|>"')
    assert chat_template.run(CheckInput(inspect_model(mis), Setup.of())).severity == "info"


def test_matching_template_is_fine(tmp_path):
    f = finding(run(qwen(tmp_path)), "chat-template")
    assert (f.severity, f.title) == ("ok", "The chat template matches the model")


# --- tokenizer ---------------------------------------------------------------------------------------


def test_missing_pre_tokenizer_from_metadata(tmp_path):
    path = make(tmp_path, "Mistral 7B Instruct", template=CHATML, tokens=CHATML_TOKENS)
    d = run(path)
    assert_top(d, "tokenizer", "warning", "likely")
    assert "tokenizer.ggml.pre: absent" in d.findings[0].details[0]
    assert "the file does not name how its text is split (no pre-tokenizer)" in d.findings[0].evidence


def test_vocabulary_larger_than_embeddings(tmp_path):
    f = tokenizer.run(CheckInput(inspect_model(qwen(tmp_path, n_vocab=300)), Setup.of()))
    assert (f.severity, f.confidence) == ("critical", "likely")
    assert "vocabulary: 300 tokens; embeddings for 256" in f.evidence


def test_bos_prefixed_template_with_add_bos(tmp_path):
    meta = {"tokenizer.ggml.pre": "llama-bpe", "tokenizer.ggml.bos_token_id": 0, "tokenizer.ggml.add_bos_token": True}
    path = make(tmp_path, "Llama 3.1 8B Instruct", template=LLAMA3_BOS, tokens=LLAMA3_TOKENS, meta=meta)
    f = tokenizer.run(CheckInput(inspect_model(path), Setup.of(engine="lm-studio")))
    assert (f.severity, f.confidence) == ("info", "likely")
    assert f.fix[0].command is None  # an edit in LM Studio's window: nothing to paste, the text says where
    assert "remove the BOS text from the start of the Prompt Template's 'Before System' field" in f.fix[0].text
    assert tokenizer.run(CheckInput(inspect_model(path), Setup.of())).severity == "ok"  # llama.cpp drops one
    assert any(e.endswith("tokenizer.chat_template starts with {{ bos_token }}") for e in f.details), f.details
    no_add = make(tmp_path, "Llama 3.1 8B Instruct B", template=LLAMA3_BOS, tokens=LLAMA3_TOKENS,
                  meta={**meta, "tokenizer.ggml.add_bos_token": False})  # fmt: skip
    assert tokenizer.run(CheckInput(inspect_model(no_add), Setup.of())).severity == "ok"


@pytest.fixture(scope="module")
def demo_variants(demo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    return {
        "no-pre": copy_with_metadata(demo.reference, folder / "no-pre.gguf", drop=["tokenizer.ggml.pre"]),
        "add-bos": copy_with_metadata(
            demo.reference, folder / "add-bos.gguf", change={"tokenizer.ggml.add_bos_token": True}
        ),
    }


def test_real_llama_cpp_warns_about_the_missing_pre_tokenizer(demo_variants):
    result = probe(demo_variants["no-pre"], "Hello")
    assert result.exact and any("pre-tokenizer" in line for line in result.log), result
    obs = Observations(log=[Observation(line, "llama.cpp log (tokenizer probe)") for line in result.log])
    d = run(demo_variants["no-pre"], Setup.of(), obs)
    assert_top(d, "tokenizer", "critical", "confirmed")
    assert any(
        e.startswith("llama.cpp log (tokenizer probe): ") and "pre-tokenizer" in e for e in d.findings[0].evidence
    )


def test_real_llama_cpp_warns_about_a_doubled_bos(demo_variants, demo):
    text = "<|im_start|>user\nHello<|im_end|>\n"
    assert not any("BOS" in line for line in probe(demo.reference, text).log)  # the demo does not add one
    result = probe(demo_variants["add-bos"], text)
    assert any("2 BOS tokens" in line for line in result.log), result
    obs = Observations(log=[Observation(line, "llama.cpp log (tokenizer probe)") for line in result.log])
    d = run(demo_variants["add-bos"], Setup.of(), obs)
    assert_top(d, "tokenizer", "warning", "confirmed")
    assert d.findings[0].title.startswith("Every prompt starts with two BOS tokens")


def test_cli_probe_on_the_file_without_pre_tokenizer(demo_variants, capsys):
    assert main(["diagnose", str(demo_variants["no-pre"]), "--probe", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    top = out["findings"][0]
    assert (top["id"], top["severity"], top["confidence"]) == ("tokenizer", "critical", "confirmed")
    assert out["headline"].startswith("Your quant looks fine; llama.cpp uses the 'default' pre-tokenizer")


# --- context-truncation ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_prompt(tmp_path_factory) -> Path:
    words = [
        "the",
        "model",
        "reads",
        "this",
        "long",
        "report",
        "about",
        "memory",
        "and",
        "context",
        "while",
        "the",
        "system",
        "prompt",
        "sets",
        "rules",
    ]
    text = "You are a careful assistant. Always answer in French.\n" + " ".join(words[i % 16] for i in range(6000))
    path = tmp_path_factory.mktemp("prompt") / "prompt.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_ollama_default_context_and_a_long_pasted_prompt(demo, long_prompt, capsys):
    """Counted with the model's own tokenizer (llama.cpp, in a child) against Ollama's default context."""
    args = ["diagnose", str(demo.reference), "--engine", "ollama", "--prompt-file", str(long_prompt), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    top = out["findings"][0]
    assert (top["id"], top["severity"], top["confidence"], top["rank"]) == (
        "context-truncation", "critical", "likely", 1,
    )  # fmt: skip
    assert top["title"].startswith("The prompt is being cut to 4,096 tokens (it is ")
    assert any("counted with the model's own tokenizer (llama.cpp)" in e for e in top["evidence"])
    assert (
        top["fix"][0]["command"] == "PARAMETER num_ctx 8192" and "OLLAMA_CONTEXT_LENGTH=8192" in top["fix"][0]["text"]
    )
    assert out["headline"].startswith("Your quant looks fine; the prompt is being cut to 4,096 tokens")


def test_ollama_default_context_by_version(tmp_path):
    p = inspect_model(qwen(tmp_path))
    prompt = PromptCount(3000, "the model's own tokenizer (llama.cpp)", True)
    old = context_truncation.run(
        CheckInput(p, Setup.of(engine="ollama"), observations=Observations(prompt=prompt, engine_version="0.6.6"))
    )
    assert (old.severity, old.title) == ("critical", "The prompt is being cut to 2,048 tokens (it is 3,000)")
    new = context_truncation.run(
        CheckInput(p, Setup.of(engine="ollama"), observations=Observations(prompt=prompt, engine_version="0.12.6"))
    )
    assert (new.severity, new.confidence) == ("ok", "suspected")


def test_truncation_confirmed_by_the_log_outranks_a_bad_quant(tmp_path):
    q2 = qwen(tmp_path, "Qwen2.5 7B Instruct Q2", qtype=Q.Q2_K, file_type=gguf.LlamaFileType.MOSTLY_Q2_K)
    line = 'level=WARN source=runner.go:127 msg="truncating input prompt" limit=2048 prompt=5120 keep=4 new=2048'
    obs = Observations(log=[Observation(line, "Ollama server log")])
    d = run(q2, Setup.of(engine="ollama"), obs)
    assert finding(d, "quant-tier").severity == "critical"
    assert_top(d, "context-truncation", "critical", "confirmed")
    assert d.findings[0].title == "The prompt is being cut to 2,048 tokens"
    assert d.headline == "Look here before the quant: the prompt is being cut to 2,048 tokens"


def test_a_confirmed_warning_outranks_a_likely_critical_quant(tmp_path):
    q2 = qwen(tmp_path, "Qwen2.5 7B Instruct Q2", qtype=Q.Q2_K, file_type=gguf.LlamaFileType.MOSTLY_Q2_K)
    obs = Observations(engine_template=Observation(ALPACA, "Ollama /api/show (template)"))
    d = run(q2, Setup.of(engine="ollama", ctx=8192), obs)
    assert [(f.id, f.severity) for f in d.problems[:2]] == [("chat-template", "warning"), ("quant-tier", "critical")]
    plain = run(q2, Setup.of(engine="ollama", ctx=8192))
    assert plain.findings[0].id == "quant-tier"  # without the confirmed cause, the quant leads


def test_truncation_severities(tmp_path):
    p = inspect_model(qwen(tmp_path))
    counted = PromptCount(3500, "the model's own tokenizer (llama.cpp)", True)
    near = context_truncation.run(CheckInput(p, Setup.of(ctx=4096), observations=Observations(prompt=counted)))
    assert (near.severity, near.confidence) == ("warning", "likely")
    live = Observations(prompt=counted, live_ctx=Observation("4096", "Ollama /api/ps"))
    assert context_truncation.run(CheckInput(p, Setup.of(), observations=live)).confidence == "confirmed"
    docs = context_truncation.run(CheckInput(p, Setup.of(engine="ollama", workload="long-documents")))
    assert (docs.severity, docs.confidence) == ("warning", "suspected")
    fine = context_truncation.run(CheckInput(p, Setup.of(ctx=8192), observations=Observations(prompt=counted)))
    assert (fine.severity, fine.title) == ("ok", "The conversation fits the 8,192-token context")


# --- sampling ----------------------------------------------------------------------------------------


def test_greedy_decoding_on_a_thinking_model(tmp_path):
    path = qwen(tmp_path, "Qwen3 8B", template=THINKING)
    seen = Observations(sampling=SamplingSeen("Ollama /api/show (parameters)", reported=True, temperature=0.0))
    d = run(path, Setup.of(engine="ollama", ctx=8192), seen)
    assert_top(d, "sampling", "warning", "confirmed")
    assert d.findings[0].fix[0].command == "PARAMETER temperature 0.6"
    from_file = run(qwen(tmp_path, "Qwen3 8B B", template=THINKING, meta={"general.sampling.temp": 0.0}),
                    Setup.of(ctx=8192))  # fmt: skip
    assert_top(from_file, "sampling", "warning", "likely")


def test_sampling_severities(tmp_path):
    p = inspect_model(qwen(tmp_path))
    hot = sampling.run(
        CheckInput(p, Setup.of(), observations=Observations(sampling=SamplingSeen("your setting", temperature=2.0)))
    )
    assert hot.severity == "warning" and hot.fix[0].command.endswith("--temp 0.7")
    greedy_plain = Observations(sampling=SamplingSeen("your setting", temperature=0.0))
    assert sampling.run(CheckInput(p, Setup.of(), observations=greedy_plain)).severity == "ok"  # not a thinking model
    p.parameters = 135_000_000
    nopen = Observations(sampling=SamplingSeen("your setting", temperature=0.7, repeat_penalty=1.0))
    f = sampling.run(CheckInput(p, Setup.of(), observations=nopen))
    assert (f.severity, f.confidence) == ("info", "suspected")
    assert sampling.run(CheckInput(p, Setup.of())).title == "Not checked: no sampling settings known"


# --- rope --------------------------------------------------------------------------------------------


def test_yarn_at_a_context_that_does_not_need_it(tmp_path):
    yarn = {
        "qwen2.rope.scaling.type": "yarn",
        "qwen2.rope.scaling.factor": 4.0,
        "qwen2.rope.scaling.original_context_length": 32768,
    }
    path = qwen(tmp_path, "Qwen3 8B YaRN", meta=yarn, n_ctx=131072)
    d = run(path, Setup.of(ctx=8192))
    assert_top(d, "rope", "warning", "likely")
    assert (
        d.headline == "Your quant looks fine; YaRN context extension is on at 8,192 tokens, where the model needs none"
    )
    assert "rope.scaling.type: yarn" in d.findings[0].details[1]
    assert d.findings[0].fix[0].command.endswith("--rope-scaling none")
    assert finding(run(path, Setup.of(ctx=65536)), "rope").severity == "ok"


def test_context_beyond_training_without_extension(tmp_path):
    f = rope.run(CheckInput(inspect_model(qwen(tmp_path)), Setup.of(ctx=32768)))
    assert (f.severity, f.confidence) == ("info", "likely")
    assert rope.run(CheckInput(inspect_model(qwen(tmp_path)), Setup.of(ctx=4096))).severity == "ok"


# --- offload -----------------------------------------------------------------------------------------


def test_offload(tmp_path):
    p = inspect_model(qwen(tmp_path))
    seen = Observations(log=[Observation("load_tensors: offloaded 2/3 layers to GPU", "llama.cpp log")])
    f = offload.run(CheckInput(p, Setup.of(), observations=seen))
    assert (f.severity, f.confidence, f.title) == (
        "info",
        "confirmed",
        "1 of 3 layers run from system RAM: slow, but not the quant",
    )
    typed = offload.run(CheckInput(p, Setup.of(n_gpu_layers=1)))
    assert (typed.severity, typed.confidence) == ("info", "likely")
    assert offload.run(CheckInput(p, Setup.of())).severity == "ok"
    ps = Observations(gpu_share=0.62, offload_source="Ollama /api/ps")
    share = offload.run(CheckInput(p, Setup.of(engine="ollama"), observations=ps))
    assert (share.severity, share.confidence, share.evidence) == (
        "info",
        "confirmed",
        ["Ollama /api/ps: 62% of the model in VRAM"],
    )


def test_modelfile_template_and_parameters(tmp_path, capsys):
    """An Ollama Modelfile with an Alpaca TEMPLATE for a ChatML model, and temperature 0 on a thinking one."""
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(
        'FROM ./model.gguf\nTEMPLATE """### Instruction:\n{{ .Prompt }}\n\n### Response:\n"""\n'
        "PARAMETER temperature 0\nPARAMETER num_ctx 8192\n",
        encoding="utf-8",
    )
    path = qwen(tmp_path, "Qwen3 8B", template=THINKING)
    args = ["diagnose", str(path), "--from-ollama", "--modelfile", str(modelfile), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    first = {f["id"]: f for f in out["findings"]}
    assert (first["chat-template"]["severity"], first["chat-template"]["confidence"]) == ("warning", "likely")
    assert first["chat-template"]["title"] == "Ollama uses the Alpaca chat format for a ChatML model"
    assert any(e.startswith("your Modelfile Modelfile (TEMPLATE)") for e in first["chat-template"]["evidence"])
    assert (first["sampling"]["severity"], first["sampling"]["fix"][0]["command"]) == (
        "warning",
        "PARAMETER temperature 0.6",
    )
    assert [f["id"] for f in out["findings"][:2]] == ["chat-template", "sampling"]


def test_the_engine_log_confirms_truncation_and_offload(tmp_path, capsys):
    """Ollama's server log (the recorded-shape fixture of the engine readers) read by `--from-log`: its
    "truncating input prompt" line and "offloaded 17/29 layers" reach the checks as confirmed evidence.
    The file is shaped like the log's model (Llama 3.2 3B: 28 layers, 131,072 tokens of training context),
    since a log about another model is refused (tests/test_evidence_truth.py)."""
    log = Path(__file__).parent / "fixtures" / "engines" / "ollama" / "server.log"
    md = {
        "general.name": "Llama 3.2 3B Instruct", "general.file_type": int(gguf.LlamaFileType.MOSTLY_Q4_K_M),
        "llama.block_count": 28, "llama.context_length": 131072, "llama.embedding_length": 256,
        "llama.feed_forward_length": 512, "llama.attention.head_count": 4, "llama.attention.head_count_kv": 4,
    }  # fmt: skip
    path = write_gguf(tmp_path / "Llama-3.2-3B-Instruct-Q4_K_M.gguf", arch="llama", metadata=md,
                      tensors=llama_tensors(28, 256, 512, 4, 4, 256, Q.Q4_K, Q.Q6_K, Q.Q6_K))  # fmt: skip
    assert main(["diagnose", str(path), "--from-log", str(log), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    top = out["findings"][0]
    assert (top["id"], top["severity"], top["confidence"], top["rank"]) == (
        "context-truncation", "critical", "confirmed", 1,
    )  # fmt: skip
    assert top["title"] == "The prompt is being cut to 16,384 tokens"
    assert any(
        e.startswith(f"the log {log.name} (log line 66): ") and "truncating input prompt" in e for e in top["evidence"]
    )
    assert out["headline"] == "Your quant looks fine; the prompt is being cut to 16,384 tokens"
    off = next(f for f in out["findings"] if f["id"] == "offload")
    assert (off["severity"], off["confidence"]) == ("info", "confirmed")
    assert off["title"] == "12 of 29 layers run from system RAM: slow, but not the quant"


def test_a_live_engine_reports_its_context_its_vram_share_and_its_sampler(tmp_path):
    """What the engine readers fill (FoundEngine from Ollama's /api/ps, Setup.sampling from /api/show)
    reaches the checks: the live context makes a counted overflow confirmed, and so do the sampler and
    the share of the model in VRAM."""
    from core.engines.evidence import EngineEvidence
    from core.engines.found import FoundEngine, FoundModel
    from core.settings.sampling import Sampling

    found = FoundEngine(
        "ollama", "Ollama", "http://127.0.0.1:11434", "0.12.6",
        [FoundModel("qwen3:8b", True, context=4096, size_bytes=10_000, size_vram=6_000)],
    )  # fmt: skip
    evidence = EngineEvidence("Ollama at http://127.0.0.1:11434", engine=found)
    setup = Setup.of(engine="ollama", ctx=4096, sampling=Sampling(temperature=0.0, source="Ollama Modelfile"))
    prompt = PromptCount(5000, "the model's own tokenizer (llama.cpp)", True)
    p = inspect_model(qwen(tmp_path, "Qwen3 8B", template=THINKING))
    d = diagnose(p, setup, engine=evidence, observations=Observations(prompt=prompt))
    assert_top(d, "context-truncation", "critical", "confirmed")
    assert d.findings[0].evidence[0] == "Ollama at http://127.0.0.1:11434: context of the loaded model: context 4,096"
    s = finding(d, "sampling")
    assert (s.severity, s.confidence) == ("warning", "confirmed")
    assert s.evidence[0] == "Ollama Modelfile: temperature 0"
    off = finding(d, "offload")
    assert (off.severity, off.confidence, off.title) == (
        "info",
        "confirmed",
        "40% of the model runs from system RAM: slow, but not the quant",
    )
