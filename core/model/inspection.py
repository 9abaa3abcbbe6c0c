"""Open whatever the person picked (a .gguf, a shard, a model folder) as a `ModelProfile`.

The single entry point for reading models. Nothing here writes: files are opened read-only.
"""

from __future__ import annotations

import os
import stat

from core.errors import ModelFolderError, NotAModelFileError
from core.files import folder_names, stat_path, user_path
from core.model.folder_profile import read_folder_profile
from core.model.gguf_profile import read_gguf_profile
from core.model.profile import ModelProfile


def inspect_model(path: str | os.PathLike[str]) -> ModelProfile:
    p = user_path(path, NotAModelFileError)
    st = stat_path(p, "a model file", NotAModelFileError)
    if stat.S_ISDIR(st.st_mode):
        names = folder_names(p, "a model folder", ModelFolderError)  # no read or search permission: said plainly
        if "config.json" in names:
            return read_folder_profile(p)
        ggufs = [p / n for n in names if n.endswith(".gguf")]
        if len(ggufs) == 1:
            return read_gguf_profile(ggufs[0])
        if ggufs:
            raise ModelFolderError(
                f"{p.name} holds {len(ggufs)} GGUF files; Quant Doctor inspects one model at a time.",
                "Open one of them: " + ", ".join(g.name for g in ggufs[:4]) + (" ..." if len(ggufs) > 4 else ""),
            )
        return read_folder_profile(p)  # explains what is missing
    if p.name == "config.json" or p.suffix == ".safetensors":
        return read_folder_profile(p.parent)
    return read_gguf_profile(p)
