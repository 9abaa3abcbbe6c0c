"""The ranked diagnosis: the issue's cases end to end through the CLI, and one test per rule."""

from __future__ import annotations

import json

import gguf
import pytest
from foldermaker import make_folder
from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf

from core.checks import architecture, calibration, finetune, kv_cache, quant_tier
from core.checks.base import CheckInput
from core.checks.measurements import DomainMetrics, Measurements
from core.cli.main import main
from core.diagnosis import diagnose, rank
from core.model.inspection import inspect_model
from core.settings.setup import Setup


def run_cli(capsys, *args: str) -> dict:
    assert main(["diagnose", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def top(data: dict) -> dict:
    return data["findings"][0]


def by_id(data: dict) -> dict:
    return {f["id"]: f for f in data["findings"]}


# --- the issue's cases, through `quantdoctor-cli diagnose --json` ---------------------------------


def test_q2_0_demo_ranks_quant_tier_first_as_critical(demo, capsys):
    data = run_cli(capsys, str(demo.candidates["Q2_0"]))
    assert (top(data)["id"], top(data)["severity"], top(data)["rank"]) == ("quant-tier", "critical", 1)
    assert any("2.25 bits per weight" in e for e in top(data)["evidence"])
    assert set(data) >= {"model", "setup", "hardware", "findings", "memory"}
    assert set(top(data)) >= {"id", "rank", "severity", "title", "evidence", "fix", "confidence"}


def test_q4_1_demo_with_q4_cache_at_8k_ranks_kv_cache_first(demo, capsys):
    data = run_cli(capsys, str(demo.reference), "-c", "8192", "-ctk", "q4_0", "-ctv", "q4_0", "-fa")
    f = top(data)
    assert (f["id"], f["severity"]) == ("kv-cache", "warning")
    assert any((s["command"] or "").endswith("-c 8192 -ctk q8_0 -ctv q8_0 -fa on") for s in f["fix"]), f["fix"]
    # the ruled-out checks follow, with their evidence
    assert [x["severity"] for x in data["findings"][1:]] == ["ok"] * (len(data["findings"]) - 1)


@pytest.fixture
def moe_q4k(tmp_path):
    md = llama_metadata(2, 256, 256, 4, 2, file_type=gguf.LlamaFileType.MOSTLY_Q4_K_M, n_expert=64, n_expert_used=8)
    return write_gguf(
        tmp_path / "moe.gguf",
        metadata=md,
        tensors=llama_tensors(2, 256, 256, 4, 2, 512, Q.Q4_K, Q.Q6_K, Q.Q6_K, n_expert=64),
    )


def test_generated_moe_at_q4_k_gets_an_architecture_warning(moe_q4k, capsys):
    data = run_cli(capsys, str(moe_q4k))
    f = by_id(data)["architecture"]
    assert f["severity"] == "warning"
    assert f["rank"] == 1
    assert "mixture-of-experts model below Q5" in f["title"]
    assert any("64 experts" in e for e in f["evidence"])
    assert by_id(data)["quant-tier"]["severity"] == "info"  # 4.5 bpw: Q4_0/IQ4_XS-class


def test_gptq_wikitext2_for_code_gets_a_calibration_warning(tmp_path, capsys):
    folder = make_folder(
        tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128, "dataset": "wikitext2"}
    )
    data = run_cli(capsys, str(folder), "--workload", "code")
    f = by_id(data)["calibration"]
    assert f["severity"] == "warning"
    assert "wikitext2" in f["title"] and "code" in f["title"]
    # the same quant for chat is fine
    assert by_id(run_cli(capsys, str(folder), "--workload", "chat"))["calibration"]["severity"] == "ok"


@pytest.fixture
def base_model_gguf(tmp_path):
    md = llama_metadata(2, 256, 512, 4, 2)
    md.update({"general.basename": "Llama-3.1", "general.size_label": "8B", "general.name": "Llama 3.1 8B"})
    return write_gguf(
        tmp_path / "base.gguf", metadata=md, tensors=llama_tensors(2, 256, 512, 4, 2, 512, Q.Q5_K, Q.Q6_K, Q.Q6_K)
    )


def test_base_model_when_instruct_expected_ranks_finetune_critical(base_model_gguf, capsys):
    data = run_cli(capsys, str(base_model_gguf), "--expect", "meta-llama/Llama-3.1-8B-Instruct")
    f = top(data)
    assert (f["id"], f["severity"]) == ("finetune", "critical")
    assert "base model" in f["title"]


# --- importing the setup gives the same as the flags ----------------------------------------------


def test_imports_match_the_flags(demo, capsys, tmp_path, monkeypatch):
    flags = run_cli(capsys, str(demo.reference), "-c", "16384", "-ctk", "q4_0", "-ctv", "q4_0", "-fa")
    cmd = run_cli(
        capsys, "--from-command", f"llama-server -m {demo.reference} -c 16384 -ctk q4_0 -ctv q4_0 -fa on --port 8080"
    )
    for key in ("ctx", "cache_type_k", "cache_type_v", "flash_attn"):
        assert flags["setup"][key] == cmd["setup"][key]
    assert [f["severity"] for f in flags["findings"]] == [f["severity"] for f in cmd["findings"]]

    monkeypatch.setenv("OLLAMA_KV_CACHE_TYPE", "q4_0")
    monkeypatch.setenv("OLLAMA_FLASH_ATTENTION", "1")
    monkeypatch.setenv("OLLAMA_CONTEXT_LENGTH", "16384")
    ollama = run_cli(capsys, str(demo.reference), "--from-ollama")
    kcpps = tmp_path / "s.kcpps"
    kcpps.write_text(json.dumps({"contextsize": 16384, "quantkv": 2, "flashattention": True, "gpulayers": -1}))
    kobold = run_cli(capsys, str(demo.reference), "--from-kcpps", str(kcpps))
    for other in (ollama, kobold):
        for key in ("ctx", "cache_type_k", "cache_type_v", "flash_attn"):
            assert other["setup"][key] == flags["setup"][key], key
        assert top(other)["id"] == "kv-cache" and top(other)["severity"] == "critical"
    assert "OLLAMA_KV_CACHE_TYPE=q8_0" in [s["command"] for s in top(ollama)["fix"]]
    assert any(s["command"].endswith("--quantkv 1 --flashattention") for s in top(kobold)["fix"]), top(kobold)["fix"]


# --- one test per rule ---------------------------------------------------------------------------


def profile_at(tmp_path, qtype, name="m.gguf", **md_extra):
    md = llama_metadata(2, 256, 512, 4, 2)
    md.update(md_extra)
    return inspect_model(
        write_gguf(tmp_path / name, metadata=md, tensors=llama_tensors(2, 256, 512, 4, 2, 512, qtype, Q.Q6_K, Q.Q6_K))
    )


@pytest.mark.parametrize(
    ("qtype", "severity"),
    [(Q.IQ2_XXS, "critical"), (Q.Q2_K, "critical"), (Q.Q3_K, "warning"), (Q.IQ4_XS, "info"),
     (Q.Q4_0, "info"), (Q.Q5_K, "ok"), (Q.Q8_0, "ok")],
)  # fmt: skip
def test_quant_tier_thresholds(tmp_path, qtype, severity):
    f = quant_tier.run(CheckInput(profile_at(tmp_path, qtype), Setup()))
    assert f.severity == severity, f.evidence


def test_quant_tier_reads_the_census_not_the_name(tmp_path):
    # named Q4_K_M but holding Q2_K blocks: the tier follows the tensors
    p = profile_at(tmp_path, Q.Q2_K, **{"general.file_type": int(gguf.LlamaFileType.MOSTLY_Q4_K_M)})
    f = quant_tier.run(CheckInput(p, Setup()))
    assert f.severity == "critical"
    assert any("Q4_K_M" in e for e in f.evidence) and any("2.62 bits" in e for e in f.evidence)


def test_quant_tier_for_folders(tmp_path):
    exl2 = inspect_model(make_folder(tmp_path, "exl2", {"quant_method": "exl2", "bits": 3.5}))
    assert quant_tier.run(CheckInput(exl2, Setup())).severity == "warning"
    gptq = inspect_model(make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 2, "group_size": 128}))
    assert quant_tier.run(CheckInput(gptq, Setup())).severity == "critical"


