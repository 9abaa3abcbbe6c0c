"""The process/secret door (issue 24): no secret from a command line, an environment or a URL reaches any
output — `diagnose --json`, `engines --json`, the HTML and Markdown reports, copy fields, the window.

core.redact is the one redaction; core.engines.process the one reader of another process. The tests
feed secrets through the real entry points: real processes on this machine whose command lines and
environments hold them (stand-ins for text-generation-webui, its llama-server child, koboldcpp and a
llama-server, tests/secret_engines.py: psutil reads them for real), engine logs, and pasted commands.
The spellings the issue found are all here (--api-key, --hf-token, --admin-key, --gradio-auth user:pw,
--ssl-keyfile-password, --adminpassword, --model-url http://user:pass@..., LLAMA_ARG_MODEL_URL,
OLLAMA_HOST, OLLAMA_ORIGINS, OLLAMA_REMOTES); a generated table of new names shows the rule is a
pattern, not a list. A copy field never holds a stand-in for a secret: the flag is left out, and the
step says so.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import fixture
from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf

from core import redact
from core.redact import PLACEHOLDER

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
TENSORS = llama_tensors(2, 256, 512, 4, 2, 1024, Q.Q4_0, Q.Q8_0, Q.Q8_0)


class Secrets:
    """Distinct secret strings, each remembered, so that any output can be searched for every one of them."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.made: list[str] = []

    def __call__(self) -> str:
        secret = f"zq{self.tag}{len(self.made)}x{random.Random(len(self.made)).getrandbits(40):x}"
        self.made.append(secret)
        return secret

    def leaked(self, text: str) -> list[str]:
        return [s for s in self.made if s in text]


def small_gguf(path: Path) -> Path:
    return write_gguf(path, metadata=llama_metadata(2, 256, 512, 4, 2), tensors=TENSORS)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)  # fmt: skip


def secret_env(s: Secrets) -> dict[str, str]:
    """The variables the issue found, each holding a secret inside a URL or as its value."""
    return {
        "OLLAMA_HOST": f"http://alice:{s()}@127.0.0.1:11434",
        "OLLAMA_ORIGINS": f"http://bob:{s()}@a.example,https://carol:{s()}@b.example/x",
        "OLLAMA_REMOTES": f"https://dan:{s()}@remote.example",
        "LLAMA_ARG_MODEL_URL": f"https://eve:{s()}@models.example/m.gguf?token={s()}",
        "LLAMA_ARG_API_KEY": s(),
        "LLAMA_ARG_HF_TOKEN": s(),
        "OLLAMA_KV_CACHE_TYPE": "q8_0",  # a setting, not a secret: still read
    }


@contextmanager
def engine_process(kind: str, argv: list[str], env: dict[str, str], routes: dict[str, Any] | None = None,
                   child: list[str] | None = None) -> Iterator[int]:  # fmt: skip
    """A process named and flagged as the engine (argv[0] is its program), serving its recorded answers."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(HERE), "QD_SECRET_KIND": kind,
                "QD_SECRET_ROUTES": json.dumps(routes or {}), "QD_SECRET_CHILD": json.dumps(child), "QD_SECRET_PYTHON": sys.executable}  # fmt: skip
    proc = subprocess.Popen([argv[0], str(HERE / "secret_engines.py"), *argv[1:]], executable=sys.executable,
                            env=full_env, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


def outputs(model: Path, spec: str, tmp: Path) -> dict[str, str]:
    """Every output of a diagnosis whose settings come from `spec` (`--from-engine X` or `--from-log F`...):
    the JSON on stdout, the HTML and Markdown reports, and the text output."""
    out: dict[str, str] = {}
    for suffix in (".html", ".md"):
        report = tmp / f"report{suffix}"
        run = run_cli("diagnose", str(model), *shlex.split(spec), "--json", "--report", str(report))
        assert run.returncode in (0, 1), run.stderr[-3000:]
        out["json"] = run.stdout
        out[suffix] = report.read_text(encoding="utf-8")
    text = run_cli("diagnose", str(model), *shlex.split(spec))
    assert text.returncode in (0, 1), text.stderr[-3000:]
    out["text"] = text.stdout + text.stderr
    return out


def ours(scan_json: str, port: int) -> dict[str, Any]:
    """The scan's entry for our engine (the scan also knocks on the usual ports, where anything may answer)."""
    found = [e for e in json.loads(scan_json)["engines"] if e["url"].endswith(f":{port}")]
    assert len(found) == 1, scan_json[-3000:]
    return found[0]


