"""Each reader moved behind the numbers door (core.textnum, issue 24) keeps reading what it read, and now
refuses what Python's `int()`/`float()` would have taken from outside text: digits other than 0-9 (which
`\\d` in a regular expression matches and `int()` converts), a run of digits no real quantity has, and a
number outside the quantity's range. Each case names the module it proves; the scan in test_doors.py
proves no module reads such a number any other way.

The command line's numbers are argparse `type=`s of the same door (`whole_argument`, `decimal_argument`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import pytest

from core import textnum
from core.errors import EngineNotFoundError, QuantDoctorError, UnknownGpuError
from core.textnum import Quantity

ARABIC_8081 = "\u0668\u0660\u0668\u0661"  # ٨٠٨١: `\d` matches it and int() reads 8081
HUGE = "9" * 400


# --- the argparse types -----------------------------------------------------------------------------------


def test_whole_argument_reads_ascii_digits_and_says_which_way_a_value_is_wrong() -> None:
    port = textnum.whole_argument(Quantity("a port", "", 1, 65535))
    assert port("8081") == 8081 and port(" 8081\n") == 8081
    for text, said in [
        ("70000", "70000 is not between 1 and 65,535"),
        ("0", "0 is not between 1 and 65,535"),
        (ARABIC_8081, "is not a whole number: it uses a digit other than 0-9 (U+0668)"),
        ("80_81", "'80_81' is not a whole number"),
        ("1.5", "'1.5' is not a whole number"),
        (HUGE, "is too long to be a number"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(said)):
            port(text)


def test_decimal_argument_refuses_what_is_not_finite_and_in_range() -> None:
    seconds = textnum.decimal_argument(textnum.SECONDS)
    assert seconds("2") == 2.0 and seconds("0.25") == 0.25
    for text, said in [("nan", "'nan' is not a number"), ("inf", "'inf' is not a number"),
                       ("1e400", "1e400 is not a number from 0 to 86,400"), ("-1", "-1 is not a number from 0")]:  # fmt: skip
        with pytest.raises(argparse.ArgumentTypeError, match=said):
            seconds(text)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["engines", "--port", "70000"], "70000 is not between 1 and 65,535"),
        (["engines", "--port", ARABIC_8081], "digit other than 0-9"),
        (["engines", "--seconds", "inf"], "'inf' is not a number"),
        (["fit", "m.gguf", "-c", "\u0664\u0660\u0669\u0666"], "is not a whole number of tokens"),  # ٤٠٩٦
        (["fit", "m.gguf", "-c", str(10**21)], "1,000,000,000,000,000,000,000 tokens is not possible"),
        (["compare", "--reference", "x.gguf", "--samples", "1_0"], "'1_0' is not a whole number"),
    ],
)
def test_the_commands_numbers_are_usage_errors_through_the_door(argv: list[str], said: str, capsys) -> None:
    from core.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and said in err and "Traceback" not in err, err


def test_the_window_size_and_timeout_options_are_bounded() -> None:
    from gui.app import parse_args, size_arg

    assert size_arg("900x600") == (900, 600)
    for bad in ("0x600", "900x", f"{ARABIC_8081}x600", f"{HUGE}x1"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected WIDTHxHEIGHT"):
            size_arg(bad)
    assert parse_args(["--timeout", "30"]).timeout == 30.0
    with pytest.raises(SystemExit):
        parse_args(["--timeout", "1e400"])


# --- the readers ---------------------------------------------------------------------------------------------


def test_a_bare_port_is_read_through_the_door() -> None:
    from core.engines.loopback import parse_url

    assert parse_url("8081", 8080) == ("127.0.0.1", 8081)
    for bad, said in [(ARABIC_8081, "digit other than 0-9"), ("99999", "larger than a port can be"),
                      ("-1", "smaller than a port can be")]:  # fmt: skip
        with pytest.raises(EngineNotFoundError, match=said):
            parse_url(bad, 8080)


def test_header_numbers_take_ascii_digits_within_the_limit_only() -> None:
    from core.net import header_int

    assert header_int("1234") == 1234 and header_int(" 7 ") == 7
    assert [header_int(v, 100) for v in ("101", "+5", "-5", "1e3", ARABIC_8081, HUGE, None)] == [None] * 7


def test_split_file_names_read_as_parts_only_in_ascii_digits(tmp_path: Path) -> None:
    from core.app.hub import reference_parts
    from core.model.gguf_profile import shard_paths

    assert reference_parts("M-00001-of-00002.gguf") == ["M-00001-of-00002.gguf", "M-00002-of-00002.gguf"]
    odd = "M-\u0660\u0660\u0660\u0660\u0661-of-\u0660\u0660\u0660\u0660\u0663.gguf"  # -٠٠٠٠١-of-٠٠٠٠٣
    assert reference_parts(odd) == [odd]  # not llama.cpp's split name: the one file, never 3 made-up names
    one = tmp_path / odd
    assert shard_paths(one) == [one]


def test_a_layer_number_in_a_tensor_name_is_a_layer_count() -> None:
    from core.model.tensor_roles import layer_of

    assert layer_of("blk.31.attn_q.weight") == 31 and layer_of("model.layers.7.mlp.up_proj") == 7
    assert layer_of(f"blk.{HUGE}.attn_q.weight") is None
    assert layer_of("blk.\u0663.attn_q.weight") is None  # ٣


def test_log_lines_with_impossible_counts_are_no_evidence() -> None:
    from core.checks.context_truncation import _logged_limit
    from core.checks.offload import _logged_offload
    from core.settings.observations import Observation

    assert _logged_offload("llm_load_tensors: offloaded 20/33 layers to GPU") == (20, 33)
    assert _logged_offload(f"offloaded 20/{HUGE} layers to GPU") is None
    assert _logged_offload("offloaded \u0662\u0660/33 layers") is None
    lines = [Observation(f"n_ctx = {HUGE}", "log"), Observation("slot 0: n_ctx = 8192", "log")]
    assert _logged_limit(lines) == 8192  # the impossible line is skipped, the next one read


def test_device_names_keep_their_words_when_the_index_is_not_one() -> None:
    from core.checks.vram import device_words

    assert device_words("CUDA0 (NVIDIA H200)") == "graphics card 1 (NVIDIA H200)"
    assert device_words("Vulkan1") == "graphics card 2"
    assert device_words(f"CUDA{HUGE}") == f"CUDA{HUGE}"
    assert device_words("CUDA\u0660 (X)") == "CUDA\u0660 (X)"


def test_a_card_count_is_read_plainly() -> None:
    from core.hardware.catalog import parse_request

    card, count = parse_request("2x RTX 3090")
    assert count == 2 and "3090" in card.name
    for bad in (f"{HUGE}x RTX 3090", "17x RTX 3090", "\u0662x RTX 3090"):
        with pytest.raises(UnknownGpuError, match="GPUs is not a setup Quant Doctor plans for"):
            parse_request(bad)


def test_meminfo_sizes_are_read_through_the_door(tmp_path: Path, monkeypatch) -> None:
    from core.hardware import system

    monkeypatch.setitem(sys.modules, "psutil", None)  # psutil answers first where it can: ask /proc's text
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal:       16384 kB\nMemAvailable:   {HUGE} kB\nSwapTotal: \u0661 kB\n")
    mem = system.system_memory(meminfo, run=lambda cmd: None)
    assert (mem.total_bytes, mem.available_bytes) == (16384 * 1024, None)


def test_a_recorded_compute_capability_is_two_version_numbers() -> None:
    import pynvml

    from core.hardware.nvml_replay import ReplayNvml

    def capability(value: object) -> object:
        nvml = ReplayNvml({"devices": [{"cuda_compute_capability": {"ok": value}}]})
        nvml.nvmlInit()
        return nvml.nvmlDeviceGetCudaComputeCapability(nvml.nvmlDeviceGetHandleByIndex(0))

    assert capability("(9, 0)") == (9, 0) and capability([8, 6]) == (8, 6)
    for bad in ("(9)", f"({HUGE}, 0)", [True, 0], "(\u0669, 0)"):
        with pytest.raises(pynvml.NVMLError):  # what NVML says for a field it cannot answer: that field only
            capability(bad)


def test_gpu_memory_and_quant_bits_are_read_through_the_door() -> None:
    from core.hub.fit import GIB, parse_gpu_budget
    from core.hub.quants import folder_type, gguf_type

    assert parse_gpu_budget("RTX 4090 24GB") == 24 * GIB and parse_gpu_budget("1.5") == int(1.5 * GIB)
    with pytest.raises(QuantDoctorError, match="digit other than 0-9"):
        parse_gpu_budget("\u0662\u0664GB")  # ٢٤GB
    with pytest.raises(QuantDoctorError, match="larger than a memory size can be"):
        parse_gpu_budget("9999999999GB")
    assert folder_type("exl2", "org/Model-4.65bpw-exl2").bpw == 4.65
    assert folder_type("gptq", "org/Model-GPTQ-4bit").bpw == 4.0
    assert folder_type("gptq", "org/Model-GPTQ", {"bits": 5e-324}).bpw is None  # not a bit width
    assert folder_type("gptq", "org/Model-GPTQ", {"bits": 4}).bpw == 4.0
    assert folder_type("exl2", f"org/Model-{HUGE}bpw-exl2").bpw is None
    q4 = gguf_type("Q4_K_M")
    assert q4 is not None and q4.bpw is not None and 4 < q4.bpw < 5


def test_progress_lines_of_the_demos_children_are_read_through_the_door() -> None:
    from core.demo.prepare import _PIP_PROGRESS, _QUANT_PROGRESS, _progress
    from core.textnum import BYTES, COUNT

    assert _progress(_PIP_PROGRESS, "Progress 512 of 1024", BYTES) == (512, 1024)
    assert _progress(_QUANT_PROGRESS, "[  3/ 30] blk.0.attn_q.weight", COUNT) == (3, 30)
    assert _progress(_PIP_PROGRESS, f"Progress 1 of {HUGE}", BYTES) is None
    assert _progress(_QUANT_PROGRESS, "[ \u0663/ 30]", COUNT) is None


def test_the_cuda_major_version_is_read_through_the_door() -> None:
    from core.evaluation.llama_builds import _major

    assert [_major(v) for v in ("12.4", "13.0", None, "", HUGE, "\u0661\u0662.4")] == [12, 13, None, None, None, None]


# --- the file door's appender --------------------------------------------------------------------------------


def test_open_append_adds_to_a_regular_file_and_makes_one_when_absent(tmp_path: Path) -> None:
    from core.files import open_append

    part = tmp_path / "x.part"
    with open_append(part) as out:
        out.write(b"abc")
    with open_append(part) as out:
        out.write(b"def")
    assert part.read_bytes() == b"abcdef"
    missing = tmp_path / "no" / "x.part"
    with pytest.raises(QuantDoctorError, match="does not exist"), open_append(missing, "the download"):
        pass
    with pytest.raises(QuantDoctorError, match="is a folder; the file is not written"), open_append(tmp_path):
        pass


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are made with mkfifo (POSIX)")
def test_open_append_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    from core.files import open_append

    fifo = tmp_path / "x.part"
    os.mkfifo(fifo)
    # opened to write, a FIFO waits for a reader forever: the door refuses it before, and at once
    with pytest.raises(QuantDoctorError, match="named pipe"), open_append(fifo, "the download"):
        pass
