"""core.hub against a local fake Hub, with the real huggingface_hub client: cards, the model tree,
errors (gated, not found, rate limited, offline, slow), finetune evidence, alternatives, header peek."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import gguf
import pytest
from fakehub import TOKEN, FakeFile, FakeHub, build_world, make_gguf, running

from core.errors import (
    HubGatedError,
    HubNotFoundError,
    HubOfflineError,
    HubRateLimitedError,
    HubTimeoutError,
    HubUnreachableError,
)
from core.hub import (
    calibration_match,
    fetch_card,
    find_alternatives,
    hub_finetune_evidence,
    parse_repo_id,
    peek_gguf,
    resolve_expected,
    resolve_repo,
    simple_fit,
    type_from_filename,
)
from core.hub.fit import SizeInfo, kv_cache_bytes, parse_gpu_budget
from core.model.inspection import inspect_model

GB = 1_000_000_000
GIB = 1 << 30
Q = gguf.GGMLQuantizationType


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from running(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def small_gguf(tmp_path_factory) -> bytes:
    return make_gguf(tmp_path_factory.mktemp("gguf") / "small.gguf")


def local_file(tmp_path: Path, name: str, **metadata) -> Path:
    p = tmp_path / "models" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    make_gguf(p, Q.Q2_K, gguf.LlamaFileType.MOSTLY_Q2_K, metadata=metadata)
    return p


# --- names ----------------------------------------------------------------------------------------


def test_repo_ids_from_text():
    assert parse_repo_id("acme/Llama-8B") == "acme/Llama-8B"
    assert parse_repo_id("https://hub.example/acme/Llama-8B/tree/main") == "acme/Llama-8B"
    assert parse_repo_id("hf://acme/Llama-8B") == "acme/Llama-8B"
    assert parse_repo_id("https://hub.example/datasets/acme/x") is None
    assert parse_repo_id("Llama 3 8B instruct") is None
    assert parse_repo_id("../etc/passwd") is None


def test_types_from_file_names():
    assert type_from_filename("Llama-8B-Instruct-Q4_K_M.gguf").name == "Q4_K_M"
    ud = type_from_filename("x-UD-Q4_K_XL-00001-of-00003.gguf")
    assert (ud.name, ud.dynamic, ud.ggml_type) == ("Q4_K_XL", True, "Q4_K")
    assert type_from_filename("x.i1-IQ3_M.gguf").ggml_type == "IQ3_S"
    assert type_from_filename("Llama-3.1-8B.gguf") is None
    q4, q5, q3 = (type_from_filename(f"m-{t}.gguf") for t in ("Q4_K_M", "Q5_K_M", "Q3_K_L"))
    assert q4.bpw == 4.5 and q5.bpw == 5.5  # from gguf.GGML_QUANT_SIZES (Q4_K / Q5_K blocks)
    assert q4.meets_floor(moe=False) and not q4.meets_floor(moe=True) and q5.meets_floor(moe=True)
    assert not q3.meets_floor(moe=False) and q3.tier() == "too aggressive"
    assert type_from_filename("m-Q4_K_S.gguf").tier() == "just below the floor"
    assert type_from_filename("m-Q8_0.gguf").tier() == "near-lossless"


def test_calibration_against_workload():
    assert calibration_match("wikitext", "code", True)[0] is False
    assert calibration_match("evol-codealpaca", "code", True)[0] is True
    assert calibration_match("calibration_datav3", "multilingual", True)[0] is True
    assert calibration_match(None, "code", True)[0] is None  # imatrix, dataset not published
    assert calibration_match(None, "code", False)[0] is True  # static quant: nothing to mismatch


def test_fit_seam():
    info = SizeInfo(int(4.9 * GB))
    assert simple_fit(6 * GIB)(info, 4096) is True
    assert simple_fit(5 * GIB)(info, 4096) is False
    assert simple_fit(6 * GIB)(SizeInfo(None), 4096) is None
    assert parse_gpu_budget("RTX 4090 24GB") == 24 * GIB and parse_gpu_budget("16") == 16 * GIB


def test_kv_cache_from_the_local_shape(tmp_path):
    prof = inspect_model(local_file(tmp_path, "shape.gguf"))  # 2 layers, 4 KV heads of 64
    assert kv_cache_bytes(prof, 4096, "q8_0") == 2 * 4096 * (64 + 64) * 4 * 34 // 32


# --- card and model tree --------------------------------------------------------------------------


def test_card_of_a_quant_repo(hub, small_gguf, monkeypatch):
    build_world(hub, small_gguf)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    card = fetch_card("quanter/Llama-8B-GGUF")
    assert card.relation == "quantized" and card.relation_source == "card"
    assert card.quantizes == ["acme/Llama-8B"]
    assert card.license == "apache-2.0" and not card.is_gated
    by_name = {f.path: f for f in card.files}
    assert by_name["Llama-8B-Q4_K_M.gguf"].size == int(4.9 * GB)
    assert len(by_name["Llama-8B-Q4_K_M.gguf"].sha256) == 64  # LFS metadata
    assert by_name["README.md"].sha256 is None and by_name["README.md"].blob_id
    assert [e.quant.name for e in card.gguf_models()] == ["Q2_K", "Q4_K_M"]
    mc = card.model_card()
    assert (mc.base_model, mc.base_model_relation, mc.license) == (["acme/Llama-8B"], "quantized", "apache-2.0")
    (req,) = hub.seen("hub", "GET", "/api/models/quanter/Llama-8B-GGUF")
    assert req.query.get("blobs") == ["true"]
    assert req.headers["authorization"] == f"Bearer {TOKEN}"  # the client reads HF_TOKEN itself


def test_relation_from_the_hub_model_tree_and_split_files(hub, small_gguf):
    build_world(hub, small_gguf)
    card = fetch_card("quanter/Llama-8B-Instruct-GGUF")
    assert card.relation_source == "hub model tree" and card.quantizes == ["acme/Llama-8B-Instruct"]
    models = {e.name: e for e in card.gguf_models()}
    split = models["Llama-8B-Instruct-Q8_0-00001-of-00002.gguf"]
    assert len(split.files) == 2 and split.size == int(8.5 * GB)
    assert not any("mmproj" in n for n in models)  # vision projectors are not models


def test_gated_card_is_readable_and_says_so(hub, small_gguf):
    build_world(hub, small_gguf)
    card = fetch_card("acme/Gated-8B-GGUF")
    assert card.gated == "manual" and card.is_gated


def test_not_found(hub, small_gguf):
    build_world(hub, small_gguf)
    with pytest.raises(HubNotFoundError) as err:
        fetch_card("nobody/nothing")
    assert "nobody/nothing" in err.value.message and "not found" in err.value.message
    with pytest.raises(HubNotFoundError):
        fetch_card("not a repo name")


def test_rate_limited_is_immediate_and_plain(hub, small_gguf):
    build_world(hub, small_gguf)
    hub.rate_limited.add("/api/models/acme")
    t0 = time.monotonic()
    with pytest.raises(HubRateLimitedError) as err:
        fetch_card("acme/Llama-8B")
    assert time.monotonic() - t0 < 2  # no silent retry loop
    assert err.value.retry_after_s == 7 and "7 s" in err.value.message


def test_offline_sends_nothing(hub, small_gguf, monkeypatch):
    build_world(hub, small_gguf)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError) as err:
        fetch_card("acme/Llama-8B")
    assert "offline" in err.value.message
    assert hub.requests == []


def test_client_level_offline_flag_is_honoured_too(hub, small_gguf, monkeypatch):
    """HF_HUB_OFFLINE read by the client at import (constants) without the variable set now."""
    from huggingface_hub import constants

    build_world(hub, small_gguf)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubOfflineError):
        fetch_card("acme/Llama-8B")
    assert hub.requests == []


def test_slow_server_times_out(hub, small_gguf):
    build_world(hub, small_gguf)
    hub.slow["/api/models/acme/Llama-8B"] = 1.5
    t0 = time.monotonic()
    with pytest.raises(HubTimeoutError) as err:
        fetch_card("acme/Llama-8B", timeout=0.3)
    assert time.monotonic() - t0 < 1.4
    assert "did not answer in time" in err.value.message


def test_unreachable_hub(monkeypatch, tmp_path):
    hub = FakeHub()
    url = hub.url
    hub.close()  # nothing listens there any more
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(HubUnreachableError) as err:
        fetch_card("acme/Llama-8B", timeout=2)
    assert "could not be reached" in err.value.message


# --- base vs fine-tune ----------------------------------------------------------------------------


def test_quant_of_the_base_while_the_finetune_was_expected(hub, small_gguf, tmp_path):
    build_world(hub, small_gguf)
    path = local_file(tmp_path, "Llama-8B-Q2_K.gguf")  # found by a file-name search
    ev = hub_finetune_evidence(inspect_model(path), "acme/Llama-8B-Instruct")
    assert ev.available and ev.verdict == "base-instead-of-finetune" and ev.mismatch
    assert ev.repo_id == "quanter/Llama-8B-GGUF" and ev.quantizes == ["acme/Llama-8B"]
    assert ev.expected_derived_from == ["acme/Llama-8B"] and ev.expected_relation == "finetune"
    assert any("fine-tuned from" in line for line in ev.lines)
    assert ev.to_dict()["mismatch"] is True


def test_match_and_finetune_instead_of_base(hub, small_gguf, tmp_path):
    build_world(hub, small_gguf)
    prof = inspect_model(local_file(tmp_path, "Llama-8B-Q2_K.gguf"))
    assert hub_finetune_evidence(prof, "acme/Llama-8B").verdict == "match"
    ev = hub_finetune_evidence(prof, "acme/Llama-8B", repo="quanter/Llama-8B-Instruct-GGUF")
    assert ev.verdict == "finetune-instead-of-base"
    assert hub_finetune_evidence(prof, "acme/Other-7B").verdict == "different-model"
    ev = hub_finetune_evidence(prof, None)
    assert ev.verdict == "unknown" and ev.quantizes == ["acme/Llama-8B"]


def test_repo_from_the_hf_cache_path_and_from_metadata(hub, small_gguf, tmp_path):
    build_world(hub, small_gguf)
    snap = tmp_path / "hf-cache" / "models--quanter--Llama-8B-GGUF" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    cached = snap / "renamed.gguf"
    shutil.copy(local_file(tmp_path, "x.gguf"), cached)
    guesses = resolve_repo(inspect_model(cached))
    assert guesses[0].repo_id == "quanter/Llama-8B-GGUF" and guesses[0].role == "download repo"

    own = local_file(
        tmp_path, "Unlisted-Name-Q2_K.gguf", **{"general.source.repo_url": "https://hub.example/acme/Llama-8B"}
    )
    ev = hub_finetune_evidence(inspect_model(own), "acme/Llama-8B-Instruct")
    assert ev.relation_source == "file metadata" and ev.verdict == "base-instead-of-finetune"


def test_evidence_offline_is_unavailable_not_an_error(hub, small_gguf, tmp_path, monkeypatch):
    build_world(hub, small_gguf)
    prof = inspect_model(local_file(tmp_path, "Llama-8B-Q2_K.gguf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ev = hub_finetune_evidence(prof, "acme/Llama-8B-Instruct")
    assert not ev.available and ev.verdict == "unknown" and "offline" in ev.reason
    assert hub.requests == []


def test_expected_model_by_words(hub, small_gguf):
    build_world(hub, small_gguf)
    guess = resolve_expected("Other-7B")
    assert guess.repo_id == "acme/Other-7B"
    with pytest.raises(HubNotFoundError):
        resolve_expected("no such model anywhere")


# --- alternatives ---------------------------------------------------------------------------------


def test_alternatives_ranked_for_this_machine(hub, small_gguf, tmp_path):
    build_world(hub, small_gguf)
    prof = inspect_model(local_file(tmp_path, "Llama-8B-Q2_K.gguf"))
    alts = find_alternatives(prof, "acme/Llama-8B-Instruct", ctx=8192, fits=simple_fit(6 * GIB))
    assert alts.expected == "acme/Llama-8B-Instruct" and not alts.moe
    names = [(c.repo_id, c.file or "") for c in alts.candidates]
    first = alts.candidates[0]
    assert (first.repo_id, first.file) == ("quanter/Llama-8B-Instruct-GGUF", "Llama-8B-Instruct-Q4_K_M.gguf")
    assert first.is_expected and first.fits and first.meets_floor and first.calibration_match
    assert "fits" in first.badges() and "floor" in first.badges()
    # Every candidate that fits and meets the floor comes before any that does not.
    keys = [(c.fits is True, c.meets_floor is True) for c in alts.candidates]
    assert keys == sorted(keys, reverse=True)
    too_big = [c.quant.name for c in alts.candidates if c.fits is False]
    assert too_big[0] == "Q5_K_M"  # of those too big, the nearest to fitting first
    exl2 = next(c for c in alts.candidates if c.method == "exl2")
    assert exl2.quant.bpw == 4.0 and exl2.meets_floor and exl2.calibration.startswith("wikitext")
    assert ("quanter/Llama-8B-GGUF", "Llama-8B-Q4_K_M.gguf") not in names  # quants of the base are not offered
    assert not any("mmproj" in f for _, f in names)
    ref = alts.reference()
    assert ref is not None and ref.quant.name == "Q8_0"

    roomy = find_alternatives(prof, "acme/Llama-8B-Instruct", ctx=8192, fits=simple_fit(7 * GIB))
    assert roomy.candidates[0].quant.name == "Q5_K_M"

    code = find_alternatives(prof, "acme/Llama-8B-Instruct", workload="code", fits=simple_fit(6 * GIB))
    assert next(c for c in code.candidates if c.method == "exl2").calibration_match is False


def test_alternatives_for_moe_want_q5(hub, small_gguf, tmp_path):
    build_world(hub, small_gguf)
    prof = inspect_model(local_file(tmp_path, "Mix.gguf", **{"llama.expert_count": 8, "llama.expert_used_count": 2}))
    assert prof.is_moe
    alts = find_alternatives(prof, "acme/Llama-8B-Instruct", fits=simple_fit(64 * GIB))
    assert alts.moe
    assert alts.candidates[0].quant.name == "Q8_0"  # everything fits: the best that meets the MoE floor
    q4 = next(c for c in alts.candidates if c.quant.name == "Q4_K_M")
    assert q4.meets_floor is False and "too low for MoE" in q4.tier


def test_alternatives_from_what_the_file_quantizes(hub, small_gguf, tmp_path):
    build_world(hub, small_gguf)
    prof = inspect_model(local_file(tmp_path, "Llama-8B-Q2_K.gguf"))
    alts = find_alternatives(prof, None, fits=simple_fit(6 * GIB))
    assert alts.expected == "acme/Llama-8B"
    assert alts.candidates[0].file == "Llama-8B-Q4_K_M.gguf"


def test_alternatives_need_to_know_the_model(hub, small_gguf, tmp_path):
    build_world(hub, small_gguf)
    prof = inspect_model(local_file(tmp_path, "Nothing-Known.gguf"))
    with pytest.raises(HubNotFoundError) as err:
        find_alternatives(prof, None)
    assert "owner/name" in err.value.fix and "--" not in err.value.fix  # no CLI flag: the window shows it too


# --- header over HTTP Range -----------------------------------------------------------------------


def test_peek_reads_the_header_with_range_requests(hub, tmp_path):
    data = make_gguf(tmp_path / "big.gguf", n_layer=24)
    hub.add("peek/Model-GGUF", {"Model-Q4_K_M.gguf": data}, card={"base_model": "acme/Llama-8B"})
    prof = peek_gguf("peek/Model-GGUF", "Model-Q4_K_M.gguf", first_bytes=4096)
    assert prof.nominal_type == "Q8_0" and prof.block_count == 24  # the name lied; the header does not
    gets = hub.seen("cdn", "GET")
    assert len(gets) >= 2 and all(r.headers.get("range", "").startswith("bytes=0-") for r in gets)
    assert gets[-1].headers["range"] != f"bytes=0-{len(data) - 1}"  # never the whole file


def test_token_never_in_logs_or_errors(hub, small_gguf, monkeypatch, caplog):
    from core.hub import download
    from core.progress import run_job

    build_world(hub, small_gguf)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    fetch_card("quanter/Llama-8B-GGUF")
    with pytest.raises(HubGatedError) as err:
        run_job(download("acme/Gated-8B-GGUF", "Gated-8B-Q4_K_M.gguf"))
    assert "not been granted" in err.value.message  # logged in (403), license not accepted
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in hub.seen("hub"))
    assert TOKEN not in caplog.text and TOKEN not in str(err.value.to_dict())


def test_alternatives_peek_replaces_the_name_with_the_header(hub, small_gguf):
    hub.add("acme/Small", {"model.safetensors": FakeFile(size=GB)})
    hub.add("liar/Small-GGUF", {"Small-Q4_K_M.gguf": small_gguf},  # really a Q8_0 file
            card={"base_model": "acme/Small", "base_model_relation": "quantized"})  # fmt: skip
    alts = find_alternatives(None, "acme/Small", peek=1, fits=simple_fit(8 * GIB))
    (alt,) = alts.candidates
    assert alt.peeked and alt.quant.name == "Q8_0"
    assert alt.quant.bpw == pytest.approx(8.5, abs=0.05)  # plus the F32 norms
    assert any("name says Q4_K_M" in n for n in alt.notes) and alt.fits is True


def test_evidence_lines_for_the_finetune_check(hub, small_gguf, tmp_path, monkeypatch):
    build_world(hub, small_gguf)
    prof = inspect_model(local_file(tmp_path, "Llama-8B-Q2_K.gguf"))
    lines = hub_finetune_evidence(prof, "acme/Llama-8B-Instruct").evidence_lines()
    assert lines and all(line.startswith("Hub: ") for line in lines)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (line,) = hub_finetune_evidence(prof, "acme/Llama-8B-Instruct").evidence_lines()
    assert "not consulted" in line and "offline" in line