def test_measurement_confirms_quant_damage(demo):
    p = inspect_model(demo.candidates["Q4_0"])
    bad = Measurements(quant={"general": DomainMetrics.of(10.0, 10.8, 0.05, 0.9)})
    f = quant_tier.run(CheckInput(p, Setup(), measurements=bad))
    assert f.confidence == "confirmed-by-measurement" and f.severity == "warning"
    fine = Measurements(quant={"general": DomainMetrics.of(10.0, 10.05, 0.005, 0.98)})
    assert quant_tier.run(CheckInput(p, Setup(), measurements=fine)).confidence == "likely"


@pytest.mark.parametrize(
    ("k", "v", "ctx", "fa", "engine", "severity", "words"),
    [
        ("f16", "f16", 8192, None, "llama.cpp", "ok", "fine"),
        ("q8_0", "q8_0", 8192, True, "llama.cpp", "ok", "fine"),
        ("f16", "f16", 32768, None, "llama.cpp", "warning", "longer than the 8,192 this model was trained for"),
        ("q4_1", "q4_1", 16384, True, "llama.cpp", "critical", "4-bit KV cache"),  # 5 bits stored, 4-bit values
        ("q4_0", "q4_0", 4096, False, "koboldcpp", "info", "never above 4K"),  # koboldcpp keeps V at f16
        ("q4_0", "q4_0", 4096, True, "llama.cpp", "info", "never above 4K"),
        ("q4_0", "q4_0", 8192, True, "llama.cpp", "warning", "4-bit KV cache"),
        ("q4_0", "q4_0", 16384, True, "llama.cpp", "critical", "garbles"),
        ("q8_0", "q8_0", 4096, False, "llama.cpp", "critical", "refuses"),
        ("q4_0", "q4_0", 32768, False, "ollama", "info", "not in effect"),
    ],
)
def test_kv_cache_rules(demo, k, v, ctx, fa, engine, severity, words):
    p = inspect_model(demo.reference)
    f = kv_cache.run(CheckInput(p, Setup.of(ctx=ctx, cache_type_k=k, cache_type_v=v, flash_attn=fa, engine=engine)))
    assert f.severity == severity
    assert words in f.title


