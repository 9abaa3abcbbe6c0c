"""Read a GGUF file's header on the Hub without downloading the file.

The header (metadata and tensor directory) sits at the start of the file: fetch its first bytes with
an HTTP Range request, lay them at the start of a sparse local file as long as the real one, and let
the bounded reader (core.model.gguf_reader, through core.model.gguf_profile) read it as if it were the file. If the
header is longer than what was fetched (big vocabularies), fetch more. Gives the real quant census,
expert count and imatrix dataset of a candidate before anyone downloads gigabytes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from core import net
from core.errors import HubError, ModelFileError
from core.hub import _client
from core.model.gguf_profile import read_gguf_profile
from core.model.gguf_reader import read_gguf_header
from core.model.profile import ModelProfile

FIRST_BYTES = 1 << 20
MAX_BYTES = 64 << 20


def _fetch_head(location: str, n: int, size: int, timeout: float) -> bytes:
    """The first `n` bytes of the file, through the door (the token only to the Hub's own origin)."""
    headers = {**_client.headers_for(location), "Range": f"bytes=0-{n - 1}"}
    out = bytearray()
    with net.stream("GET", location, headers=headers, max_bytes=size, timeout=timeout, decode=False) as response:
        _client.raise_for_status(net.Reply(response.url, response.status, response.headers, b""))
        for chunk in response.chunks():
            out += chunk
            if len(out) >= n:  # a server that ignores Range sends the whole file: stop reading
                break
    return bytes(out[:n])


def peek_gguf(repo_id: str, filename: str, revision: str | None = None, timeout: float | None = None,
              first_bytes: int = FIRST_BYTES, max_bytes: int = MAX_BYTES) -> ModelProfile:  # fmt: skip
    """The `ModelProfile` of a GGUF file on the Hub, from its header alone (one or a few Range requests).

    For a split model, pass the first part: the census then covers that part's tensors.
    """
    what = f"read the header of {filename} in {repo_id}"
    _client.ensure_online(what)
    limit = timeout if timeout is not None else _client.metadata_timeout()
    with _client.translated(what, repo_id, filename):
        meta = _client.file_metadata(repo_id, filename, revision, limit)
        size = meta.size
        if not size:
            raise HubError(f"Could not {what}: the Hub did not say how big the file is.")
        n = min(first_bytes, size)
        with tempfile.TemporaryDirectory(prefix="quantdoctor-peek-") as tmp:
            local = Path(tmp) / "peek.gguf"  # not a split-part name: the reader must not look for shards
            while True:
                head = _fetch_head(meta.location, n, size, limit)
                with open(local, "wb") as f:
                    f.write(head)
                    f.truncate(size)  # sparse: the tensor data is a hole
                try:
                    header = read_gguf_header(local)
                    if header.data_offset <= len(head) or len(head) >= size:
                        profile = read_gguf_profile(local)
                        break
                except ModelFileError:
                    if len(head) >= size or n >= max_bytes:
                        raise
                if n >= max_bytes or n >= size:
                    raise HubError(f"Could not {what}: its header is longer than {max_bytes >> 20} MB.")
                n = min(n * 4, max_bytes, size)
    profile.path = f"{repo_id}/{filename}"
    profile.files = [profile.path]
    profile.notes.append(f"Read from the header on the Hub ({len(head):,} of {size:,} bytes fetched).")
    return profile
