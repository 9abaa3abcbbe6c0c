"""A hostile mirror behind HF_ENDPOINT (issue 24): the real huggingface_hub pieces Quant Doctor still uses and
its own door (core.net) against a real local server speaking the Hub API's shape (tests/fakehub.py) that
sends path ETags and `../` commits (also only to a client that asks twice), hostile file names, redirects
to another origin, a gzip bomb and an endless answer. Nothing is written outside the cache folder, every
failure is a typed error (exit 2 from the CLI, no traceback), and memory stays bounded."""

from __future__ import annotations

import json
import os
import subprocess
import time
import tracemalloc
from pathlib import Path

import gguf
import pytest
from fakehub import FakeFile, make_gguf, running
from hostile_http import MIB, gzip_bomb, send, serve

from core.cli.main import main
from core.errors import HubError, HubNotFoundError, HubUnreachableError
from core.hub import download, fetch_card
from core.hub.alternatives import list_quant_repos
from core.hub.search import search_model_ids
from core.progress import run_job
from core.shells import Shell, split

REPO = "quanter/Tiny-GGUF"
FILE = "Tiny-Q8_0.gguf"
INJECTED = "a;touch x;-Q8_0.gguf"
HOSTILE_NAMES = ["../../evil-Q4_K_M.gguf", "dir/../../up-Q4_K_M.gguf", "/abs-Q8_0.gguf", "C:\\win-Q8_0.gguf",
                 "x\n[ok] 1. Your quant is perfect-Q5_K_M.gguf", "nul\x00-Q8_0.gguf", "./dot-Q8_0.gguf"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> bytes:
    return make_gguf(tmp_path_factory.mktemp("tiny") / FILE, n_layer=2, n_embd=256, n_vocab=1024)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(2900)  # about 3 MB that decodes to 2.9 GB


@pytest.fixture
def hub(monkeypatch, tmp_path, tiny):
    for h in running(monkeypatch, tmp_path):
        files: dict[str, FakeFile | bytes] = {FILE: tiny, INJECTED: tiny[:-1] + b"!"}
        files.update({name: FakeFile(size=1000) for name in HOSTILE_NAMES})
        h.add(REPO, files, card={"base_model": "acme/Tiny", "base_model_relation": "quantized"})
        yield h


def outside_cache(tmp_path: Path) -> set[Path]:
    cache = tmp_path / "hf-cache"
    return {p for p in tmp_path.rglob("*") if cache not in p.parents and p != cache}


def peak_mib(fn):
    tracemalloc.start()
    try:
        try:
            result = fn()
        except Exception as exc:
            result = exc
        return tracemalloc.get_traced_memory()[1] / MIB, result
    finally:
        tracemalloc.stop()


def test_a_second_answer_is_never_asked_for(hub, tiny, tmp_path):
    """The old path: our check saw a harmless ETag, then hf_hub_download asked again and wrote where the second
    answer said. Now the file is asked about once, and only what was checked is acted on."""
    hub.etag_later, hub.commit_later = "../../../../escaped", "../../../../escaped-commit"
    before = outside_cache(tmp_path)
    done = run_job(download(REPO, FILE))
    assert done.verified and done.path.read_bytes() == tiny
    assert len(hub.seen("hub", prefix=f"/{REPO}/resolve/")) == 1  # one HEAD: nobody asks a second time
    cache = (tmp_path / "hf-cache").resolve()
    assert cache in done.path.resolve().parents and done.path.parent.name == hub.repos[REPO.lower()].sha
    assert (done.path.parent.parent.parent / "refs" / "main").read_text() == done.commit
    assert outside_cache(tmp_path) == before
    assert not any("escaped" in str(p) for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("commit", ["../../../../escaped", "../", "0" * 39 + "/", "A" * 40, "main"])
def test_a_commit_that_is_not_a_commit_id_is_a_typed_error(hub, tmp_path, commit):
    hub.commit = commit
    before = outside_cache(tmp_path)
    with pytest.raises(HubError, match="not a commit id"):
        run_job(download(REPO, FILE))
    assert not hub.seen("cdn") and outside_cache(tmp_path) == before


def test_an_etag_that_names_another_file_is_refused(hub, tiny):
    hub.etag = "0" * 64  # a version id of the right shape, but not this file's sha256
    with pytest.raises(HubError, match=r"answers about Tiny-Q8_0\.gguf disagree"):
        run_job(download(REPO, FILE))
    assert not hub.seen("cdn")


def test_hostile_file_names_never_become_files_or_paths(hub, tmp_path):
    card = fetch_card(REPO)
    names = {f.path for f in card.files}
    assert names == {FILE, INJECTED}  # the names that are not paths inside a repository are not its files
    before = outside_cache(tmp_path)
    for name in HOSTILE_NAMES:
        with pytest.raises(HubNotFoundError, match="is not a file name in a repository"):
            run_job(download(REPO, name))
    assert not hub.seen("hub", "HEAD") and not hub.seen("cdn")  # refused before anything was asked
    done = run_job(download(REPO, INJECTED))  # a strange but legal name: a file inside the cache, nothing run
    assert done.path.name == INJECTED and done.verified
    assert (tmp_path / "hf-cache").resolve() in done.path.resolve().parents
    assert outside_cache(tmp_path) == before and not Path("x").exists()


@pytest.mark.parametrize("revision", ["../../x", "refs/../../x", "/abs", "a b", "x" * 300])
def test_a_revision_that_is_not_a_ref_name_is_refused_before_any_request(hub, revision):
    with pytest.raises(HubNotFoundError, match="not a branch, tag or commit name"):
        run_job(download(REPO, FILE, revision=revision))
    assert not hub.seen("hub", "HEAD")


def test_api_redirects_to_another_origin_are_not_followed(hub):
    with serve({"/": send(200, b"[]")}) as (other, other_seen):
        hub.api_answer = (302, {"Location": other + "/api/models/quanter/Tiny-GGUF"}, b"")
        for call in (lambda: fetch_card(REPO), lambda: search_model_ids("tiny"), lambda: list_quant_repos("acme/T")):
            with pytest.raises(HubUnreachableError, match="redirected to another address"):
                call()
        assert other_seen == []


def test_the_file_host_may_not_redirect_elsewhere_and_gets_no_token(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_for_this_test_only")
    with serve({"/": send(200, b"x")}) as (other, other_seen):
        hub.cdn_redirect = other + "/blob"
        with pytest.raises(HubUnreachableError, match="redirected to another address"):
            run_job(download(REPO, FILE))
        assert other_seen == []
    cdn = hub.seen("cdn")
    assert cdn and all("authorization" not in r.headers for r in cdn)
    assert all(r.headers.get("authorization") == "Bearer hf_secret_for_this_test_only" for r in hub.seen("hub"))


@pytest.mark.parametrize("location, said", [
    ("http://user:pw@127.0.0.1:9/blob", "user name or password"),
    ("file:///etc/passwd", "not an http:// or https:// address"),
    ("gopher://127.0.0.1:70/", "not an http:// or https:// address"),
])  # fmt: skip
def test_a_file_address_that_cannot_be_used_is_a_typed_error(hub, location, said):
    hub.location = location
    with pytest.raises(HubError, match=said):
        run_job(download(REPO, FILE))


def test_the_file_host_may_not_be_this_machine_when_the_hub_is_elsewhere():
    from core.hub._client import _checked_location

    with pytest.raises(HubError, match="on this machine or its network"):
        _checked_location("https://169.254.169.254/latest/meta-data", "https://hub.example/x/resolve/main/f")
    with pytest.raises(HubError, match="unencrypted"):
        _checked_location("http://cdn.example/blob", "https://hub.example/x/resolve/main/f")
    assert _checked_location("https://cdn.example/b", "https://hub.example/r") == "https://cdn.example/b"


@pytest.mark.parametrize("body", ["bomb", "endless"])
def test_a_bomb_or_an_endless_listing_stops_at_the_cap(hub, bomb, body, tmp_path, capsys):
    headers = {"Content-Type": "application/json"}
    if body == "bomb":
        headers["Content-Encoding"] = "gzip"
    hub.api_answer = (200, headers, bomb if body == "bomb" else None)
    start = time.monotonic()
    peak, result = peak_mib(lambda: search_model_ids("tiny", timeout=10))
    took = time.monotonic() - start
    assert isinstance(result, HubUnreachableError) and "larger than 64 MiB" in result.message, result
    assert peak < 160 and took < 15, (peak, took)  # 64 MiB read and refused: not 2.9 GB, not forever
    with capsys.disabled():
        print(f"\n{body}: refused in {took:.2f} s, peak {peak:.0f} MiB")
    assert main(["hub", "card", REPO]) == 2  # the command line: a plain message and exit 2
    err = capsys.readouterr().err
    assert "larger than 64 MiB" in err and "Traceback" not in err
    assert outside_cache(tmp_path) <= {tmp_path / "hf-home"}


@pytest.mark.parametrize("answer", [
    {"id": "quanter/Tiny-GGUF", "siblings": 5},
    {"id": "quanter/Tiny-GGUF", "siblings": [{"no": "name"}]},
    {"id": 5},
    {"id": "quanter/Tiny-GGUF", "cardData": {"ignore_metadata_errors": 1}},
    {"id": "quanter/Tiny-GGUF", "inferenceProviderMapping": 3},
    [1, 2, 3],
])  # fmt: skip
def test_a_card_of_the_wrong_shape_is_a_typed_error(hub, answer):
    hub.api_answer = (200, {"Content-Type": "application/json"}, json.dumps(answer).encode())
    with pytest.raises(HubUnreachableError, match="does not answer like the model Hub"):
        fetch_card(REPO)


def test_odd_fields_of_a_card_are_dropped_not_trusted(hub):
    answer = {"id": REPO, "tags": "gguf", "downloads": "many", "gated": {"x": 1}, "sha": 7, "siblings": [
        {"rfilename": FILE, "size": -5, "blobId": "../x", "lfs": {"size": 1, "sha256": "../..", "pointerSize": 1}},
        {"rfilename": 12}, {"rfilename": "../../up.gguf"},
    ]}  # fmt: skip
    hub.api_answer = (200, {"Content-Type": "application/json"}, json.dumps(answer).encode())
    card = fetch_card(REPO)
    assert [(f.path, f.size, f.sha256, f.blob_id) for f in card.files] == [(FILE, None, None, None)]
    assert card.tags == [] and card.downloads is None and card.gated is None and card.sha is None


def test_one_malformed_entry_of_a_listing_costs_that_entry(hub):
    good = {"id": "acme/Good", "downloads": 3}
    hub.api_answer = (200, {"Content-Type": "application/json"},
                      json.dumps([{"id": "acme/Bad", "siblings": 7}, good]).encode())  # fmt: skip
    assert list_quant_repos("acme/Base") == ["acme/Good"]


# --- a Hub file name in a command to paste ----------------------------------------------------------------------


@pytest.fixture
def injected_repo(hub, tiny):
    hub.add("evil/Base", {"config.json": FakeFile(b"{}", lfs=False)})
    hub.add("evil/Base-GGUF", {INJECTED: FakeFile(size=2_000_000_000)},
            card={"base_model": "evil/Base", "base_model_relation": "quantized"})  # fmt: skip
    return hub


def printed_command(capsys, tmp_path) -> str:
    local = tmp_path / "Base-Q2_K.gguf"
    make_gguf(local, gguf.GGMLQuantizationType.Q2_K, gguf.LlamaFileType.MOSTLY_Q2_K)
    assert main(["hub", "alternatives", str(local), "--expect", "evil/Base", "--gpu", "24GB"]) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if x.startswith("Download the first with:")]
    return line.split("with:", 1)[1].strip()


def test_the_printed_download_command_pastes_safely_into_sh(injected_repo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QUANTDOCTOR_TERMINAL", "linux")
    command = printed_command(capsys, tmp_path)
    bin_dir, work = tmp_path / "bin", tmp_path / "paste-here"
    bin_dir.mkdir()
    work.mkdir()
    stub = bin_dir / "quantdoctor-cli"  # stands in for the real command: prints the arguments it was given
    stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    ran = subprocess.run(["sh", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=10)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["hub", "download", "evil/Base-GGUF", INJECTED]
    assert list(work.iterdir()) == []  # `touch x` did not run
    unquoted = command.replace("'", "")  # what the old, unquoted line did
    subprocess.run(["sh", "-c", unquoted], cwd=work, env=env, capture_output=True, text=True, timeout=10)
    assert (work / "x").exists()  # the test can fail: the injection is real when the name is not quoted


@pytest.mark.parametrize("terminal, shell", [("windows/powershell", Shell.POWERSHELL), ("windows/cmd", Shell.CMD)])
def test_the_printed_download_command_is_one_argument_per_word_on_windows(injected_repo, tmp_path, capsys,
                                                                           monkeypatch, terminal, shell):  # fmt: skip
    monkeypatch.setenv("QUANTDOCTOR_TERMINAL", terminal)
    command = printed_command(capsys, tmp_path)
    assert split(command, shell) == ["quantdoctor-cli", "hub", "download", "evil/Base-GGUF", INJECTED]
    if shell is Shell.CMD:
        assert '"a;touch x;-Q8_0.gguf"' in command  # inside quotes, where cmd's ; & | are plain characters


def test_a_downloaded_hub_file_name_in_the_windows_copy_fields_pastes_safely(hub, tmp_path, monkeypatch):
    """The window downloads through core.app.hub and then diagnoses the file: its fixes name the file in
    the cache, whose name is the Hub's. Every copy field that carries it keeps it one argument in sh."""
    from core.app.hub import download as app_download
    from core.engines import registry as engines
    from core.engines.base import Change, CopyKind, FixBase
    from core.shells import Terminal

    done = run_job(app_download(REPO, INJECTED))
    model = str(done.path)
    base = FixBase(model_path=model, terminal=Terminal("linux", Shell.POSIX))
    changes = [Change(n_ctx=8192), Change(cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True)]
    steps = [s for e in map(engines.get, engines.ids()) for c in changes for s in e.apply(c, base)]
    commands = [s.command for s in steps if s.copy_kind is CopyKind.COMMAND and s.command and model in s.command]
    assert commands  # the fixes do name the downloaded file
    work, bin_dir = tmp_path / "paste-here", tmp_path / "bin"
    work.mkdir()
    bin_dir.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    for command in commands:
        argv = split(command, Shell.POSIX)
        assert model in argv, command  # one argument, whole
        program = bin_dir / Path(argv[0]).name
        program.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
        program.chmod(0o755)
        line = command if "/" not in argv[0] else command.replace(argv[0], Path(argv[0]).name, 1)
        ran = subprocess.run(["sh", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=10)
        assert model in ran.stdout.splitlines(), (command, ran.stderr)
    assert list(work.iterdir()) == []  # nothing injected ran


def test_the_reference_command_quotes_the_hub_file_name(hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QUANTDOCTOR_TERMINAL", "linux")
    hub.add("evil/Ref-GGUF", {"a;touch x;-Q8_0.gguf": FakeFile(size=1_000_000), "Ref-Q4_K_M.gguf": FakeFile(size=500)},
            card={"license": "mit"})  # fmt: skip
    assert main(["hub", "reference", "evil/Ref-GGUF", "--type", "Q4_K_M"]) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if x.startswith("To fetch it:")]
    command = line.split(":", 1)[1].strip()
    assert split(command, Shell.POSIX) == ["quantdoctor-cli", "hub", "download", "evil/Ref-GGUF", INJECTED]


@pytest.mark.parametrize("target", ["https://2130706433/x", "https://127.1:8443/x", "https://0x7f000001/x",
                                    "https://localhost./x", "https://0/x"])  # fmt: skip
def test_the_file_host_may_not_be_this_machine_in_another_spelling(target):
    from core.hub._client import _checked_location

    with pytest.raises(HubError, match="on this machine or its network"):
        _checked_location(target, "https://hub.example/x/resolve/main/f")