def test_kv_cache_confirmed_by_measurement(demo):
    p = inspect_model(demo.reference)
    setup = Setup.of(ctx=2048, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True)
    m = Measurements(
        kv_cache={"general": DomainMetrics.of(10, 10.3, 0.06, 0.9)},
        kv_baseline={"general": DomainMetrics.of(10, 10.0, 0.01, 0.99)},
    )
    f = kv_cache.run(CheckInput(p, setup, measurements=m))
    assert f.confidence == "confirmed-by-measurement" and f.severity == "warning"


def test_architecture_large_embedding_share(tmp_path):
    md = llama_metadata(2, 256, 512, 4, 2)
    # a small model with a big vocabulary and a Q4_0 embedding: like tiny Gemma-style models
    tensors = llama_tensors(2, 256, 512, 4, 2, 65536, Q.Q8_0, Q.Q4_0, Q.Q4_0)
    p = inspect_model(write_gguf(tmp_path / "emb.gguf", metadata=md, tensors=tensors))
    assert p.embedding_fraction > 0.9
    f = architecture.run(CheckInput(p, Setup()))
    assert f.severity == "warning" and "embedding" in f.title


def test_architecture_dense_q5_is_fine(tmp_path):
    assert architecture.run(CheckInput(profile_at(tmp_path, Q.Q5_K), Setup())).severity == "ok"


@pytest.mark.parametrize(
    ("quant", "workload", "severity"),
    [
        ({"quant_method": "awq", "bits": 4, "group_size": 128}, "multilingual", "warning"),  # pileval default
        ({"quant_method": "exl2", "bits": 5.0}, "code", "warning"),  # ExLlamaV2's default calibration
        ({"quant_method": "gptq", "bits": 4, "group_size": 128, "dataset": "codeparrot/github-code"}, "code", "ok"),
    ],
)
def test_calibration_rules_for_folders(tmp_path, quant, workload, severity):
    p = inspect_model(make_folder(tmp_path, quant["quant_method"], quant))
    assert calibration.run(CheckInput(p, Setup.of(workload=workload))).severity == severity


def test_calibration_gguf_imatrix(tmp_path):
    wiki = profile_at(
        tmp_path,
        Q.Q4_K,
        "a.gguf",
        **{"quantize.imatrix.dataset": "wiki.train.raw", "quantize.imatrix.chunks_count": 100},
    )
    assert wiki.imatrix is not None and wiki.imatrix.chunks == 100
    assert calibration.run(CheckInput(wiki, Setup.of(workload="multilingual"))).severity == "warning"
    mixed = profile_at(tmp_path, Q.Q4_K, "b.gguf", **{"quantize.imatrix.dataset": "calibration_datav3.txt"})
    assert calibration.run(CheckInput(mixed, Setup.of(workload="code"))).severity == "ok"
    plain = profile_at(tmp_path, Q.Q4_K, "c.gguf")
    f = calibration.run(CheckInput(plain, Setup.of(workload="code")))
    assert f.severity == "ok" and "calibration-free" in f.title


def test_calibration_confirmed_by_code_kld(tmp_path):
    p = profile_at(tmp_path, Q.Q4_K, **{"quantize.imatrix.dataset": "wiki.train.raw"})
    m = Measurements(
        quant={"general": DomainMetrics.of(8, 8.1, 0.01, 0.95), "code": DomainMetrics.of(3, 3.3, 0.05, 0.85)}
    )
    f = calibration.run(CheckInput(p, Setup.of(workload="chat"), measurements=m))
    assert f.confidence == "confirmed-by-measurement" and f.severity == "warning"