def copy_fields(json_text: str) -> list[dict[str, Any]]:
    return [s for f in json.loads(json_text)["findings"] for s in f["fix"] if s.get("command")]


def assert_no_secret(s: Secrets, outs: dict[str, str]) -> None:
    for name, text in outs.items():
        assert not s.leaked(text), (name, s.leaked(text))
    for step in copy_fields(outs["json"]):
        assert PLACEHOLDER not in step["command"], step  # never a stand-in that a paste would act on


# --- the rule: a pattern, in every form ------------------------------------------------------------------------

# The issue's spellings: (tokens, the secret inside them).
ISSUE_SPELLINGS = [
    (["--api-key", "S"], "S"), (["--api-key=S"], "S"), (["--hf-token", "S"], "S"), (["-hft", "S"], "S"),
    (["--admin-key", "S"], "S"), (["--gradio-auth", "user:S"], "S"), (["--gradio-auth=user:S"], "S"),
    (["--ssl-keyfile-password", "S"], "S"), (["--adminpassword", "S"], "S"), (["--password=S"], "S"),
    (["--model-url", "http://user:S@host/m.gguf"], "S"), (["--model-url=https://user:S@host:8/m.gguf"], "S"),
    (["-mu", "http://S@host/m.gguf"], "S"), (["-m", "https://host/m.gguf?token=S&x=1"], "S"),
]  # fmt: skip


