"""Known engine defects (issue 21 item 4): the resource, the version comparison, every matching rule of every
entry (matched and not matched, at its version edges), and an unknown version read as "not checked", never
"fine". Real GGUF files (tests/ggufmaker.py) give the tensor types and the architecture; the machines are
`HardwareProfile`s as the detectors build them (compute capability as NVML reports it, "12.0" on an RTX 5080,
llama.cpp #28581); the engine's version is what its API, its log or the person says.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from gguf import GGMLQuantizationType as Q
from ggufmaker import llama_metadata, llama_tensors, write_gguf

from core.checks import known_bugs, kv_cache
from core.checks import registry as checks
from core.checks.base import CheckInput
from core.checks.finding import FINE, FOUND, NOT_CHECKED, Finding
from core.diagnosis import diagnose
from core.errors import ResourceError
from core.hardware.machine import GIB, GpuInfo, HardwareProfile
from core.model.inspection import inspect_model
from core.model.profile import ModelProfile
from core.settings import engine_defects
from core.settings.observations import Observation, Observations, SamplingSeen
from core.settings.setup import Setup
from core.settings.versions import compare, parse, parse_exact

RESOURCE = Path(__file__).resolve().parents[1] / "resources" / "known_bugs.json"

# --- inputs ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelProfile]:
    """Real GGUFs: an IQ3_S llama, a Q4_K llama, and a Q4_K file of the deepseek4 architecture."""
    d = tmp_path_factory.mktemp("known_bugs")
    md = llama_metadata(2, 256, 512, 4, 4)
    ds4 = {k.replace("llama.", "deepseek4."): v for k, v in md.items()}
    return {
        "iq3_s": inspect_model(str(write_gguf(d / "iq3s.gguf", metadata=md, tensors=llama_tensors(2, 256, 512, 4, 4, 256, qtype=Q.IQ3_S)))),
        "q4_k": inspect_model(str(write_gguf(d / "q4k.gguf", metadata=md, tensors=llama_tensors(2, 256, 512, 4, 4, 256)))),
        "ds4": inspect_model(str(write_gguf(d / "ds4.gguf", arch="deepseek4", metadata=ds4, tensors=llama_tensors(2, 256, 512, 4, 4, 256)))),
    }  # fmt: skip


def gpu(name: str, cc: str | None, vendor: str = "nvidia") -> HardwareProfile:
    backend = "cuda" if vendor == "nvidia" else "rocm"
    return HardwareProfile(gpus=[GpuInfo(vendor, 0, name, backend, total_bytes=16 * GIB, compute_capability=cc)])


BLACKWELL = gpu("NVIDIA GeForce RTX 5080", "12.0")
ADA = gpu("NVIDIA GeForce RTX 4090", "8.9")


def check(profile: ModelProfile, setup: Setup, hardware: HardwareProfile | None = None, **obs: Any) -> Finding:
    """The check as diagnose() runs it: only what it declared."""
    given = CheckInput(profile, setup, hardware=hardware, observations=Observations(**obs))
    out = known_bugs.CHECK.run(given.only(known_bugs.CHECK.needs))
    assert isinstance(out, Finding) and out.id == "known-engine-bugs"
    return out


def ids(f: Finding) -> list[str]:
    return [d.split(";")[0].removeprefix("known defect ").split(":")[0] for d in f.details]


# --- the version comparison ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("b6123", 6123),  # the release tag
        ("b8643-f49e91787", 8643),  # llama-server /props build_info
        ("8643 (f49e91787)", 8643),  # the log reader's version (its "build: …" line)
        ("version: 8643 (f49e91787)", 8643),  # llama-server --version (llama.cpp #21394)
        ("build: 8703 (5c4aae66e) with GNU 14.2.0", 8703),
        ("llama-b8338-bin-win-vulkan-x64", 8338),  # a release archive's name (llama.cpp #21610)
    ],
)
def test_llamacpp_builds_read_in_every_spelling(text: str, number: int):
    v = parse(text, "build")
    assert v is not None and v.key == (number,) and str(v) == text


@pytest.mark.parametrize("text", ["f49e91787", "0.15.6", "", "   ", "latest", "b", None, 8643, "x" * 300])
def test_what_is_not_a_build_number_is_none(text: object):
    assert parse(text, "build") is None


def test_semantic_versions_order_with_their_pre_releases():
    order = ["0.6.6", "0.6.7", "0.32.9", "0.32.10-rc0", "0.32.10-rc1", "0.32.10", "v0.32.11", "0.33.0-rc2", "0.33.0"]
    versions = [parse_exact(t, "semver") for t in order]
    assert all(compare(a, b) == -1 for a, b in itertools.pairwise(versions))
    assert compare(parse_exact("0.4.21+2", "semver"), parse_exact("0.4.21 (build 2)", "semver")) == 0
    assert compare(parse_exact("0.6", "semver"), parse_exact("0.6.0", "semver")) == 0
    assert parse("b6123", "semver") is None and parse("6123", "semver") is None
    with pytest.raises(ValueError, match="cannot compare"):
        compare(parse_exact("b6123", "build"), parse_exact("0.6.6", "semver"))
    with pytest.raises(ValueError, match="not a semver version"):
        parse_exact("next", "semver")


def test_the_version_range_at_its_edges():
    b = lambda t: parse_exact(t, "build")  # noqa: E731
    exact = engine_defects.Versions(b("b100"), None, b("b200"))
    assert [exact.status(b(t)) for t in ("b99", "b100", "b199", "b200", "b201")] == [
        "clear", "affected", "affected", "clear", "clear",
    ]  # fmt: skip
    assert exact.status(None) == "unknown"
    window = engine_defects.Versions(None, b("b150"), b("b200"))  # known affected through b150, fixed from b200
    assert [window.status(b(t)) for t in ("b1", "b150", "b151", "b199", "b200")] == [
        "affected", "affected", "unsure", "unsure", "clear",
    ]  # fmt: skip
    open_bug = engine_defects.Versions(b("b100"), None, None)
    assert open_bug.status(b("b99999")) == "affected" and open_bug.status(b("b99")) == "clear"
    every = engine_defects.Versions(None, None, None)
    assert every.any_version and every.status(None) == "affected"


# --- the resource ----------------------------------------------------------------------------------------------


def test_every_entry_has_sources_a_fix_and_known_symptoms():
    cat = engine_defects.load(RESOURCE)
    raw = json.loads(RESOURCE.read_text(encoding="utf-8"))
    assert len(cat.bugs) == len(raw["bugs"]) >= 4
    for bug, entry in zip(cat.bugs, raw["bugs"], strict=True):
        assert bug.sources and all(s.startswith("https://github.com/") for s in bug.sources), bug.id
        # a version that fixed it, or the words say plainly what fixed it or that nothing did
        assert bug.versions.fixed_in is not None or bug.fixed_by.strip(), bug.id
        if bug.fixed_by.startswith("not fixed"):
            assert bug.versions.fixed_in is None, bug.id
        assert entry["versions"]["fixed_in"] is None or parse(entry["versions"]["fixed_in"], bug.scheme) is not None
        assert bug.symptoms and set(bug.symptoms) <= set(engine_defects.SYMPTOMS)
        assert bug.title and bug.words and bug.fix
    assert cat.rotation.first_with.key == (8643,) and cat.rotation.last_without.key == (8589,)
    assert cat.rotation.off_switch == "LLAMA_ATTN_ROT_DISABLE"
    assert "https://github.com/ggml-org/llama.cpp/pull/21038" in cat.rotation.sources
    assert engine_defects.catalog() == cat  # the shipped file is the one read


def _write(tmp_path: Path, change: Any) -> Path:
    data = json.loads(RESOURCE.read_text(encoding="utf-8"))
    change(data)
    p = tmp_path / "known_bugs.json"
    p.write_text(json.dumps(data), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["bugs"][0]["versions"].update(fixed_in="soon"), "'soon' is not a build version"),
        (lambda d: d["bugs"][0].update(sources=["http://example.org"]), "https address"),
        (lambda d: d["bugs"][0].update(sources=[]), "'sources' should be a list of text"),
        (lambda d: d["bugs"][1].update(symptoms=["slow"]), "unknown symptom"),
        (lambda d: d["bugs"][1].update(when={"moon_phase": "full"}), "condition this version does not know"),
        (lambda d: d["bugs"].append(dict(d["bugs"][0])), "two entries share an id"),
        (lambda d: d.update(schema=2), "schema 1"),
        (lambda d: d["kv_rotation"].update(first_with="b100"), "earlier version than first_with"),
        (lambda d: d["bugs"][2].update(scheme="calver"), "'scheme' should be one of build, semver"),
    ],
)
def test_a_damaged_resource_is_a_plain_error(tmp_path: Path, change: Any, words: str):
    with pytest.raises(ResourceError, match="damaged") as err:
        engine_defects.load(_write(tmp_path, change))
    assert words in err.value.message and err.value.fix.startswith("Reinstall")


def test_a_missing_or_broken_resource_file_is_a_plain_error(tmp_path: Path):
    with pytest.raises(ResourceError):
        engine_defects.load(tmp_path / "absent.json")
    broken = tmp_path / "known_bugs.json"
    broken.write_text('{"schema": 1, "bugs": [', encoding="utf-8")
    with pytest.raises(ResourceError, match="not valid JSON"):
        engine_defects.load(broken)
    broken.write_text('{"schema": 1, "schema": 1, "bugs": []}', encoding="utf-8")
    with pytest.raises(ResourceError, match="twice"):
        engine_defects.load(broken)


# --- IQ1_S/IQ2_S/IQ3_S on Blackwell (llama.cpp #28581) ------------------------------------------------------


def test_iq3_s_on_blackwell_is_found_whatever_the_build(files):
    for version in (None, "b6123", "b99999"):
        f = check(files["iq3_s"], Setup(), BLACKWELL, engine_version=version)
        assert f.status == FOUND and f.severity == "warning" and f.confidence == "suspected"
        assert ids(f) == ["blackwell-iq-s-nvcc-13.2"]
        text = "\n".join(f.evidence)
        assert "14 IQ3_S tensors" in text and "compute capability 12.0" in text
        assert "Source: https://github.com/ggml-org/llama.cpp/issues/28581" in f.evidence
        assert "CUDA 13.2.2" in f.fix[0].text


def test_iq3_s_is_not_that_bug_off_blackwell_or_off_llamacpp(files):
    assert check(files["iq3_s"], Setup(), ADA, engine_version="b6123").status == FINE
    assert check(files["iq3_s"], Setup(), gpu("Radeon RX 9070 XT", None, "amd")).status == FINE
    assert check(files["iq3_s"], Setup(), HardwareProfile()).status == FINE  # no GPU: no CUDA kernel runs
    assert check(files["q4_k"], Setup(), BLACKWELL, engine_version="b6123").status == FINE  # K-quants are fine
    lms = check(files["iq3_s"], Setup.of(engine="lm-studio"), BLACKWELL)  # only llama.cpp's own builds are known
    assert "blackwell-iq-s-nvcc-13.2" not in ids(lms)


def test_iq3_s_with_an_unknown_gpu_is_not_checked(files):
    for hardware in (None, gpu("NVIDIA GeForce RTX 5080", None)):
        f = check(files["iq3_s"], Setup(), hardware, engine_version="b6123")
        assert f.status == NOT_CHECKED and f.severity == "ok"
        assert "GPU" in " ".join(f.evidence)


# --- Ollama's default repeat_penalty 1.1 (commit 6a261db7d, v0.32.10) ----------------------------------------


@pytest.mark.parametrize(
    ("version", "status"),
    [
        ("0.6.6", FOUND),
        ("0.32.9", FOUND),
        ("v0.32.9", FOUND),
        ("0.32.10-rc0", FINE),
        ("0.32.10", FINE),
        ("0.33.0", FINE),
    ],
)
def test_ollama_repeat_penalty_by_version(files, version: str, status: str):
    f = check(files["q4_k"], Setup.of(engine="ollama"), ADA, engine_version=version)
    assert f.status == status
    if status == FOUND:
        assert ids(f) == ["ollama-default-repeat-penalty-1.1"] and f.severity == "info"
        assert f"version {version}" in "\n".join(f.evidence) and "PARAMETER repeat_penalty 1.0" in f.fix[0].text
        assert "Source: https://github.com/ollama/ollama/commit/6a261db7d87b13d76c5197cec636a0a3951afb36" in f.evidence


def test_ollama_repeat_penalty_set_by_the_model_or_reported_by_the_engine(files):
    setup = Setup.of(engine="ollama")
    own = SamplingSeen("Ollama /api/show", reported=True, repeat_penalty=1.05)
    assert check(files["q4_k"], setup, ADA, engine_version="0.32.9", sampling=own).status == FINE
    reported = SamplingSeen("Ollama /api/show", reported=True, repeat_penalty=1.1)
    f = check(files["q4_k"], setup, ADA, engine_version="0.32.9", sampling=reported)
    assert f.status == FOUND and f.confidence == "confirmed" and "repeat penalty 1.1" in "\n".join(f.evidence)
    assert check(files["q4_k"], setup, ADA, engine_version="0.32.9").confidence == "suspected"


def test_an_unknown_ollama_version_is_not_checked_and_says_how_to_give_it(files):
    for version in (None, "", "main"):
        f = check(files["q4_k"], Setup.of(engine="ollama"), ADA, engine_version=version)
        assert f.status == NOT_CHECKED and f.severity == "ok" and not f.checked
        assert f.title == "Not checked: known engine defects need your engine's version"
        text = "\n".join(f.evidence)
        assert "Connect to my app" in text and "Import a log…" in text


# --- LM Studio loading a smaller context than asked (lmstudio-bug-tracker #2404) --------------------------------


def test_lmstudio_clamped_context_is_found_when_the_app_says_so(files):
    setup = Setup.of(engine="lm-studio", ctx=65536)
    loaded = Observation("6553", "LM Studio at http://127.0.0.1:1234: context of the loaded model")
    f = check(files["q4_k"], setup, ADA, engine_version="0.4.21+2", live_ctx=loaded)
    assert f.status == FOUND and f.confidence == "confirmed" and ids(f) == ["lmstudio-context-silently-smaller"]
    assert "you asked for 65,536 tokens of context" in "\n".join(f.evidence) and "6,553" in "\n".join(f.evidence)
    assert "Source: https://github.com/lmstudio-ai/lmstudio-bug-tracker/issues/2404" in f.evidence


def test_lmstudio_not_clamped_older_or_unknown(files):
    setup = Setup.of(engine="lm-studio", ctx=65536)
    full = Observation("65536", "LM Studio: context of the loaded model")
    assert check(files["q4_k"], setup, ADA, engine_version="0.4.21", live_ctx=full).status == FINE
    small = Observation("6553", "LM Studio: context of the loaded model")
    assert check(files["q4_k"], setup, ADA, engine_version="0.4.11", live_ctx=small).status == FINE  # before 0.4.12
    assert check(files["q4_k"], setup, ADA, engine_version="0.4.12", live_ctx=small).status == FOUND  # its first
    unknown = check(files["q4_k"], setup, ADA, engine_version="0.4.21")  # nothing says what it loaded
    assert unknown.status == NOT_CHECKED and "Connect to my app" in "\n".join(unknown.evidence)
    assert check(files["q4_k"], setup, ADA, live_ctx=small).status == NOT_CHECKED  # no version


# --- DeepSeek-V4 with a quantized K cache (llama.cpp #25382, fixed by #25202) --------------------------------


def test_deepseek4_with_a_quantized_k_cache_on_an_old_build(files):
    q8 = Setup.of(cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True)
    f = check(files["ds4"], q8, ADA, engine_version="b9637")  # the last build known to have it
    assert f.status == FOUND and f.severity == "critical" and ids(f) == ["deepseek4-quantized-k-cache-rotation"]
    assert "architecture deepseek4; K cache q8_0" in "\n".join(f.evidence)
    assert "--cache-type-k f16" in f.fix[0].text
    assert f.why.startswith("llama.cpp builds before PR #25202") and f.why not in f.evidence  # said once
    assert check(files["ds4"], q8, ADA, engine_version="b1000").status == FOUND


def test_deepseek4_not_matched_or_not_sure(files):
    q8 = Setup.of(cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True)
    assert check(files["ds4"], Setup(), ADA, engine_version="b9000").status == FINE  # an f16 K cache
    assert check(files["q4_k"], q8, ADA, engine_version="b9000").status == FINE  # another architecture
    later = check(files["ds4"], q8, ADA, engine_version="b9638")  # the fix's build is not known exactly
    assert later.status == NOT_CHECKED and "already has the fix" in "\n".join(later.evidence)
    commit = check(files["ds4"], q8, ADA, engine_version="c629da565")  # a bare commit cannot be placed
    assert commit.status == NOT_CHECKED and "'c629da565' is not a version this list can place" in "\n".join(
        commit.evidence
    )
    ollama = check(files["ds4"], Setup.of(engine="ollama", cache_type_k="q8_0"), ADA, engine_version="0.40.0")
    assert "deepseek4-quantized-k-cache-rotation" not in ids(ollama)


# --- several at once, and nothing to find ------------------------------------------------------------------------


def test_two_defects_at_once_rank_by_severity(files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An entry list where both the Blackwell and the DeepSeek entries apply to one file: critical first."""
    p = _write(tmp_path, lambda d: d["bugs"][3]["when"].update(architectures=["llama"]))
    monkeypatch.setattr(engine_defects, "catalog", lambda: engine_defects.load(p))
    q8 = Setup.of(cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True)
    f = check(files["iq3_s"], q8, BLACKWELL, engine_version="b9000")
    assert ids(f) == ["deepseek4-quantized-k-cache-rotation", "blackwell-iq-s-nvcc-13.2"]
    assert f.severity == "critical" and f.title.endswith("(and 1 more known defect)") and len(f.fix) == 2
    cat = engine_defects.load(p)
    assert [e for e in f.evidence if e.startswith("A known")] == [
        f"{b.title}: {b.words}" for b in (cat.bugs[3], cat.bugs[0])
    ]


