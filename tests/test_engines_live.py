"""Finding the person's engines: fake servers on 127.0.0.1 replaying each engine's recorded-shape answers
(tests/fixtures/engines/<engine>/SOURCES.md cite the source file or documentation of every shape),
misbehaving servers, and the guarantee that nothing but loopback is ever contacted.
"""

from __future__ import annotations

import json
import socket
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import fake_engine, fake_engine_process, fixture, json_bytes, routes_for

from core.engines.live import PROBE_SECONDS, SCAN_SECONDS, connect, identify, scan
from core.engines.loopback import Loopback, parse_url
from core.engines.ollama import ollama_blob, ollama_name_parts
from core.errors import EngineNotFoundError

ENGINES = {
    "ollama": "ollama",
    "lmstudio": "lm-studio",
    "koboldcpp": "koboldcpp",
    "textgen-webui": "text-generation-webui",
    "tabbyapi": "tabbyapi",
    "vllm": "vllm",
    "llama-server": "llama-server",
}


@pytest.fixture(scope="module")
def fakes() -> Any:
    with ExitStack() as stack:
        ports = {}
        seen = {}
        for name in ENGINES:
            ports[name], seen[name] = stack.enter_context(fake_engine(routes_for(name)))
        yield ports, seen


def test_each_engine_is_told_by_the_shape_of_its_answers(fakes: Any) -> None:
    ports, seen = fakes
    # seven fake servers in this test's own process on a busy machine: identification, not speed, is tested
    result = scan(ports=ports.values(), defaults=False, read_process=False, seconds=20, probe_seconds=10)
    by_port = {int(e.url.rsplit(":", 1)[1]): e for e in result.found}
    assert {name: by_port[p].key for name, p in ports.items()} == ENGINES, result.problems
    # read-only: every request was a GET, except Ollama's read-only POST /api/show
    for name, requests in seen.items():
        for r in requests:
            assert r.startswith("GET ") or r.startswith("POST /api/show"), (name, r)


def test_tabbyapi_is_not_mistaken_for_koboldcpp_or_llama_server(fakes: Any) -> None:
    ports, _ = fakes
    e = connect(f"tabbyapi:{ports['tabbyapi']}")  # it also answers /props and /api/extra/version "KoboldCpp"
    assert e.key == "tabbyapi"
    assert e.setup is not None and (e.setup.run.n_ctx, e.setup.run.cache_type_k) == (16384, "q8_0")
    with pytest.raises(EngineNotFoundError, match="runs TabbyAPI, not koboldcpp"):
        connect(f"koboldcpp:http://127.0.0.1:{ports['tabbyapi']}")


def test_ollama_settings_and_what_it_does_not_say(fakes: Any) -> None:
    ports, _ = fakes
    e = connect(f"ollama:http://127.0.0.1:{ports['ollama']}")
    assert e.version == "0.12.6"
    m = e.loaded
    assert m is not None and (m.name, m.context, m.n_ctx_train, m.quantization) == (
        "llama3.2:3b",
        16384,
        131072,
        "Q4_K_M",
    )
    assert e.setup is not None and e.setup.engine == "ollama" and e.setup.run.n_ctx == 16384
    assert any("OLLAMA_KV_CACHE_TYPE" in line and "import the server log" in line for line in e.missing)
    assert any("flash attention" in line for line in e.missing)
    # api_ps.json: size_vram 2145388544 of size 3874716672 -> partly in system RAM
    assert any("55% on the GPU" in w for w in e.warnings), e.warnings


def testollama_blob_through_the_manifests(tmp_path: Path) -> None:
    models = tmp_path / "models"
    manifest = models / "manifests" / "registry.ollama.ai" / "library" / "llama3.2" / "3b"
    manifest.parent.mkdir(parents=True)
    manifest.write_bytes(fixture("ollama", "manifest.llama3.2_3b.json"))
    blob = models / "blobs" / "sha256-dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"GGUF")
    assert ollama_blob("llama3.2:3b", {"OLLAMA_MODELS": str(models)}, "") == str(blob)
    assert ollama_blob("llama3.2:1b", {"OLLAMA_MODELS": str(models)}, "", home=tmp_path) is None
    assert ollama_name_parts("llama3.2") == ("registry.ollama.ai", "library", "llama3.2", "latest")
    assert ollama_name_parts("me/mine:q4") == ("registry.ollama.ai", "me", "mine", "q4")


def test_ollama_named_model_and_a_missing_one(fakes: Any) -> None:
    ports, seen = fakes
    with pytest.raises(EngineNotFoundError, match="no model called 'nope'"):
        _connect_model(ports["ollama"], "nope")
    assert any(r.startswith("POST /api/show") for r in seen["ollama"])


def _connect_model(port: int, model: str) -> Any:
    from core.engines.live import probe_port

    return probe_port("127.0.0.1", port, time.monotonic() + 2, model, read_process=False)


def test_llama_server_shape(fakes: Any) -> None:
    ports, _ = fakes
    e = connect(f"llama-server:{ports['llama-server']}")
    assert e.key == "llama-server" and e.setup is not None
    assert e.setup.run.n_ctx == 8192  # default_generation_settings.n_ctx: per slot
    assert e.setup.model_path == "/home/alex/models/Llama-3.2-3B-Instruct-Q4_K_M.gguf"
    s = e.setup.sampling
    assert (s.temperature, s.top_k, s.top_p, s.min_p, s.repeat_penalty) == (0.8, 40, 0.95, 0.05, 1.0)
    assert "/slots: 1 slot(s), context 8,192 each" in e.facts