@pytest.mark.parametrize(("flag", "secret"), ISSUE_SPELLINGS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_the_issue_spellings_are_hidden_and_left_out_of_copies(flag: list[str], secret: str) -> None:
    secret = "Zs3cret"
    tokens = ["llama-server", "-m", "/models/a.gguf", *[t.replace("S", secret) for t in flag], "-c", "4096"]
    shown = redact.command(tokens)
    assert secret not in " ".join(shown) and shown[-2:] == ["-c", "4096"] and shown[:3] == tokens[:3]
    kept, left = redact.for_copy(shown)
    assert secret not in " ".join(kept) and PLACEHOLDER not in " ".join(kept) and left
    assert kept[-2:] == ["-c", "4096"]
    assert secret not in redact.text(shlex.join(tokens))


def test_environment_and_urls() -> None:
    s = Secrets("env")
    env = secret_env(s)
    shown = redact.environment(env)
    assert not s.leaked(json.dumps(shown))
    assert shown["OLLAMA_KV_CACHE_TYPE"] == "q8_0" and shown["OLLAMA_HOST"] == f"http://{PLACEHOLDER}@127.0.0.1:11434"
    assert shown["OLLAMA_ORIGINS"].count(PLACEHOLDER) == 2  # each origin in the list
    assert redact.value(f"user:{s()}@127.0.0.1:11434") == f"{PLACEHOLDER}@127.0.0.1:11434"  # no scheme
    assert redact.value(r"C:\models\a@b.gguf") == r"C:\models\a@b.gguf"  # a Windows path is no URL
    assert redact.value("/models/name@v2.gguf") == "/models/name@v2.gguf"
    assert not s.leaked(redact.text(" ".join(f"{k}={v}" for k, v in env.items())))


# A generated table of names no list holds: a prefix, a secret word, a suffix, in any case and separator.
PREFIXES = ["", "admin", "hf", "ssl-keyfile", "upstream", "x", "my_app", "OPENAI", "proxy.", "db"]
WORDS = ["key", "apikey", "token", "password", "passwd", "secret", "auth", "credential", "credentials", "cookie",
         "passphrase", "pwd", "pass", "access-key", "session-token", "bearer-token", "client_secret"]  # fmt: skip
SUFFIXES = ["", "-file", "_value", "-b64", "2", "_id", "-header"]


def generated_names(n: int = 600) -> list[str]:
    rng = random.Random(2024)
    names = []
    for prefix, word, suffix in itertools.product(PREFIXES, WORDS, SUFFIXES):
        sep = rng.choice(["-", "_", "", "."]) if prefix else ""
        name = f"{prefix}{sep}{word}{suffix}"
        names.append(rng.choice([name.lower(), name.upper(), name.title(), name]))
    rng.shuffle(names)
    return names[:n]


def test_generated_secret_names_are_hidden_in_every_form() -> None:
    s = Secrets("gen")
    for name in generated_names():
        flag = "--" + name.lstrip("-.")
        for tokens in ([flag, s()], [f"{flag}={s()}"], ["-" + name.lstrip("-."), s()]):
            cmd = ["engine", "-c", "4096", *tokens, "--port", "8080"]
            shown = redact.command(cmd)
            assert not s.leaked(" ".join(shown)), (name, shown)
            assert shown[:3] == cmd[:3] and shown[-2:] == ["--port", "8080"]
            kept, left = redact.for_copy(shown)
            assert kept == ["engine", "-c", "4096", "--port", "8080"] and left, (name, kept)
            assert not s.leaked(redact.text(shlex.join(cmd))), name
        var = name.upper().replace("-", "_").replace(".", "_").strip("_")
        assert not s.leaked(json.dumps(redact.environment({var: s()}))), var
        assert not s.leaked(redact.text(f"{var}={s()} next")), var


NOT_SECRET = [
    ["-c", "65536"], ["-ctk", "q8_0"], ["--cache-type-v", "q4_0"], ["-fa", "on"], ["-ngl", "99"], ["--keep", "5"],
    ["--max-num-batched-tokens", "8192"], ["--tokenizer", "Qwen/Qwen3-8B"], ["--n-predict", "128"], ["-np", "4"],
    ["-m", "/models/x@y.gguf"], ["-m", r"C:\models\x@y.gguf"], ["--override-kv", "tokenizer.ggml.add_bos_token=bool:false"],
    ["--chat-template", "chatml"], ["--host", "127.0.0.1"], ["--no-auth", "-c", "4096"],
]  # fmt: skip


@pytest.mark.parametrize("tokens", NOT_SECRET, ids=" ".join)
def test_settings_are_not_secrets(tokens: list[str]) -> None:
    cmd = ["llama-server", *tokens]
    assert redact.command(cmd) == cmd
    assert redact.for_copy(cmd) == (cmd, [])
    assert redact.text(shlex.join(cmd)) == shlex.join(cmd)


def test_a_setup_keeps_what_is_not_secret() -> None:
    from core.engines.llama_args import from_command

    setup = from_command("llama-server -m a.gguf --override-kv tokenizer.ggml.add_bos_token=bool:false --api-key k1")
    assert "--override-kv tokenizer.ggml.add_bos_token=bool:false" in setup.unknown
    assert (
        setup.command
        == "llama-server -m a.gguf --override-kv tokenizer.ggml.add_bos_token=bool:false --api-key '(hidden)'"
    )


# --- real processes: what a scan and a diagnosis read, through every output ------------------------------------


def test_text_generation_webui_and_its_llama_server_child(tmp_path: Path) -> None:
    """The issue's worst leak: the child's command line was read without redaction."""
    s = Secrets("tg")
    model = small_gguf(tmp_path / "m.gguf")
    parent = ["python", "--listen", "--api", "--api-key", s(), "--admin-key", s(), "--gradio-auth", f"user:{s()}",
              "--ssl-keyfile-password", s(), "--ssl-keyfile", "/home/me/key.pem"]  # fmt: skip
    child = ["/opt/textgen/llama-server", str(HERE / "secret_engines.py"), "--model", str(model), "--ctx-size", "65536",
             "--cache-type-k", "q4_0", "--cache-type-v", "q4_0", "--api-key", s(), "--hf-token", s(),
             "--model-url", f"http://user:{s()}@host/m.gguf", "--port", "5005"]  # fmt: skip
    info = json.dumps({"model_name": model.name, "lora_names": [], "loader": "llama.cpp"})
    with engine_process("textgen-webui", parent, secret_env(s), {"GET /v1/internal/model/info": info}, child) as port:
        url = f"http://127.0.0.1:{port}"
        scan = run_cli("engines", "--port", str(port), "--json")
        outs = {"engines --json": scan.stdout + scan.stderr}
        found = ours(scan.stdout, port)
        assert found["engine"] == "text-generation-webui"
        assert found["setup"]["ctx"] == 65536 and found["setup"]["cache_type_k"] == "q4_0"  # the child was read
        assert "--api-key" in found["process"]["cmdline"]  # the flag is still said, its value is not
        outs |= outputs(model, f"--from-engine text-generation-webui:{url}", tmp_path)
    assert_no_secret(s, outs)


def test_koboldcpp_admin_password(tmp_path: Path) -> None:
    s = Secrets("kc")
    model = small_gguf(tmp_path / "m.gguf")
    argv = ["koboldcpp", "--model", str(model), "--contextsize", "16384", "--quantkv", "1", "--flashattention",
            "--adminpassword", s(), "--password", s(), "--admindir", "/home/me/kcpps"]  # fmt: skip
    routes = {"GET /api/v1/model": json.dumps({"result": f"koboldcpp/{model.stem}"})}
    with engine_process("koboldcpp", argv, secret_env(s), routes) as port:
        url = f"http://127.0.0.1:{port}"
        scan = run_cli("engines", "--port", str(port), "--json")
        found = ours(scan.stdout, port)
        assert found["setup"]["ctx"] == 16384 and found["setup"]["cache_type_k"] == "q8_0"
        outs = {
            "engines --json": scan.stdout + scan.stderr,
            **outputs(model, f"--from-engine koboldcpp:{url}", tmp_path),
        }
    assert_no_secret(s, outs)


def test_a_llama_server_copy_field_leaves_its_secrets_out_and_says_so(tmp_path: Path) -> None:
    """The fix is the person's own command with the changed flags; pasted, `--api-key '(hidden)'` would restart
    the server with that key: the secret flags are left out, and the step says which."""
    s = Secrets("ls")
    model = small_gguf(tmp_path / "m.gguf")
    argv = ["llama-server", "-m", str(model), "-c", "65536", "-ctk", "q4_0", "-ctv", "q4_0", "--api-key", s(),
            "-hft", s(), "--model-url", f"http://user:{s()}@host/m.gguf", "--port", "8081"]  # fmt: skip
    props = json.loads(fixture("llama-server", "props.json"))
    props["model_path"] = str(model)
    with engine_process("llama-server", argv, secret_env(s), {"GET /props": json.dumps(props)}) as port:
        outs = outputs(model, f"--from-engine llama-server:http://127.0.0.1:{port}", tmp_path)
    assert_no_secret(s, outs)
    steps = [st for st in copy_fields(outs["json"]) if st["command"].startswith("llama-server")]
    assert steps, copy_fields(outs["json"])
    for st in steps:
        argv_out = shlex.split(st["command"])
        assert "--api-key" not in argv_out and "-hft" not in argv_out and "--model-url" not in argv_out
        assert "--port" in argv_out and "-m" in argv_out  # everything else kept
        assert "secrets Quant Doctor never copies or shows: --api-key, -hft and --model-url." in st["text"]


OLLAMA_LOG = (
    'time=2025-10-20T10:12:31.402+02:00 level=INFO source=routes.go:1511 msg="server config" env="map[HTTPS_PROXY: '
    "OLLAMA_CONTEXT_LENGTH:16384 OLLAMA_FLASH_ATTENTION:false OLLAMA_HOST:http://alice:{0}@127.0.0.1:11434 "
    "OLLAMA_KV_CACHE_TYPE:q8_0 OLLAMA_ORIGINS:[http://bob:{1}@a.example] OLLAMA_REMOTES:[https://dan:{2}@r.example] "
    'OLLAMA_API_KEY:{3}]"\n'
)


def test_secrets_in_engine_logs(tmp_path: Path) -> None:
    """Ollama prints its environment, koboldcpp its whole argparse Namespace (adminpassword included). The
    logs are the recorded ones' first lines (tests/fixtures/engines), about the model diagnosed here."""
    s = Secrets("lg")
    model = small_gguf(tmp_path / "m.gguf")
    ollama = tmp_path / "server.log"
    ollama.write_text(OLLAMA_LOG.format(s(), s(), s(), s()))
    kobold = tmp_path / "console.txt"
    head = fixture("koboldcpp", "console.v1.76.txt").decode().split("\n")[:7]  # the banner and the Namespace line
    namespace = head[5].replace("/home/alex/models/Llama-3.2-3B-Instruct-Q4_K_M.gguf", str(model))
    head[5] = namespace.replace("Namespace(", f"Namespace(adminpassword='{s()}', password='{s()}', ", 1)
    kobold.write_text("\n".join(head) + "\n")
    for log, engine in ((ollama, "ollama"), (kobold, "koboldcpp")):
        outs = outputs(model, f"--from-log {log}", tmp_path)
        assert_no_secret(s, outs)
        from core.engines.logs import read_log

        reading = read_log(log)
        assert reading.engine == engine and not s.leaked(json.dumps(reading.to_dict()))
        assert reading.n_ctx == (16384 if engine == "ollama" else 8192)  # the settings are still read


def test_a_pasted_command_with_secrets(tmp_path: Path) -> None:
    s = Secrets("pc")
    model = small_gguf(tmp_path / "m.gguf")
    cmd = (f"llama-server -m {model} -c 65536 -ctk q4_0 -ctv q4_0 --api-key {s()} --ssl-keyfile-password={s()} "
           f"--model-url http://me:{s()}@host/x.gguf --my-new-engine-token {s()}")  # fmt: skip
    outs = outputs(model, f"--from-command {shlex.quote(cmd)}", tmp_path)
    assert_no_secret(s, outs)
    assert json.loads(outs["json"])["setup"]["ctx"] == 65536  # the settings are still read


def test_the_window_shows_no_secret_and_copies_none(qtbot, tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QLabel, QPlainTextEdit

    from core.engines.llama_args import from_command
    from gui.main_window import MainWindow
    from gui.widgets import CopyField

    s = Secrets("gui")
    model = small_gguf(tmp_path / "m.gguf")
    settings = QSettings(str(tmp_path / "qd.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, detect_hardware=False)
    qtbot.addWidget(window)
    window.show()
    setup = from_command(f"llama-server -m {model} -c 65536 -ctk q4_0 -ctv q4_0 --api-key {s()} --hf-token={s()}")
    window.state.set_setup(setup)
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=60_000):
        window.state.open_model(str(model))
    for page in ("setup", "diagnosis", "advice", "export"):
        window.show_page(page)
        qtbot.wait(50)
    texts = [w.text() for w in window.findChildren(QLabel)] + [
        w.toPlainText() for w in window.findChildren(QPlainTextEdit)
    ]
    assert not s.leaked("\n".join(texts))
    fields = window.findChildren(CopyField)
    assert fields
    for field in fields:
        assert not s.leaked(field.text) and PLACEHOLDER not in field.text, field.text
    window.close()


def test_a_remote_reference_address_with_a_password(tmp_path: Path) -> None:
    """`compare --reference http://user:pass@host:port`: refused by the HTTP door (core.net) before any
    request, and the refusal does not repeat the password; a secret in the query is never shown either:
    the comparison's names, its progress and its errors say the address without it."""
    from core.errors import RemoteEngineError
    from core.evaluation.remote import RemoteEngine
    from core.progress import run_job

    secret = "zqremote7f3e"
    with pytest.raises(RemoteEngineError) as refused:
        RemoteEngine(f"http://me:{secret}@127.0.0.1:9/v1", timeout=2)
    assert secret not in refused.value.message + refused.value.fix
    engine = RemoteEngine(f"http://127.0.0.1:9/v1?api_key={secret}x", timeout=2)
    shown = [engine.label, engine.describe(), engine.base]
    with pytest.raises(RemoteEngineError) as err:
        run_job(engine.connect(), lambda event: shown.append(event.describe()))
    shown += [err.value.message, err.value.fix]
    assert not any(secret in s for s in shown), shown
    assert "127.0.0.1:9" in engine.label


# --- spellings a second tester found (issue 24's trial): other printed forms of the same secrets --------------

MORE_SPELLINGS = [
    "OLLAMA_HOST=u:@@S@127.0.0.1:11434",  # a one-letter user, no scheme
    "LLAMA_ARG_MODEL_URL=//me:@@S@models.example/m.gguf",  # scheme-relative
    "OLLAMA_ORIGINS=http://a.example, x:@@S@b.example",  # the second item of a list
    "Command '['llama-server', '--api-key', '@@S', '-m', 'x']' returned non-zero exit status 1.",  # an argv's repr
    "non-default args: {'model': 'x', 'api_key': ['@@S'], 'port': 8000}",  # vLLM's dict of its arguments
    "api_key: @@S",  # YAML (TabbyAPI's api_tokens.yml)
    "Your API key is: @@S",  # TabbyAPI's first start
    "fetching with Authorization: Bearer @@S",
    "--header=Authorization: Bearer @@S",
    "X-Api-Key: @@S",
    "https://bucket.example/m.gguf?X-Amz-Signature=@@S&X-Amz-Date=1",  # a signed URL
    "https://acct.example/m.gguf?sv=2024&sig=@@S",
    "using hf_@@S for the download",  # the Hub's token shape
]


@pytest.mark.parametrize("line", MORE_SPELLINGS)
def test_more_printed_forms_are_hidden(line: str) -> None:
    secret = "Zs3cret"
    text = line.replace("@@S", secret if "hf_" not in line else "Zs3c" + "x" * 30)
    shown = redact.text(text)
    assert "Zs3c" not in shown and PLACEHOLDER in shown, shown


def test_copies_leave_the_new_forms_out() -> None:
    tokens = ["llama-server", "-c", "4096", "--header=Authorization: Bearer Zs3c", "--host", "u:Zs3c@127.0.0.1:80",
              "--model-url", "//me:Zs3c@h/m.gguf", "--port", "8080"]  # fmt: skip
    kept, left = redact.for_copy(redact.command(tokens))
    assert kept == ["llama-server", "-c", "4096", "--port", "8080"] and left == ["--header", "--host", "--model-url"]


def test_a_model_special_token_and_settings_stay_shown() -> None:
    for line in ("print_info: BOS token        = 128000 '<|begin_of_text|>'", "EOS token: </s>",
                 "srv  params_from_: Chat format: Hermes 2 Pro", "-m /models/x@y.gguf", "--host 0.0.0.0"):  # fmt: skip
        assert redact.text(line) == line


def test_engine_log_warning_lines_in_other_forms(tmp_path: Path) -> None:
    """A warning line the report quotes may hold a secret in a form that is no flag: an argv's Python repr,
    vLLM's dict of arguments, an Authorization header. Each output of the diagnosis is searched."""
    s = Secrets("wl")
    model = small_gguf(tmp_path / "m.gguf")
    log = tmp_path / "server.log"
    real = (HERE / "fixtures" / "engines" / "llamacpp-logs" / "llama-server.real.default.log").read_text()
    real = real.replace("/root/.cache/quantdoctor/demo/SmolLM2-135M-Instruct.Q4_1.gguf", str(model))
    assert str(model) in real
    log.write_text(real + (
        f"llama_init_from_model: failed to allocate: Command '['llama-server', '--api-key', '{s()}', '-m', 'x']' "
        "returned non-zero exit status 1.\n"
        f"warning: out of memory; non-default args: {{'model': 'x', 'api_key': ['{s()}'], 'port': 8000}}\n"
        f"warning: out of memory while fetching with Authorization: Bearer {s()}\n"
    ))  # fmt: skip
    outs = outputs(model, f"--from-log {log}", tmp_path)
    assert "failed to allocate" in outs["text"]  # the lines are quoted, their secrets are not
    assert_no_secret(s, outs)


def test_a_process_with_a_one_letter_user_and_a_scheme_relative_address(tmp_path: Path) -> None:
    s = Secrets("ou")
    model = small_gguf(tmp_path / "m.gguf")
    env = {"OLLAMA_HOST": f"u:{s()}@127.0.0.1:11434", "LLAMA_ARG_MODEL_URL": f"//me:{s()}@models.example/m.gguf"}
    argv = ["llama-server", "-m", str(model), "-c", "4096", "--model-url", f"h:{s()}@models.example/m.gguf"]
    props = json.loads(fixture("llama-server", "props.json"))
    props["model_path"] = str(model)
    with engine_process("llama-server", argv, env, {"GET /props": json.dumps(props)}) as port:
        scan = run_cli("engines", "--port", str(port), "--json")
    found = ours(scan.stdout, port)
    assert found["process"]["env"]["OLLAMA_HOST"] == f"{PLACEHOLDER}@127.0.0.1:11434"
    assert not s.leaked(scan.stdout + scan.stderr)