def test_nothing_known_applies_even_without_a_version(files):
    f = check(files["q4_k"], Setup(), ADA)
    assert f.status == FINE and "none applies" in f.evidence[0]


# --- through the registry and the diagnosis ------------------------------------------------------------------


def test_the_check_is_one_registry_line_and_shows_in_the_diagnosis(files):
    assert checks.get("known-engine-bugs") is known_bugs.CHECK and known_bugs.CHECK.order == 8
    d = diagnose(files["iq3_s"], Setup(), BLACKWELL, observations=Observations(engine_version="b6123"))
    f = next(x for x in d.findings if x.id == "known-engine-bugs")
    assert f in d.problems and f.status == FOUND
    d = diagnose(files["q4_k"], Setup.of(engine="ollama"), ADA)
    f = next(x for x in d.findings if x.id == "known-engine-bugs")
    assert f in d.unchecked and d.is_unchecked(f)


# --- the kv-cache check weighs the rotation (llama.cpp PR #21038) ------------------------------------------------


def _kv(profile: ModelProfile, setup: Setup, version: str | None) -> Finding:
    given = CheckInput(profile, setup, observations=Observations(engine_version=version))
    out = kv_cache.CHECK.run(given.only(kv_cache.CHECK.needs))
    assert isinstance(out, Finding)
    return out


