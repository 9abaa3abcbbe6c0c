"""The reference-logit cache key, the file fingerprint, and the vocabulary read from GGUF headers."""

from __future__ import annotations

import os
import time

import pytest

from core.evaluation import refcache
from core.evaluation.identity import file_fingerprint, vocab_of
from core.paths import CACHE_ENV
from core.settings.run import RunSettings


def _key(**changes: object) -> refcache.CacheKey:
    base: dict[str, object] = {
        "model_fingerprint": "m", "text_sha256": refcache.text_sha256("text"),
        "settings": refcache.logit_settings(RunSettings(n_threads=2).to_dict()), "chunk": 512, "max_chunks": 0,
        "top_k": 64, "tail_samples": 64,
    }  # fmt: skip
    base.update(changes)
    return refcache.CacheKey(**base)  # type: ignore[arg-type]


def test_the_key_changes_with_everything_that_changes_the_logits_and_nothing_else():
    k = _key().digest()
    assert _key().digest() == k
    assert _key(model_fingerprint="other").digest() != k
    assert _key(text_sha256=refcache.text_sha256("text.")).digest() != k
    assert _key(settings=refcache.logit_settings(RunSettings().with_cache("q8_0").to_dict())).digest() != k
    assert _key(chunk=256).digest() != k and _key(top_k=128).digest() != k
    # threads and the loading context do not change a chunk's logits: the cache is shared across them
    same = refcache.logit_settings(RunSettings(n_threads=7, n_ctx=8192).to_dict())
    assert _key(settings=same).digest() == k


def test_lookup_drops_unreadable_files_and_old_partial_ones(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    key = _key()
    path = refcache.path_for(key)
    path.write_bytes(b"not an npz")
    assert refcache.lookup(key) is None and not path.exists()
    stale = refcache.cache_folder() / "x.npz.123.part.npz"
    stale.write_bytes(b"")
    old = time.time() - 2 * refcache.STALE_PART_S
    os.utime(stale, (old, old))
    refcache.cache_folder()
    assert not stale.exists()


def test_fingerprints_and_vocabulary_of_the_demo_models(demo):
    ref, q4 = demo.reference, demo.candidates["Q4_0"]
    assert file_fingerprint(ref) == file_fingerprint(ref)
    assert file_fingerprint(ref) != file_fingerprint(q4)
    v = vocab_of(ref)
    assert v.n_tokens == 49152 and v.model == "gpt2"
    assert v.bos_text == "<|im_start|>" and v.add_bos is False
    assert vocab_of(q4).same_as(v)


def test_not_a_gguf_is_a_model_file_error(tmp_path):
    from core.errors import ModelFileError

    page = tmp_path / "model.gguf"
    page.write_text("<!doctype html><html>Sign in</html>")
    with pytest.raises(ModelFileError, match="web page"):
        vocab_of(page)
