"""A model profile in plain words, for the terminal and the placeholder window alike."""

from __future__ import annotations

from core.display_text import one_line
from core.model.profile import ModelProfile


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_count(n: int) -> str:
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f}{suffix}"
    return str(n)


def profile_summary(p: ModelProfile) -> str:
    lines = [
        f"{p.display_name}",
        f"  file          {p.path} ({human_bytes(p.file_size)}"
        + (f", {len(p.files)} parts" if len(p.files) > 1 else "")
        + ")",
        f"  format        {p.format.upper()}, architecture {p.architecture or 'unknown'}",
        f"  parameters    {human_count(p.parameters)} ({p.parameters:,})",
        f"  quantization  {p.nominal_type or 'unknown'} nominal, {p.effective_bpw:.2f} bits per weight measured",
    ]
    if p.basename or p.finetune:
        lines.append(f"  model         basename {p.basename or '-'}, fine-tune {p.finetune or '-'}")
    for b in p.base_models:
        lines.append(f"  base model    {b.name or '-'} {('(' + b.repo_url + ')') if b.repo_url else ''}".rstrip())
    shape = [
        f"{p.block_count} layers" if p.block_count else None,
        f"width {p.embedding_length}" if p.embedding_length else None,
        f"{p.head_count}/{p.head_count_kv} heads (q/kv)" if p.head_count else None,
        f"context {p.context_length:,}" if p.context_length else None,
        f"vocabulary {p.vocab_size:,}" if p.vocab_size else None,
    ]
    lines.append("  shape         " + ", ".join(s for s in shape if s))
    if p.is_moe:
        lines.append(
            f"  experts       {p.expert_count} ({p.expert_used_count} used per token"
            + (f", {p.expert_shared_count} shared" if p.expert_shared_count else "")
            + ")"
        )
    lines.append(f"  chat template {'yes' if p.has_chat_template else 'no'}")
    lines.append(f"  embeddings    {p.embedding_fraction:.1%} of parameters in embeddings + output")
    if p.imatrix:
        lines.append(
            f"  imatrix       {p.imatrix.dataset or p.imatrix.file or 'yes'} ({p.imatrix.chunks or '?'} chunks)"
        )
    if p.quantization:
        q = p.quantization
        lines.append(
            f"  quant config  {q.quant_method} bits={q.bits} group={q.group_size} dataset={q.dataset or '(none given)'}"
        )
    lines.append("  storage types (share of bytes):")
    total = sum(t.bytes for t in p.tensor_types) or 1
    for t in p.tensor_types:
        tid = f" (type {t.type_id})" if t.type_id is not None else ""
        lines.append(
            f"    {t.type + tid:<18} {t.tensors:>5} tensors {human_count(t.parameters):>8} params "
            f"{t.bpw:6.2f} bpw {t.bytes / total:6.1%}"
        )
    if p.bpw_by_role:
        lines.append("  bits per weight by role: " + ", ".join(f"{r} {b:.2f}" for r, b in p.bpw_by_role.items()))
    lines.extend(f"  note: {n}" for n in p.notes)
    return "\n".join(one_line(line) for line in lines)  # a value's own newline cannot start a line