def test_kv_cache_says_an_old_build_loses_more(files):
    q4 = Setup.of(ctx=32768, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True)
    assert any("older than the cache rotation" in e for e in _kv(files["q4_k"], q4, "b8589").evidence)  # the edge
    old = _kv(files["q4_k"], q4, "b8338")
    assert any("older than the cache rotation" in e and "b8643" in e for e in old.evidence)
    assert "without the rotation newer builds apply" in old.why
    new = _kv(files["q4_k"], q4, "b8643-f49e91787")
    assert any("rotates a quantized cache" in e for e in new.evidence) and "without the rotation" not in new.why
    assert old.severity == new.severity == "critical"  # the rotation words, not the verdict, change


def test_kv_cache_says_nothing_of_the_rotation_when_it_cannot_know(files):
    q4 = Setup.of(ctx=32768, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True)
    for version in (None, "b8590", "b8642", "f49e91787"):  # none, between the known builds, a bare commit
        assert not any("rotation" in e for e in _kv(files["q4_k"], q4, version).evidence)
    ollama = _kv(files["q4_k"], Setup.of(engine="ollama", ctx=32768, cache_type_k="q4_0", flash_attn=True), "0.15.6")
    assert not any("rotation" in e for e in ollama.evidence)
    f16 = _kv(files["q4_k"], Setup.of(ctx=32768), "b8338")  # nothing quantized: nothing to weigh
    assert not any("rotation" in e for e in f16.evidence)


