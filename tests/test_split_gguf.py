"""Split GGUFs: every shard found from any one of them, or the missing one named."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from core.errors import MissingShardError
from core.model.inspection import inspect_model


def write_split(folder, n_shards=3):
    w = gguf.GGUFWriter(folder / "tiny.gguf", "llama", split_max_tensors=2)
    w.add_block_count(2 * n_shards)  # a layer per tensor: the shape must match the tensors (core.model.shape_check)
    w.add_embedding_length(64)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_name("Tiny Split")
    rng = np.random.default_rng(0)
    for i in range(2 * n_shards):
        w.add_tensor(f"blk.{i}.ffn_up.weight", rng.standard_normal((64, 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return sorted(folder.glob("tiny-*-of-*.gguf"))


def test_split_model_is_read_whole_from_any_shard(tmp_path, unchanged):
    shards = write_split(tmp_path)
    assert [s.name for s in shards] == [f"tiny-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    unchanged(*shards)
    for shard in shards:
        p = inspect_model(shard)
        assert p.files == [str(s) for s in shards]
        assert p.parameters == 6 * 64 * 64
        assert p.file_size == sum(s.stat().st_size for s in shards)
        assert p.effective_bpw == pytest.approx(32.0)
        assert p.name == "Tiny Split"


def test_missing_shard_is_named(tmp_path):
    shards = write_split(tmp_path)
    shards[1].unlink()
    with pytest.raises(MissingShardError) as info:
        inspect_model(shards[0])
    assert "tiny-00002-of-00003.gguf" in info.value.message
    assert "2 of a model split into 3" not in info.value.message  # it names the part we opened, 1
    assert "part 1 of a model split into 3 files" in info.value.message


def test_renamed_shard_cannot_find_its_siblings(tmp_path):
    shards = write_split(tmp_path)
    lone = shards[0].rename(tmp_path / "renamed.gguf")
    with pytest.raises(MissingShardError, match="split into 3"):
        inspect_model(lone)
