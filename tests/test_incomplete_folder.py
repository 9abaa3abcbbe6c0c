"""A model folder whose weights are far smaller than its config declares is incomplete (issue 16, item 7):
a GPTQ folder with an 89-byte weights file used to read as "4 parameters, 32 bits per weight", all green."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from foldermaker import EXPECTED_PARAMS, make_folder, write_safetensors
from windowkit import make_window, wait_diagnosis, what_if

from core.errors import IncompleteModelFolderError
from core.model.declared_size import declared_parameters
from core.model.inspection import inspect_model

LLAMA_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 131072, "torch_dtype": "float16",
}  # fmt: skip


def stub_folder(root: Path, method: str = "gptq") -> Path:
    folder = root / f"Llama-3.1-8B-Instruct-{method.upper()}"
    folder.mkdir()
    qc = {"quant_method": method, "bits": 4, "group_size": 128}
    (folder / "config.json").write_text(json.dumps({**LLAMA_8B, "quantization_config": qc}))
    write_safetensors(folder / "model.safetensors", {"w": ("F32", (4,))})
    return folder


def test_declared_parameters_is_a_lower_bound() -> None:
    # Llama 3.1 8B has 8.03 billion parameters; the bound (embeddings once, a two-matrix MLP) stays under it
    declared = declared_parameters(LLAMA_8B)
    assert declared is not None and 4.5e9 < declared < 8.03e9
    assert declared_parameters({"hidden_size": 4096}) is None  # no shape, no judgement
    # the test folders of every format hold at least the bound
    config = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 1000}  # fmt: skip
    bound = declared_parameters(config)
    assert bound is not None and bound <= EXPECTED_PARAMS


@pytest.mark.parametrize("method", ["gptq", "awq", "exl2"])
def test_a_stub_weights_file_is_an_incomplete_folder(tmp_path: Path, method: str) -> None:
    folder = stub_folder(tmp_path, method)
    assert (folder / "model.safetensors").stat().st_size < 200
    with pytest.raises(IncompleteModelFolderError) as err:
        inspect_model(folder)
    msg = err.value.message
    assert msg.startswith(f"{folder.name} is incomplete: its config.json describes a model of at least ")
    assert "billion parameters" in msg and "hold only 4." in msg and "model.safetensors" in msg
    assert "Download the model's weight files" in err.value.fix


@pytest.mark.parametrize("fmt", ["gptq", "awq", "exl2", None])
def test_complete_folders_still_read(tmp_path: Path, fmt: str | None) -> None:
    qc = {"quant_method": fmt, "bits": 4, "group_size": 128} if fmt else None
    profile = inspect_model(make_folder(tmp_path, fmt or "safetensors", qc))
    assert profile.parameters >= declared_parameters(json.loads((Path(profile.path) / "config.json").read_text()))


def test_the_window_says_the_folder_is_incomplete(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path)
    window.state.hardware = what_if("GeForce RTX 4060")
    folder = stub_folder(tmp_path)
    with qtbot.waitSignal(window.state.error, timeout=30_000):
        window.state.open_model(str(folder))
    qtbot.waitUntil(lambda: not window.state.busy)
    assert window.banner.isVisible()
    assert "is incomplete" in window.banner.text and "weight files (.safetensors) again" in window.banner.text
    assert window.state.profile is None and window.state.diagnosis is None  # no clean bill for it


def test_a_complete_folder_after_a_stub_gets_a_diagnosis(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path)
    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(folder)))
    assert window.state.profile is not None and window.state.profile.format == "gptq"