def test_lm_studio_loaded_context_and_flash_attention(fakes: Any) -> None:
    ports, _ = fakes
    e = connect(f"lmstudio:{ports['lmstudio']}")
    assert e.loaded is not None and e.loaded.name == "llama-3.2-3b-instruct"
    assert e.setup is not None and e.setup.run.n_ctx == 4096 and e.setup.run.flash_attn.value == "on"
    assert any("KV cache quantization" in line for line in e.missing)


def test_a_busy_port_with_another_engine_is_said_plainly(fakes: Any) -> None:
    ports, _ = fakes
    with pytest.raises(EngineNotFoundError, match="runs Ollama, not llama-server"):
        connect(f"llama-server:http://127.0.0.1:{ports['ollama']}")


@pytest.mark.parametrize(
    "kind, said",
    [("garbage", "not JSON"), ("html", "HTML page"), ("huge", "larger than 4 MiB"), ("slow", "no answer in time"),
     ("hang", "no answer in time"), ("closed", "connection failed")],
)  # fmt: skip
def test_misbehaving_servers_get_a_plain_message_in_time(kind: str, said: str) -> None:
    with fake_engine_process(kind) as port:
        start = time.monotonic()
        result = scan(ports=[port], defaults=False, read_process=False)
        assert time.monotonic() - start <= 2.5
    assert result.found == []
    assert len(result.problems) == 1 and said in result.problems[0], result.problems


def test_the_whole_scan_finds_every_engine_within_two_seconds_with_bad_servers_about() -> None:
    """The README: "one second a request and two seconds for the whole scan" -- with the person's own budget
    (no widened deadline), every engine found and every bad server said, all within the two seconds."""
    with ExitStack() as stack:
        good = {name: stack.enter_context(fake_engine_process(name)) for name in ENGINES}  # one process each
        bad = [stack.enter_context(fake_engine_process(k)) for k in ("huge", "slow", "hang")]
        start = time.monotonic()
        result = scan(ports=[*good.values(), *bad], defaults=False)
        took = time.monotonic() - start
    assert (SCAN_SECONDS, PROBE_SECONDS) == (2.0, 1.0)
    assert took <= SCAN_SECONDS + 0.1, took  # 0.1 s: collecting the threads after the deadline
    by_port = {int(e.url.rsplit(":", 1)[1]): e for e in result.found}
    assert {name: by_port[p].key for name, p in good.items() if p in by_port} == ENGINES, result.problems
    for port in bad:
        assert any(p.startswith(f"port {port}:") for p in result.problems), result.problems


def test_nothing_but_loopback_is_ever_contacted(fakes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ports, _ = fakes
    contacted: list[Any] = []
    real_connect = socket.socket.connect

    def spy(self: socket.socket, address: Any) -> Any:
        contacted.append(address[0])
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    scan(ports=ports.values())  # the default ports too
    connect(f"ollama:http://localhost:{ports['ollama']}")
    for spec in (
        "llama-server:http://192.168.1.10:8080",
        "ollama:http://example.com:11434",
        "vllm:http://[2001:db8::1]:8000",
    ):
        with pytest.raises(EngineNotFoundError, match="only connects to engines on this machine"):
            connect(spec)
    with pytest.raises(EngineNotFoundError):
        Loopback("10.0.0.1", 80)
    assert contacted and set(contacted) <= {"127.0.0.1", "::1"}, set(contacted)


def test_addresses() -> None:
    assert parse_url("8081", 8080) == ("127.0.0.1", 8081)
    assert parse_url("http://[::1]:9000", 8080) == ("::1", 9000)
    assert parse_url("localhost", 8080) == ("127.0.0.1", 8080)
    with pytest.raises(EngineNotFoundError):
        parse_url("https://127.0.0.1:8080", 8080)


def test_identify_needs_the_shape_not_the_port() -> None:
    from core.engines.loopback import Answer

    def answers(**bodies: Any) -> dict[str, Answer]:
        from core.engines.live import identify_paths

        out = {p: Answer(p, status=404, body=b"{}") for p in identify_paths()}
        for path, body in bodies.items():
            p = "/" + path.replace("__", "/").replace("_dot_", ".").replace("-", "-")
            out[p] = Answer(p, status=200, body=json_bytes(body))
        return out

    assert identify(answers()) is None
    assert identify({**answers(), "/v1/models": _a("/v1/models", {"data": [{"owned_by": "me"}]})}) == "llama-cpp-python"
    assert (
        identify({**answers(), "/v1/models": _a("/v1/models", {"data": [{"owned_by": "llamacpp"}]})}) == "llama-server"
    )


def _a(path: str, body: Any) -> Any:
    from core.engines.loopback import Answer

    return Answer(path, status=200, body=json.dumps(body).encode())


def test_secrets_on_an_engine_command_line_are_hidden() -> None:
    from core.redact import command

    cmd = ["llama-server", "-m", "m.gguf", "--api-key", "sk-123", "--api-key-file=/k", "-c", "4096"]
    assert command(cmd) == ["llama-server", "-m", "m.gguf", "--api-key", "(hidden)", "--api-key-file=(hidden)",
                                 "-c", "4096"]  # fmt: skip
