"""Models already on disk: LM Studio folders, Ollama blobs named from manifests, the HF cache."""

from __future__ import annotations

import json
import shutil

from core.model.discovery import default_locations, discover_models


def test_finds_models_in_the_usual_places(demo, tmp_path, monkeypatch):
    for var in ("HF_HOME", "HF_HUB_CACHE", "OLLAMA_MODELS", "LLAMA_CACHE"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path
    lms = home / ".lmstudio" / "models" / "bartowski" / "SmolLM2-GGUF"
    lms.mkdir(parents=True)
    shutil.copy(demo.candidates["Q4_0"], lms / "smol-Q4_0.gguf")
    (lms / "mmproj-smol-f16.gguf").write_bytes(b"GGUF")  # a vision projector, not a model
    (lms / "smol-00002-of-00002.gguf").write_bytes(b"GGUF")  # later shards are found through part 1

    ollama = home / ".ollama" / "models"
    digest = "sha256-" + "ab" * 32
    (ollama / "blobs").mkdir(parents=True)
    shutil.copy(demo.candidates["Q2_0"], ollama / "blobs" / digest)
    manifest = ollama / "manifests" / "registry.ollama.ai" / "library" / "smollm2" / "135m"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [
        {"mediaType": "application/vnd.ollama.image.model", "digest": digest.replace("-", ":", 1)},
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:00"},
    ]}))  # fmt: skip

    snap = home / ".cache" / "huggingface" / "hub" / "models--HuggingFaceTB--SmolLM2-GGUF" / "snapshots" / "abc"
    blobs = snap.parents[1] / "blobs"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    shutil.copy(demo.reference, blobs / "deadbeef")
    (snap / "smol-Q4_1.gguf").symlink_to(blobs / "deadbeef")

    found = {(m.source, m.name): m for m in discover_models(default_locations(home))}
    assert set(found) == {
        ("LM Studio", "bartowski/SmolLM2-GGUF/smol-Q4_0.gguf"),
        ("Ollama", "smollm2:135m"),
        ("Hugging Face cache", "HuggingFaceTB/SmolLM2-GGUF/smol-Q4_1.gguf"),
    }
    assert found[("Ollama", "smollm2:135m")].size == demo.candidates["Q2_0"].stat().st_size


def test_nothing_there_is_an_empty_list(tmp_path):
    assert discover_models(default_locations(tmp_path)) == []


def test_environment_overrides_are_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "elsewhere"))
    assert default_locations(tmp_path)["Ollama"][0] == tmp_path / "elsewhere"
