"""EXL2 / GPTQ / AWQ folders: quantization config, measured bits per weight, the model card, and
folders that are broken or point outside themselves."""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path

import pytest
from foldermaker import CARD, EXPECTED_PARAMS, N_LAYER, D, make_folder, write_safetensors

from core import errors
from core.cli.main import main
from core.model.inspection import inspect_model


def test_gptq_folder(tmp_path, unchanged):
    qc = {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": True, "dataset": "wikitext2"}
    folder = make_folder(tmp_path, "gptq", qc, CARD)
    unchanged(*folder.iterdir())
    p = inspect_model(folder)
    assert p.format == "gptq"
    assert p.nominal_type == "GPTQ 4-bit g128"
    assert p.quantization is not None
    assert (p.quantization.bits, p.quantization.group_size, p.quantization.desc_act) == (4.0, 128, True)
    assert p.quantization.dataset == "wikitext2"
    assert p.parameters == EXPECTED_PARAMS
    # 4 bits + a 16-bit scale and a packed zero per 128 weights + a 32-bit g_idx per input row
    attn = (D * D // 2 + 2 * D // 2 + 2 * D * 2 + D * 4) * 8 / (D * D)
    assert p.bpw_by_role["attention"] == pytest.approx(attn)
    assert 4.2 < p.bpw_by_role["feed_forward"] < 4.5
    assert p.bpw_by_role["embeddings"] == pytest.approx(16.0)
    assert p.card is not None
    assert p.card.base_model == ["Qwen/Qwen3-8B"] and p.card.base_model_relation == "quantized"
    assert p.card.language == ["en", "fr"] and p.card.datasets == ["wikitext"]
    assert p.base_models[0].repo_url.endswith("Qwen/Qwen3-8B")
    assert p.has_chat_template
    assert (p.block_count, p.head_count, p.head_count_kv, p.key_length) == (N_LAYER, 4, 2, 64)


def test_awq_folder_without_dataset(tmp_path, capsys):
    qc = {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True}
    folder = make_folder(tmp_path, "awq", qc, chat=False)
    assert main(["inspect", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "awq"
    assert data["quantization"]["dataset"] is None  # AWQ records none: the default is pileval
    assert data["parameters"] == EXPECTED_PARAMS
    assert data["has_chat_template"] is False


def test_exl2_folder(tmp_path):
    qc = {"quant_method": "exl2", "version": "0.2.4", "bits": 4.65, "head_bits": 6,
          "calibration": {"rows": 115, "length": 2048, "dataset": "(default)"}}  # fmt: skip
    folder = make_folder(tmp_path, "exl2", qc)
    p = inspect_model(folder / "config.json")
    assert p.format == "exl2"
    assert p.nominal_type == "EXL2 4.65 bpw"
    assert p.quantization.head_bits == 6.0
    assert p.quantization.dataset == "(default)"
    assert p.parameters == EXPECTED_PARAMS


def test_old_autogptq_quantize_config(tmp_path):
    folder = make_folder(tmp_path, "gptq", None)
    (folder / "quantize_config.json").write_text(json.dumps({"bits": 3, "group_size": 64, "desc_act": False}))
    p = inspect_model(folder)
    assert p.format == "gptq" and p.quantization.bits == 3.0 and p.quantization.group_size == 64


def _sharded(tmp_path: Path, weight_map: dict[str, str]) -> Path:
    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


def test_sharded_folder_index(tmp_path):
    folder = _sharded(tmp_path, {"model.embed_tokens.weight": "model-00001-of-00001.safetensors"})
    assert inspect_model(folder).parameters == EXPECTED_PARAMS


class OpenRecorder:
    """Records every file Python opens (an audit hook), to prove nothing outside the folder is read."""

    active = False
    paths: list[str] = []  # noqa: RUF012

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if cls.active and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            cls.paths.append(os.fsdecode(args[0]))


sys.addaudithook(OpenRecorder.hook)


@pytest.mark.parametrize("target", ["../secret.safetensors", "/etc/passwd", "sub/../../secret.safetensors"])
def test_weight_map_outside_folder_is_refused(tmp_path, target):
    secret = write_safetensors(tmp_path / "secret.safetensors", {"x": ("F16", (4,))})
    folder = _sharded(tmp_path, {"model.embed_tokens.weight": target})
    OpenRecorder.paths.clear()
    OpenRecorder.active = True
    try:
        with pytest.raises(errors.ModelFolderError, match="outside the model folder"):
            inspect_model(folder)
    finally:
        OpenRecorder.active = False
    opened = [Path(p).resolve() for p in OpenRecorder.paths]
    assert opened, "the audit hook saw no opens at all"
    assert all(folder.resolve() in p.parents for p in opened), opened
    assert secret.resolve() not in opened


def test_missing_weight_file(tmp_path):
    folder = _sharded(tmp_path, {"a": "model-00001-of-00001.safetensors", "b": "model-00002-of-00002.safetensors"})
    with pytest.raises(errors.ModelFolderError, match="1 is missing: model-00002-of-00002"):
        inspect_model(folder)


def test_safetensors_header_bigger_than_file(tmp_path):
    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
    st = folder / "model.safetensors"
    with open(st, "r+b") as f:
        f.write(struct.pack("<Q", 50_000_000))
        f.truncate(4096)
    with pytest.raises(errors.IncompleteFileError, match="needs 50,000,008 bytes, has 4,096"):
        inspect_model(folder)


def test_safetensors_header_over_the_cap(tmp_path):
    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
    with open(folder / "model.safetensors", "r+b") as f:
        f.write(struct.pack("<Q", 200 * 1024 * 1024))
        f.truncate(210 * 1024 * 1024)  # sparse: the file is long enough, the header too big to read
    with pytest.raises(errors.ModelFolderError, match="reads up to 24 MB"):
        inspect_model(folder)


def test_safetensors_header_not_json(tmp_path):
    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
    with open(folder / "model.safetensors", "r+b") as f:
        f.seek(8)
        f.write(b"\xff\xfe not json")
    with pytest.raises(errors.ModelFolderError, match="not valid JSON"):
        inspect_model(folder)


def test_safetensors_tensor_past_the_end(tmp_path):
    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
    st = folder / "model.safetensors"
    with open(st, "r+b") as f:
        f.truncate(st.stat().st_size - 100)
    with pytest.raises(errors.IncompleteFileError, match="incomplete download"):
        inspect_model(folder)


def test_config_missing(tmp_path):
    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4})
    (folder / "config.json").unlink()
    with pytest.raises(errors.ModelFolderError, match=r"no config\.json"):
        inspect_model(folder)


def test_config_invalid(tmp_path, capsys):
    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4})
    (folder / "config.json").write_text('{"model_type": "llama",')
    assert main(["inspect", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "config.json is not valid JSON" in err and "Traceback" not in err


def test_config_of_2_gb_is_not_read(tmp_path):
    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4})
    with open(folder / "config.json", "r+b") as f:
        f.truncate(2 * 1024**3)  # sparse: costs no disk
    with pytest.raises(errors.ModelFolderError, match="2,147,483,648 bytes"):
        inspect_model(folder)


def test_folder_with_several_ggufs_asks_for_one(tmp_path):
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    (tmp_path / "b.gguf").write_bytes(b"GGUF")
    with pytest.raises(errors.ModelFolderError, match="2 GGUF files"):
        inspect_model(tmp_path)