# --- the version from the person's command: a llama.cpp release folder names its build ------------------------


def test_the_build_is_read_from_the_release_folder_a_command_runs_from(files):
    from core.engines.llamacpp import from_command
    from core.shells import Shell

    posix = from_command(
        "/opt/llama-b9600-bin-ubuntu-x64/build/bin/llama-server -m ds4.gguf -ctk q8_0 -ctv q8_0 -fa on"
    )
    f = check(files["ds4"], posix, ADA)
    assert f.status == FOUND and "version b9600 (from the release folder your command runs it from)" in f.evidence[0]
    windows = from_command(
        r'& "C:\Program Files\llama-b9700-bin-win-cuda-12.4-x64\llama-server.exe" -m ds4.gguf -ctk q8_0',
        Shell.POWERSHELL,
    )
    later = check(files["ds4"], windows, ADA)  # b9700: after the last build known to have it
    assert later.status == NOT_CHECKED and "whether version b9700 already has the fix" in "\n".join(later.evidence)
    typed = check(files["ds4"], posix, ADA, engine_version="b10800")  # what the app or the person says wins
    assert typed.status == NOT_CHECKED and "b10800" in "\n".join(typed.evidence)
    own_build = from_command("./build/bin/llama-server -m ds4.gguf -ctk q8_0 -fa on")  # a build of one's own
    mine = check(files["ds4"], own_build, ADA)
    assert mine.status == NOT_CHECKED and mine.title.endswith("need your engine's version")
    old = from_command("/opt/llama-b8000-bin-macos-arm64/llama-server -m m.gguf -c 32768 -ctk q4_0 -ctv q4_0 -fa on")
    assert any("older than the cache rotation" in e for e in _kv(files["q4_k"], old, None).evidence)


