"""Copy a real GGUF with some metadata changed (after gguf-py's scripts/gguf_new_metadata.py).

The engine-log tests need llama.cpp's own warnings, which only a file with the defect triggers: a
model with no `tokenizer.ggml.pre`, or one that adds a BOS token to every prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf

_HEADER = ("GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture")


def copy_gguf(src: Path, dst: Path, drop: tuple[str, ...] = (), set_values: dict[str, Any] | None = None) -> Path:
    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dst, arch=arch, endianess=reader.endianess)
    changes = dict(set_values or {})
    for name, f in reader.fields.items():
        if name in _HEADER or name in drop:
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = changes.pop(name, f.contents())
        writer.add_key_value(name, value, vtype, sub_type=sub)
    for name, value in changes.items():
        writer.add_key_value(name, value, gguf.GGUFValueType.get_type(value))
    for t in reader.tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.n_bytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        writer.write_tensor_data(t.data)
    writer.close()
    return dst