def test_finetune_rules(demo, base_model_gguf):
    smol = inspect_model(demo.reference)
    assert finetune.run(CheckInput(smol, Setup.of(expected="HuggingFaceTB/SmolLM2-135M-Instruct"))).severity == "ok"
    other = finetune.run(CheckInput(smol, Setup.of(expected="Qwen/Qwen3-8B")))
    assert other.severity == "warning" and "qwen3" in other.title
    base = inspect_model(base_model_gguf)
    assert finetune.run(CheckInput(base, Setup.of(expected="the instruct version"))).severity == "critical"
    assert finetune.run(CheckInput(base, Setup.of(expected="meta-llama/Llama-3.1-8B"))).severity == "ok"


def test_rank_keeps_diagnostic_order_within_a_severity(demo):
    p = inspect_model(demo.candidates["Q2_0"])
    d = diagnose(p, Setup.of(ctx=32768, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True))
    assert [(f.id, f.severity) for f in d.problems][:2] == [("quant-tier", "critical"), ("kv-cache", "critical")]
    assert [(f.id, f.severity) for f in d.problems][2:] == [("rope", "info")]  # 32K on an 8K model, no extension
    assert [f.rank for f in d.findings] == list(range(1, len(d.findings) + 1))
    assert rank(list(reversed(d.findings)))[0].id == "quant-tier"


def test_bad_setup_is_a_plain_error(demo, capsys):
    assert main(["diagnose", str(demo.reference), "--from-command", "llama-server -c lots"]) == 2
    err = capsys.readouterr().err
    assert "whole number" in err and "Traceback" not in err


def test_hub_evidence_joins_the_finetune_finding(monkeypatch, tmp_path, capsys):
    """--hub: the Hub's model tree (a local fake Hub, the real client) says what the file quantizes."""
    from fakehub import build_world, make_gguf, running

    small = make_gguf(tmp_path / "small.gguf")
    local = tmp_path / "Llama-8B-Q2_K.gguf"
    make_gguf(local, Q.Q2_K, gguf.LlamaFileType.MOSTLY_Q2_K)
    for hub in running(monkeypatch, tmp_path):
        build_world(hub, small)
        data = run_cli(capsys, str(local), "--expect", "acme/Llama-8B-Instruct", "--hub")
        f = by_id(data)["finetune"]
        text = " ".join(f["evidence"])
        assert "acme/Llama-8B" in text and "quantiz" in text.lower()
        assert f["severity"] == "critical"  # a quant of the base model where the instruct one was expected


def test_finetune_matches_whole_words_from_the_metadata_not_the_file_name(demo, tmp_path):
    renamed = tmp_path / "Qwen3-14B-Q4_0.gguf"
    renamed.symlink_to(demo.candidates["Q4_0"])
    p = inspect_model(renamed)
    f = finetune.run(CheckInput(p, Setup.of(expected="Qwen/Qwen3-4B")))
    assert f.severity == "warning" and "qwen3" in f.title  # the metadata says SmolLM2 135M
    other_size = finetune.run(CheckInput(p, Setup.of(expected="HuggingFaceTB/SmolLM2-360M-Instruct")))
    assert other_size.severity == "warning" and "360m" in other_size.title  # 360M is not 135M


def test_setup_import_errors_are_plain(tmp_path, demo, capsys):
    from core.engines.koboldcpp import from_kcpps
    from core.engines.llamacpp import from_command
    from core.engines.lmstudio import from_lmstudio
    from core.errors import SetupError

    with pytest.raises(SetupError, match="is a folder, not a koboldcpp settings file"):
        from_kcpps(tmp_path)  # a folder
    bad = tmp_path / "lms.json"
    bad.write_text(json.dumps({"load": {"fields": ["x"]}}))
    with pytest.raises(SetupError, match="not an LM Studio model config"):
        from_lmstudio(bad)
    bad.write_text(json.dumps({"load": {"fields": [{"key": "llm.load.contextLength", "value": "big"}]}}))
    with pytest.raises(SetupError, match="whole number"):
        from_lmstudio(bad)
    s = from_command("llama-server -m m.gguf --cpu-moe -c 16384 -ctk q4_0 -ctv q4_0 -fa on --n-cpu-moe 10")
    assert (s.run.n_ctx, s.run.cache_type_k, s.run.flash_attn) == (16384, "q4_0", "on")
    assert any(u.startswith("--cpu-moe") for u in s.unknown) and any(u.startswith("--n-cpu-moe 10") for u in s.unknown)
    assert main(["diagnose", str(demo.reference), "--report", str(tmp_path / "nowhere" / "r.html")]) == 2
    assert "Traceback" not in capsys.readouterr().err
