"""The display-text door (issue 24): text from a file, a log, a server or the Hub reaches no output raw.

core.display_text is the one neutraliser; these tests feed hostile values through the real entry
points — `diagnose` (text and --json), the HTML and Markdown reports, the comparison report, copy
fields and the window (offscreen) — and assert that no control, bidi or line-separator character
arrives in any of them, and that a newline in a model's name cannot print a line of its own.
Besides the spellings the issue found (ESC, an OSC 52 clipboard write, BEL, U+202E, U+200E, U+200F,
U+061C, U+2028, U+2029, a newline), a seeded generator mixes every such character into text.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf

from core import display_text

ROOT = Path(__file__).resolve().parent.parent
TENSORS = llama_tensors(2, 256, 512, 4, 2, 1024, Q.Q4_0, Q.Q8_0, Q.Q8_0)

# Every character no output may carry raw (newline and tab are allowed where lines are kept).
C0 = [chr(c) for c in range(0x20) if chr(c) not in "\t\n"]
C1 = [chr(c) for c in range(0x7F, 0xA0)]
BIDI = ["\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]
SEPARATORS = ["\u2028", "\u2029"]
UNSAFE = C0 + C1 + BIDI + SEPARATORS
UNSAFE_RE = re.compile("[" + re.escape("".join(UNSAFE)) + "]")

OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"  # "write `rm -rf ~` to the clipboard"
FORGED = "[ok] 1. Your quant is perfect"
# The issue's spellings, one name: escape sequences, BEL, the bidi override and marks, separators, a newline.
HOSTILE_NAME = (
    f"Evil{OSC52}\x1b[2J\x9b31m\u202eeman\u202c\u200e\u200f\u061c\u2028\u2029\r\nmid\n{FORGED}\n  - forged evidence"
)


def raw_unsafe(text: str, lines_allowed: bool = True) -> list[str]:
    found = sorted({f"U+{ord(c):04X}" for c in UNSAFE_RE.findall(text)})
    if not lines_allowed:
        found += ["newline"] * ("\n" in text) + ["tab"] * ("\t" in text)
    return found


def hostile_text(rng: random.Random, n: int = 40) -> str:
    pool = [*UNSAFE, "\n", "\t", "a", "Z", "é", "中", "<", ">", "&", "`", "~", "*", "[", "]", "(", ")", "\\", " ", "#"]
    return "".join(rng.choice(pool) for _ in range(n))


def small_gguf(path: Path, **metadata: object) -> Path:
    md = llama_metadata(2, 256, 512, 4, 2)
    md.update(metadata)
    return write_gguf(path, metadata=md, tensors=TENSORS)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)  # fmt: skip


# --- the door itself: every format, every such character, generated text --------------------------------------


@pytest.mark.parametrize("char", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_each_character_is_shown_as_its_escape_in_every_format(char: str) -> None:
    text = f"a{char}b"
    escaped = f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    if char == "\r":
        escaped = "\\r"
    for out in (display_text.visible(text), display_text.one_line(text)):
        assert out == f"a{escaped}b"
    for out in (display_text.html(text), display_text.markdown(text), display_text.markdown_code(text),
                display_text.markdown_block(text)):  # fmt: skip
        assert not raw_unsafe(out) and escaped.lstrip("\\") in out, repr(out)
    dumped = display_text.json_escapes(json.dumps(text, ensure_ascii=False))
    assert not raw_unsafe(dumped) and json.loads(dumped) == text  # the same JSON value


def test_one_line_values_keep_no_line_break_and_lines_are_kept_where_they_belong() -> None:
    assert display_text.one_line(f"name\n{FORGED}\tx") == f"name\\n{FORGED}\\tx"
    assert display_text.visible("line 1\n\tline 2") == "line 1\n\tline 2"
    assert display_text.markdown_block("def f():\n    return 1").splitlines()[1:3] == ["def f():", "    return 1"]
    assert display_text.markdown("a\nb") == "a\\\\nb"  # one line of Markdown: the backslash itself escaped


def test_generated_hostile_text_never_leaves_a_raw_character() -> None:
    rng = random.Random(24)
    for _ in range(2000):
        text = hostile_text(rng)
        assert not raw_unsafe(display_text.visible(text))
        assert not raw_unsafe(display_text.one_line(text), lines_allowed=False)
        assert not raw_unsafe(display_text.html(text))
        md = display_text.markdown(text)
        assert not raw_unsafe(md, lines_allowed=False) and "<" not in md  # no HTML: entities
        assert not raw_unsafe(display_text.markdown_code(text), lines_allowed=False)  # (a code span is literal)
        block = display_text.markdown_block(text)
        assert not raw_unsafe(block)
        fence = block.split("\n", 1)[0]
        assert block.count(fence) == 2 or block.endswith("\n" + fence)  # nothing inside closes the fence
        assert json.loads(display_text.json_escapes(json.dumps({"v": text}, ensure_ascii=False)))["v"] == text
        assert display_text.is_clean(text) == (not raw_unsafe(text))


# --- the CLI: a newline in a model's name forges no line; nothing raw on the terminal -----------------------


def test_a_newline_in_a_model_name_forges_no_cli_line(tmp_path: Path) -> None:
    model = small_gguf(tmp_path / "m.gguf", **{"general.name": HOSTILE_NAME, "general.finetune": HOSTILE_NAME})
    for args in (["diagnose", str(model)], ["inspect", str(model)], ["diagnose", str(model), "--expect", HOSTILE_NAME]):
        run = run_cli(*args)
        assert run.returncode in (0, 1), run.stderr[-2000:]
        out = run.stdout + run.stderr
        assert not raw_unsafe(out), (args, raw_unsafe(out))
        lines = out.splitlines()
        assert not any(line.startswith(("[ok] 1. Your quant", "mid", "  - forged")) for line in lines), args
        assert any(f"\\n{FORGED}" in line for line in lines), args  # the name is there, on its one line


def test_diagnose_json_carries_the_name_as_the_same_json_text(tmp_path: Path) -> None:
    model = small_gguf(tmp_path / "m.gguf", **{"general.name": HOSTILE_NAME})
    run = run_cli("diagnose", str(model), "--json")
    assert run.returncode in (0, 1), run.stderr[-2000:]
    assert not raw_unsafe(run.stdout) and not raw_unsafe(run.stderr)
    assert json.loads(run.stdout)["model"]["name"] == HOSTILE_NAME  # escaped as JSON, not altered


# --- reports: metadata and log lines -------------------------------------------------------------------------

# A llama.cpp log whose warning line (the pre-tokenizer one, read into the tokenizer check's evidence)
# carries the hostile text, as a log written by a tampered build or a model's own strings would.
LOG = """\
build: 6795 (ee09828cb) with cc (Ubuntu 13.3.0-6ubuntu2~24.04) 13.3.0 for x86_64-linux-gnu
main: loading model
srv    load_model: loading model '{path}'
llama_model_loader: loaded meta data with 25 key-value pairs and 30 tensors from {path} (version GGUF V3 (latest))
load: missing or unrecognized pre-tokenizer type, using: 'default' {hostile}
load: GENERATION QUALITY WILL BE DEGRADED! {hostile}
llama_context: n_ctx         = 4096
"""


@pytest.mark.parametrize("suffix", [".html", ".md"])
def test_reports_carry_no_raw_character_from_metadata_or_log_lines(suffix: str, tmp_path: Path) -> None:
    model = small_gguf(tmp_path / "m.gguf", **{"general.name": HOSTILE_NAME, "general.basename": HOSTILE_NAME})
    log = tmp_path / "server.log"
    log.write_text(LOG.format(path=model, hostile=HOSTILE_NAME.replace("\n", " ")), encoding="utf-8")
    report = tmp_path / f"r{suffix}"
    run = run_cli("diagnose", str(model), "--from-log", str(log), "--expect", HOSTILE_NAME, "--report", str(report))
    assert run.returncode in (0, 1), run.stderr[-2000:]
    text = report.read_text(encoding="utf-8")
    assert not raw_unsafe(text), raw_unsafe(text)
    if suffix == ".md":  # read as a viewer shows it
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setMarkdown(text)
        text = doc.toPlainText()
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in text and "\\u202e" in text  # shown: escaped, not dropped
    assert "pre-tokenizer" in text and text.count("GENERATION QUALITY") >= 1  # the log line reached the report
    if suffix == ".md":
        assert not any(line.startswith(("[ok] 1.", "mid", "  - forged")) for line in text.splitlines())


def test_comparison_report_escapes_sample_text() -> None:
    from core.evaluation.compare import Comparison
    from core.report.comparison_html import render

    rng = random.Random(7)
    hostile = [hostile_text(rng, 60) + HOSTILE_NAME for _ in range(3)]
    c = Comparison.from_dict({
        "reference": hostile[0], "candidate": hostile[1], "what": "quant", "metrics": {},
        "samples": [{"domain": "general", "prompt_id": "p", "prompt": hostile[2], "reference": hostile[0],
                     "candidate": hostile[1], "first_divergence": 1, "first_divergence_char": 3}],
        "notes": [HOSTILE_NAME],
    })  # fmt: skip
    html = render(c)
    assert not raw_unsafe(html), raw_unsafe(html)
    assert "\\u202e" in html


# --- copy fields: pasted as they are, so never holding such a character ----------------------------------------


def test_a_copy_field_never_holds_a_control_character(tmp_path: Path) -> None:
    """A model file whose name carries an OSC 52 write: its fix names the file, so the command is not offered
    for copying (it would be pasted as it is); the step says why, with the name escaped."""
    name = f"m{OSC52}\u202e.gguf"
    model = small_gguf(tmp_path / name)
    run = run_cli("diagnose", "--from-command", f"llama-server -m '{model}' -c 65536 -ctk q4_0 -ctv q4_0", "--json")
    assert run.returncode in (0, 1), run.stderr[-2000:]
    assert not raw_unsafe(run.stdout)
    steps = [s for f in json.loads(run.stdout)["findings"] for s in f["fix"]]
    assert steps
    for s in steps:
        assert s["command"] is None or display_text.is_clean(s["command"]), s
    assert any("Not offered to copy" in s["text"] and "\\x1b]52" in s["text"] for s in steps)


def test_the_copy_door_is_in_every_fix_step() -> None:
    from core.engines.base import CopyKind, FixStep

    step = FixStep("Set it:", "PARAMETER num_ctx 8192\nPARAMETER stop \x1b[2J", kind=CopyKind.MODELFILE)
    assert step.command is None and "\\x1b[2J" in step.text
    fine = FixStep("Set it:", 'PARAMETER num_ctx 8192\nTEMPLATE """{{ .Prompt }}\n"""', kind=CopyKind.MODELFILE)
    assert fine.command is not None and fine.command.count("\n") == 2  # a multi-line copy keeps its lines


# --- the window: labels, lists, copy fields, offscreen --------------------------------------------------------


def test_the_window_shows_no_raw_character(qtbot, tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QAbstractItemView, QLabel, QPlainTextEdit

    from gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "qd.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, detect_hardware=False)
    qtbot.addWidget(window)
    window.show()
    model = small_gguf(tmp_path / f"m{OSC52}.gguf", **{"general.name": HOSTILE_NAME, "general.finetune": HOSTILE_NAME})
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=60_000):
        window.state.open_model(str(model))
    seen = 0
    for page in ("model", "diagnosis", "advice", "export"):
        window.show_page(page)
        qtbot.wait(50)
    for lab in window.findChildren(QLabel):
        assert not raw_unsafe(lab.text()), (lab.objectName(), raw_unsafe(lab.text()))
        assert not raw_unsafe(lab.toolTip())
        seen += "Evil" in lab.text()
    for box in window.findChildren(QPlainTextEdit):
        assert not raw_unsafe(box.toPlainText())
    for view in window.findChildren(QAbstractItemView):
        m = view.model()
        for row in range(m.rowCount() if m is not None else 0):
            for role in (0, 3):  # display, tooltip
                value = m.data(m.index(row, 0), role)
                assert not raw_unsafe(str(value or "")), (view.objectName(), value)
    assert seen >= 1  # the name is on screen, escaped
    window.close()