@pytest.mark.parametrize(
    ("command", "build"),
    [
        ("/home/me/llama-b6123-bin-ubuntu-x64/build/bin/llama-server -m x.gguf", "b6123"),
        ("'C:\\Program Files\\llama-b8338-bin-win-vulkan-x64\\llama-server.exe' -m x.gguf", "b8338"),
        ("llama-server -m /models/llama-b6123-bin-x/m.gguf", None),  # only the program's own folder counts
        ("./build/bin/llama-server -m x.gguf", None),
        ("llama-server -m 'unterminated", None),
        (None, None),
    ],
)
def test_build_in_command(command: str | None, build: str | None):
    from core.settings.versions import build_in_command

    assert build_in_command(command) == build


def test_a_long_or_odd_version_is_quoted_short_and_plain(files):
    setup = Setup.of(engine="ollama")
    long = "0.32.9+" + "a" * 150  # a server may answer anything: it is data, cut to 40 characters
    f = check(files["q4_k"], setup, ADA, engine_version=long)
    assert f.status == FOUND and f"version {long[:40]} (" in "\n".join(f.evidence) and long not in "\n".join(f.evidence)
    odd = check(files["q4_k"], setup, ADA, engine_version="<b>0.32.9</b>")
    assert odd.status == NOT_CHECKED and "'<b>0.32.9</b>' is not a version this list can place" in "\n".join(
        odd.evidence
    )
